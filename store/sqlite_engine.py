"""SQLite (aiosqlite, WAL): the embedded engine. Two connections: the writer, which only units of work use
(one at a time: SQLite has one writer, so units take turns on an asyncio lock), and a read-only reader for
reads outside any unit, which see committed data only and never wait for the writer.

A singleton job (``try_hold``) is an exclusive ``flock`` on a file beside the database: one process of those
sharing the file holds it, and the system releases it when that process dies, as PostgreSQL does with a
session's advisory lock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiosqlite

from store.db import Database, Held, Params, Row, UnitOfWork, _refuse_newer, migrations

try:
    import fcntl
except ImportError:  # not a POSIX system: one process per database, which always holds its jobs
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


async def _wal(conn: aiosqlite.Connection) -> None:
    """Switch a new file to WAL. Two processes that open a new file at once may both hold a read lock and want
    the exclusive one: SQLite answers "locked" at once instead of waiting (it would deadlock), so try again."""
    for attempt in range(100):
        try:
            await conn.execute_fetchall("PRAGMA journal_mode=WAL")  # fetched: the statement ends here
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            await asyncio.sleep(0.05)


class SqliteDatabase(Database):
    engine = "sqlite"

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection, path: str) -> None:
        super().__init__()
        self._writer = writer
        self._reader = reader
        self.path = path
        self._write_lock = asyncio.Lock()

    @classmethod
    async def connect(cls, path: str) -> SqliteDatabase:
        in_memory = path == ":memory:"
        if not in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        writer = await aiosqlite.connect(path, isolation_level=None)
        try:
            writer.row_factory = sqlite3.Row
            for pragma in ("busy_timeout=5000", "synchronous=NORMAL", "foreign_keys=ON"):
                await writer.execute(f"PRAGMA {pragma}")
            await _wal(writer)
            # A private in-memory database has one connection: its reads outside a unit may see a unit's writes
            # in flight (a throwaway database for tools, never the bot's).
            reader = writer if in_memory else await aiosqlite.connect(path, isolation_level=None)
        except BaseException:
            await writer.close()
            raise
        if reader is not writer:
            reader.row_factory = sqlite3.Row
            await reader.execute("PRAGMA busy_timeout=5000")
            await reader.execute("PRAGMA query_only=ON")  # a write outside a unit fails loudly
        return cls(writer, reader, path)

    async def close(self) -> None:
        if self._reader is not self._writer:
            await self._reader.close()
        await self._writer.close()

    async def try_hold(self, name: str) -> Held | None:
        """One process at a time, among those that opened this file (several `worker`s, or tests that run several
        bots in one process): an exclusive, non-blocking ``flock`` of ``<database>.<name>.lock``. Each call opens
        the file anew, so two holders in one process exclude each other too."""
        if self.path == ":memory:" or fcntl is None:
            return Held(self, name, None)
        lock_file = f"{self.path}.{re.sub(r'[^A-Za-z0-9_-]', '_', name)}.lock"
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another process holds it
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return Held(self, name, fd)

    async def _release_hold(self, name: str, conn: Any) -> None:
        if conn is not None:
            with contextlib.suppress(OSError):
                os.close(conn)  # closing the file releases its lock

    async def _begin(self) -> Any:
        await self._write_lock.acquire()
        self.trips += 1
        try:
            await self._writer.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._write_lock.release()
            raise
        return self._writer

    async def _commit(self, unit: UnitOfWork) -> None:
        self.trips += 1
        self.commits += 1
        await self._writer.execute("COMMIT")
        unit.conn = None
        self._write_lock.release()

    async def _rollback(self, unit: UnitOfWork) -> None:
        self.trips += 1
        try:
            await self._writer.execute("ROLLBACK")
        except sqlite3.Error:  # e.g. the transaction was already ended by an error
            log.warning("rollback failed", exc_info=True)
        finally:
            unit.conn = None
            self._write_lock.release()

    async def _one_statement_conn(self) -> Any:
        await self._write_lock.acquire()
        return self._writer

    def _one_statement_done(self) -> None:
        self._write_lock.release()

    async def _fetch(self, conn: Any, sql: str, params: Params) -> list[Row]:
        return list(await (conn or self._reader).execute_fetchall(sql, params))

    async def _count(self, conn: Any, sql: str, params: Params) -> int:
        async with conn.execute(sql, params) as cursor:
            return int(cursor.rowcount)

    async def _many(self, conn: Any, sql: str, rows: Iterable[Params]) -> None:
        await conn.executemany(sql, rows)

    async def applied_versions(self) -> set[int]:
        exists = await self._reader.execute_fetchall(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
        if not list(exists):
            return set()
        return {row[0] for row in await self._reader.execute_fetchall("SELECT version FROM schema_migrations")}

    async def migrate(self) -> list[int]:
        # The write lock keeps this process's units out; BEGIN IMMEDIATE keeps other processes out. Each script
        # records its version first: another process that migrated the same version meanwhile (it read the
        # versions before this one committed) fails there, before any of the script runs, and skips it.
        async with self._write_lock:
            # In a write transaction from the start: a process that read the schema before another one created
            # the table would be refused at once ("locked"), not made to wait.
            await self._writer.executescript(
                "BEGIN IMMEDIATE;\nCREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);\nCOMMIT;")
            done = {row[0] for row in await self._writer.execute_fetchall("SELECT version FROM schema_migrations")}
            known = migrations(self.engine)
            _refuse_newer(done, {version for version, _ in known})
            applied = []
            for version, sql in known:
                if version in done:
                    continue
                try:
                    await self._writer.executescript(
                        f"BEGIN IMMEDIATE;\nINSERT INTO schema_migrations VALUES ({version}, datetime('now'));\n"
                        + sql + "\nCOMMIT;")
                except sqlite3.IntegrityError:
                    await self._writer.execute("ROLLBACK")
                    if not await self._writer.execute_fetchall(
                            "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)):
                        raise
                    continue  # applied by another process
                except BaseException:
                    if self._writer.in_transaction:
                        await self._writer.execute("ROLLBACK")
                    raise
                applied.append(version)
            return applied
