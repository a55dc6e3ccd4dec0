"""Long `seed` and `import` runs show their progress on a terminal, and nothing of it in a log or a pipe."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

from bench.synth import people, write_seed
from tests.integration.test_cli import db_env, qyzmet


def on_a_terminal(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run the command with stderr on a pseudo-terminal; returns the exit code and what the terminal showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal has a size
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QYZMET_")}
    proc = subprocess.Popen([sys.executable, "-m", "bot.app.cli", *args], cwd=cwd, env={**clean, **env},
                            stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return proc.wait(timeout=60), shown.decode(errors="replace")


def test_seed_and_import_show_progress_on_a_terminal_only(tmp_path, database):
    seed = tmp_path / "many.json"
    persons = people(400)
    write_seed(seed, persons)
    env = db_env(database)
    code, shown = on_a_terminal("seed", str(seed), cwd=tmp_path, env=env)
    assert code == 0, shown
    assert "records" in shown and "%" in shown  # the bar, with its unit

    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps({
        "number": f"MIS-{i:05d}", "iin": p.iin, "service": "drug_provision", "status": "accepted",
        "at": "2026-11-25T10:00:00+05:00"}) for i, p in enumerate(persons[:300])), encoding="utf-8")
    code, shown = on_a_terminal("import", str(events), cwd=tmp_path, env=env)
    assert code == 0, shown
    assert "lines" in shown and "%" in shown

    piped = qyzmet("import", str(events), cwd=tmp_path, env=env)  # again, through a pipe: no bar
    assert piped.returncode == 0 and "duplicate: 300" in piped.stdout
    assert "%|" not in piped.stderr
