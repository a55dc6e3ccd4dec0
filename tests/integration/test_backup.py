"""`qyzmet backup FILE`: a copy taken while the database is being written restores to a database that opens and
holds the data; a failed or refused backup leaves nothing behind. SQLite-specific (its online backup), whatever
the suite's engine: the files are named here; a PostgreSQL database is refused with a pointer to pg_dump."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
import time

import pytest

from store.opening import open_database
from tests.integration.test_cli import ROOT, SEED, qyzmet


def _env(tmp_path, name: str = "live.sqlite3") -> dict[str, str]:
    return {"QYZMET_DATABASE": str(tmp_path / name), "QYZMET_SECRET_KEY": "k", "PYTHONPATH": str(ROOT)}


class Writer(threading.Thread):
    """Another connection that keeps writing (as the running bot does), one small transaction at a time."""

    def __init__(self, path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.written = 0

    def run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        while not self.stop.is_set():
            n = self.written
            conn.execute("INSERT INTO audit_log (at, actor, action, number, details) VALUES (?, ?, ?, ?, ?)",
                         ("2026-11-30T10:00:00+00:00", "test", "write", f"row-{n}", "x" * 200))
            conn.commit()
            self.written += 1
        conn.close()


async def test_a_backup_taken_during_writes_restores_to_a_working_database(tmp_path):
    env = _env(tmp_path)
    assert qyzmet("seed", str(SEED), cwd=tmp_path, env=env).returncode == 0
    writer = Writer(tmp_path / "live.sqlite3")
    writer.start()
    try:
        deadline = time.monotonic() + 20
        while writer.written < 50:
            assert writer.is_alive() and time.monotonic() < deadline
            await asyncio.sleep(0.01)
        before = writer.written
        result = qyzmet("backup", "copy.sqlite3", cwd=tmp_path, env=env)
        during = writer.written
    finally:
        writer.stop.set()
        writer.join()
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "copy.sqlite3") in result.stdout and "integrity ok" in result.stdout
    assert during > before  # the bot's writes went on while the copy was made
    assert not list(tmp_path.glob(".copy.sqlite3*"))  # no partial file left

    # Restore as the README says: the bot stopped, the copy put in place of the database.
    shutil.copy(tmp_path / "copy.sqlite3", tmp_path / "restored.sqlite3")
    database = await open_database(tmp_path / "restored.sqlite3")
    try:
        assert await database.fetchval("PRAGMA integrity_check") == "ok"
        assert await database.fetchval("SELECT count(*) FROM citizens") == 5
        rows = await database.fetchval("SELECT count(*) FROM audit_log WHERE action = 'write'")
        assert 50 <= rows <= writer.written
        async with database.unit("test/write"):  # and it takes writes again
            await database.write("INSERT INTO audit_log (at, actor, action) VALUES ('2026-12-01', 'test', 'after')")
    finally:
        await database.close()
    listed = qyzmet("operators", "list", cwd=tmp_path, env=_env(tmp_path, "restored.sqlite3"))
    assert listed.returncode == 0, listed.stderr


def test_backup_refuses_to_overwrite_and_a_missing_database(tmp_path):
    env = _env(tmp_path)
    assert qyzmet("seed", str(SEED), cwd=tmp_path, env=env).returncode == 0
    (tmp_path / "exists.sqlite3").write_text("keep me", encoding="utf-8")
    refused = qyzmet("backup", "exists.sqlite3", cwd=tmp_path, env=env)
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert (tmp_path / "exists.sqlite3").read_text(encoding="utf-8") == "keep me"
    assert qyzmet("backup", "exists.sqlite3", "--force", cwd=tmp_path, env=env).returncode == 0
    with sqlite3.connect(tmp_path / "exists.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM citizens").fetchone()[0] == 5
    missing = qyzmet("backup", "b.sqlite3", cwd=tmp_path, env=_env(tmp_path, "nothing-here.sqlite3"))
    assert missing.returncode == 1 and "QYZMET_DATABASE" in missing.stderr
    assert not (tmp_path / "nothing-here.sqlite3").exists() and not (tmp_path / "b.sqlite3").exists()


def test_a_postgresql_database_is_refused_with_a_pointer_to_pg_dump(tmp_path):
    env = {**_env(tmp_path), "QYZMET_DATABASE": "postgresql://qyzmet:s3cret@127.0.0.1:5432/qyzmet"}
    result = qyzmet("backup", "copy.dump", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "PostgreSQL" in result.stderr and "pg_dump" in result.stderr and "copy.dump" in result.stderr
    assert "postgresql://qyzmet:***@127.0.0.1:5432/qyzmet" in result.stderr
    assert "s3cret" not in result.stdout + result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "copy.dump").exists()


def test_a_backup_into_a_missing_folder_or_under_a_file_says_which(tmp_path):
    env = _env(tmp_path)
    assert qyzmet("seed", str(SEED), cwd=tmp_path, env=env).returncode == 0
    missing = qyzmet("backup", "no/such/dir/b.sqlite3", cwd=tmp_path, env=env)
    assert missing.returncode == 1 and "does not exist" in missing.stderr, missing.stderr
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    under_file = qyzmet("backup", "a-file/b.sqlite3", cwd=tmp_path, env=env)
    assert under_file.returncode == 1 and "is a file, not a folder" in under_file.stderr, under_file.stderr


@pytest.mark.parametrize("command", [("migrate",), ("seed", str(SEED)), ("run",)])
def test_a_database_path_under_a_file_is_said_plainly(tmp_path, command):
    """Not "secret.key cannot be used: File exists": the file standing where a folder should be is named."""
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    env = {**_env(tmp_path, "a-file/db.sqlite3"), "QYZMET_SMS_GATEWAY": "print", "QYZMET_TELEGRAM_TOKEN": "1:x"}
    result = qyzmet(*command, cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    assert f"QYZMET_DATABASE: {tmp_path / 'a-file'} is a file, not a folder" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "File exists" not in result.stderr
