"""`qyzmet backup FILE`: a consistent copy of the SQLite database, safe to take while the bot runs.

SQLite's online backup API copies the database as one read transaction sees it; in WAL mode a reader never
blocks the bot's writers, so the bot keeps working while the copy is made. The copy is written next to FILE
under a temporary name, checked (``PRAGMA integrity_check``), switched to a self-contained file (no -wal), and
only then renamed to FILE: a failed backup never leaves a half-written FILE behind.

Restore (README, "Backups"): stop the bot, copy FILE over the database file (removing its -wal and -shm
files), start the bot.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path


class BackupError(Exception):
    """The backup could not be made; the message says why and what to do."""


def backup(source: Path, target: Path, overwrite: bool = False) -> tuple[int, int]:
    """Copy the database ``source`` to ``target``; returns (pages, bytes) of the copy."""
    if not source.is_file():
        raise BackupError(f"QYZMET_DATABASE: there is no database at {source}")
    target = target.expanduser().resolve()
    if target == source.resolve():
        raise BackupError("the backup file is the database itself: choose another file")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists: choose a new file, or add --force to replace it")
    if not target.parent.exists():
        raise BackupError(f"the folder {target.parent} does not exist: create it first, or choose another path")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is a file, not a folder: choose another path")
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        src = sqlite3.connect(str(source), timeout=30)
        try:
            dst = sqlite3.connect(str(partial))
            try:
                src.backup(dst)  # in one step: one consistent read of the whole database
            finally:
                dst.close()
        finally:
            src.close()
        partial.chmod(0o600)  # personal data: readable by the bot's user only
        check = sqlite3.connect(str(partial))
        try:
            result = check.execute("PRAGMA integrity_check").fetchone()[0]
            if result != "ok":
                raise BackupError(f"the copy failed its integrity check ({result}); nothing was written to {target}")
            check.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            pages = check.execute("PRAGMA page_count").fetchone()[0]
            size = pages * check.execute("PRAGMA page_size").fetchone()[0]
        finally:
            check.close()
        os.replace(partial, target)
        return pages, size
    except sqlite3.Error as exc:
        raise BackupError(f"backup of {source} failed: {exc}") from None
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        for leftover in (partial, partial.with_name(partial.name + "-wal"), partial.with_name(partial.name + "-shm"),
                         partial.with_name(partial.name + "-journal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
