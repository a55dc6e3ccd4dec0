"""What a deployer installs: the package (dependencies, data files, version), the changelog and the container
recipe. The Dockerfile is checked as text here; scripts/deploy_test.sh builds and runs it with both compose files."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from bot import __version__
from bot.i18n import LOCALES_DIR

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SOURCES = [p for folder in ("bot", "handlers", "store", "bench") for p in (ROOT / folder).rglob("*.py")]


def test_no_dependency_that_nothing_imports():
    ptb = next(d for d in PYPROJECT["project"]["dependencies"] if d.startswith("python-telegram-bot"))
    assert "rate-limiter" not in ptb  # it installs aiolimiter; the bot's limiter is bot/gateways/telegram_rate_limit.py
    assert not [p for p in SOURCES if re.search(r"^\s*(import|from)\s+aiolimiter", p.read_text(), re.M)]


def test_a_plain_install_carries_the_catalogs():
    """bot/i18n.py reads the catalogs next to the bot package: `pip install .` (the container) must put them there."""
    assert LOCALES_DIR == ROOT / "locales"
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert "locales*" in setuptools["packages"]["find"]["include"]
    for folder in sorted({p.parent for p in LOCALES_DIR.rglob("*.po")}):
        package = ".".join(folder.relative_to(ROOT).parts)
        assert "*.po" in setuptools["package-data"].get(package, []), package


def test_one_version_for_the_package_the_command_and_the_changelog():
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "bot.__version__"}
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog and f"## [{__version__}]" in changelog


def test_the_dockerfile_runs_the_console_script_as_a_user_with_a_health_check():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in dockerfile.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == "ARG BASE=python:3.11-slim" and lines[1] == "FROM ${BASE}"
    assert any(line.startswith("RUN if") and "pip install ." in line for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    # No ENTRYPOINT: compose's `command: ["qyzmet", "migrate"]` (and `docker exec … qyzmet seed`) is the whole argv.
    assert not any(line.startswith("ENTRYPOINT") for line in lines)
    assert lines[-1] == 'CMD ["qyzmet", "run"]'
    compose = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    commands = re.findall(r"^\s+command: \[\"qyzmet\", \"(\w+)\"\]", compose, re.M)
    assert commands == ["migrate", "web", "worker"], commands
    health = dockerfile[dockerfile.index("HEALTHCHECK"):]
    assert "/health" in health.split("\n\n")[0]
    for copied in ("bot", "handlers", "store", "locales"):  # every package the wheel is built from
        assert any(line.startswith(f"COPY {copied} ") for line in lines), copied
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for private in (".git", ".venv", "var", ".env", "*.sqlite3*", "secret.key"):
        assert private in ignored, private
