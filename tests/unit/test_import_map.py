"""The map of the house (pyproject.toml, [tool.importlinter]) holds, and no module imports itself back through
others — counting the imports made inside functions too, so that none of them hides a cycle."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "store")


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), i.e. the import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(module: str) -> None:
        nonlocal counter
        index[module] = low[module] = counter
        counter += 1
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_back():
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert _cycles(graph) == []


def test_breaking_the_map_fails_the_lint(tmp_path):
    """A core module that imports a channel (handlers) is refused by `lint-imports`, as `make lint` runs it."""
    copy = tmp_path / "tree"
    copy.mkdir()
    for name in (*PACKAGES, "pyproject.toml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, copy / name)
    lint = [str(Path(sys.executable).parent / "lint-imports"), "--config", "pyproject.toml", "--no-cache"]
    kept = subprocess.run(lint, cwd=copy, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})
    assert kept.returncode == 0, kept.stdout + kept.stderr
    (copy / "bot" / "core" / "health.py").write_text(
        (copy / "bot" / "core" / "health.py").read_text(encoding="utf-8") + "\nimport handlers.check_answer  # noqa\n",
        encoding="utf-8")
    broken = subprocess.run(lint, cwd=copy, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})
    assert broken.returncode != 0 and "bot.core.health" in broken.stdout, broken.stdout + broken.stderr


def test_the_core_keeps_no_markup_and_no_buttons():
    """Telegram HTML and callback data are a channel's (handlers/): the core speaks in results and keys."""
    found = subprocess.run(["grep", "-rnE", r"<b>|<i>|</|callback_data|parse_mode|InlineKeyboard", "bot/core",
                            "bot/domain"], cwd=ROOT, capture_output=True, text=True).stdout
    assert found == "", found
    # Nor a button's data: a notice names what it is about ({"application": number}), the channel its button.
    buttons = subprocess.run(["grep", "-rnE", r"f\"(app|cpv|cpf|card|idn|op|opbc):\{", "bot/core", "bot/domain"],
                             cwd=ROOT, capture_output=True, text=True).stdout
    assert buttons == "", buttons


def _lines_matching(pattern: str, *folders: str, besides: tuple[str, ...] = ()) -> list[str]:
    """The source lines of ``folders`` matching ``pattern`` (a Python regular expression), but in ``besides``."""
    import re
    found = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            if name in besides:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if re.search(pattern, line):
                    found.append(f"{name}:{number}: {line.strip()}")
    return found


def test_every_queue_leases_through_the_one_queue_module():
    """A lease is taken, renewed, given back and ended in store/leased_queue.py only: no other module writes
    ``lease_until`` in an UPDATE or locks a claim's rows (a row inserted already claimed — a turn's own envelope —
    is an INSERT, not a claim)."""
    lease_sql = r"lease_until\s*=\s*(\?|NULL)|SKIP LOCKED[\"']"  # in SQL text: a lease written, a claim's lock
    found = _lines_matching(lease_sql, "store", "bot", "handlers", besides=("store/leased_queue.py",))
    assert found == [], "\n".join(found)


def test_every_pause_that_grows_is_the_one_backoff():
    """A pause that doubles up to a bound is bot/domain/retry.py's ``backoff``: no other formula."""
    formula = r"min\(.*\*\s*2(\.0)?\b|\*=\s*2\b|2(\.0)?\s*\*\*\s*[a-z_(]"  # min(x * 2, cap); x *= 2; 2 ** n
    found = _lines_matching(formula, "store", "bot", "handlers", besides=("bot/domain/retry.py",))
    assert found == [], "\n".join(found)
