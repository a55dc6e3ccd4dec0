"""The command line as a deployer uses it: run without a token, seed twice, migrations twice (on the suite's
engine, tests/engines.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings
from bot.services import Services
from store.opening import open_database

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "tests" / "data" / "seed.json"


def qyzmet(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QYZMET_")}
    return subprocess.run([sys.executable, "-m", "bot.app.cli", *args], cwd=cwd, env={**clean, **(env or {})},
                          capture_output=True, text=True, timeout=60)


def db_env(database: str | Path, **values: str) -> dict[str, str]:
    """The environment of a `qyzmet` command on ``database`` (the ``database`` fixture: the suite's engine)."""
    return {"QYZMET_DATABASE": str(database), "QYZMET_SECRET_KEY": "test-secret-key", "PYTHONPATH": str(ROOT),
            **values}


def test_run_without_token_says_what_to_set(tmp_path):
    result = qyzmet("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "QYZMET_TELEGRAM_TOKEN" in result.stderr and "demo" in result.stderr


def test_seed_twice_is_harmless(tmp_path, database):
    env = db_env(database)
    first = qyzmet("seed", str(SEED), cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "5 citizens" in first.stdout and "2 new applications" in first.stdout
    second = qyzmet("seed", str(SEED), cwd=tmp_path, env=env)
    assert second.returncode == 0 and "0 new applications" in second.stdout


def test_seed_with_a_bad_iin_is_refused_clearly(tmp_path, database):
    bad = tmp_path / "bad.json"
    bad.write_text('{"citizens": [{"iin": "900715300452", "full_name": "A B", "birth_date": "1990-07-15",'
                   ' "address": "x", "phone": "+77051112233"}]}', encoding="utf-8")
    result = qyzmet("seed", str(bad), cwd=tmp_path, env=db_env(database))
    assert result.returncode == 1 and "iin" in result.stderr.lower()


async def test_migrations_twice_are_harmless(database):
    opened = await open_database(database)
    assert await opened.migrate() == []
    await opened.close()
    opened = await open_database(database)
    assert await opened.migrate() == []
    await opened.close()


async def test_a_sqlite_database_is_in_wal_mode(tmp_path):
    """SQLite-specific (the file's journal), whatever the suite's engine."""
    opened = await open_database(tmp_path / "m.sqlite3")
    assert await opened.fetchval("PRAGMA journal_mode") == "wal"
    await opened.close()


async def test_certificates_revoke_withdraws_a_certificate_once(tmp_path, database):
    env = db_env(database)
    assert qyzmet("seed", str(SEED), cwd=tmp_path, env=env).returncode == 0
    settings = Settings(_env_file=None, database=str(database), secret_key="test-secret-key")
    services = await Services.open(settings)
    number = json.loads(SEED.read_text(encoding="utf-8"))["applications"][0]["number"]
    async with services.db.unit("test/issue"):
        await services.certificates.record(number, "900715300451", "tb_info", "Фтизиатрия", "Иванов Сергей",
                                           datetime.now(UTC))
    await services.close()

    first = qyzmet("certificates", "revoke", number, cwd=tmp_path, env=env)
    assert first.returncode == 0 and f"{number} revoked" in first.stdout, first.stderr
    again = qyzmet("certificates", "revoke", number, cwd=tmp_path, env=env)
    assert again.returncode == 1 and "revoked already" in again.stderr
    unknown = qyzmet("certificates", "revoke", "QZ-261125-0000001", cwd=tmp_path, env=env)
    assert unknown.returncode == 1
