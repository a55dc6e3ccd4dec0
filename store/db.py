"""The SQLite database: one connection, WAL, numbered migrations applied at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from typing import Any, Awaitable, Callable, Iterable
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def utc_iso(moment: datetime) -> str:
    """Times are stored as ISO 8601 UTC text, which sorts and compares correctly."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _migrations() -> list[tuple[int, str]]:
    found = []
    for entry in resources.files("store").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


class UnitOfWorkConnection(aiosqlite.Connection):
    """One shared connection on which each task's writes up to its commit form one unit no other task enters.

    Why: every repository method is "write, write, commit" on the one connection the whole process shares.
    Tasks run in parallel (Telegram updates of different people, the SMS worker, webhooks); without this, one
    task's commit could cover another's half-done writes, and a crash in between would keep half of them. A
    task's first write waits until no other task has uncommitted writes; its commit (or rollback) lets the next
    one in. A failing write rolls its unit back; a task that ends with writes uncommitted has them rolled back.
    Reads never wait.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unit = asyncio.Lock()
        self._owner: asyncio.Task | None = None

    async def _enter(self) -> bool:
        """Make the current task the unit's owner; False if it already was."""
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            return False
        await self._unit.acquire()
        self._owner = task
        if task is not None:
            task.add_done_callback(self._abandoned)
        return True

    def _leave(self) -> None:
        task, self._owner = self._owner, None
        if task is not None:
            task.remove_done_callback(self._abandoned)
        self._unit.release()

    def _abandoned(self, task: asyncio.Task) -> None:
        if self._owner is not task:
            return
        log.error("a task ended with uncommitted writes; rolling them back")

        async def undo() -> None:
            try:
                await aiosqlite.Connection.rollback(self)
            finally:
                self._owner = None
                self._unit.release()

        _BACKGROUND.add(job := asyncio.get_running_loop().create_task(undo()))
        job.add_done_callback(_BACKGROUND.discard)

    async def _write(self, run: Callable[[], Awaitable[Any]]) -> Any:
        await self._enter()
        try:
            return await run()
        except BaseException:
            if self._owner is asyncio.current_task():
                try:
                    await aiosqlite.Connection.rollback(self)
                finally:
                    self._leave()
            raise

    @aiosqlite.context.contextmanager
    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> aiosqlite.Cursor:
        if not _is_write(sql):
            return await super().execute(sql, parameters)
        return await self._write(lambda: aiosqlite.Connection.execute(self, sql, parameters))

    @aiosqlite.context.contextmanager
    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> aiosqlite.Cursor:
        return await self._write(lambda: aiosqlite.Connection.executemany(self, sql, parameters))

    async def execute_insert(self, sql: str, parameters: Iterable[Any] | None = None) -> Any:
        return await self._write(lambda: aiosqlite.Connection.execute_insert(self, sql, parameters))

    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] | None = None) -> Iterable[Any]:
        if not _is_write(sql):
            return await super().execute_fetchall(sql, parameters)
        return await self._write(lambda: aiosqlite.Connection.execute_fetchall(self, sql, parameters))

    @aiosqlite.context.contextmanager
    async def executescript(self, sql_script: str) -> aiosqlite.Cursor:
        await self._enter()  # scripts carry their own BEGIN/COMMIT: the unit ends with them
        try:
            return await aiosqlite.Connection.executescript(self, sql_script)
        finally:
            self._leave()

    async def write(self, sql: str, parameters: Iterable[Any] = ()) -> int:
        """One statement that is a unit by itself, executed and committed in ONE trip to the database thread
        (execute() then commit() are two). Returns the number of rows it changed."""
        return await self._write_one(sql, parameters, False)

    async def insert(self, sql: str, parameters: Iterable[Any] = ()) -> int:
        """Like write, for an INSERT: returns the new row's id."""
        return await self._write_one(sql, parameters, True)

    async def _write_one(self, sql: str, parameters: Iterable[Any], want_id: bool) -> int:
        await self._enter()
        try:
            return await self._execute(self._execute_and_commit, sql, parameters, want_id)
        except BaseException:
            with contextlib.suppress(Exception):
                await aiosqlite.Connection.rollback(self)
            raise
        finally:
            self._leave()

    def _execute_and_commit(self, sql: str, parameters: Iterable[Any], want_id: bool) -> int:  # database thread
        cursor = self._conn.execute(sql, parameters)
        try:
            self._conn.commit()
            return cursor.lastrowid if want_id else cursor.rowcount
        finally:
            cursor.close()

    async def commit(self) -> None:
        # A commit by a task with no writes of its own still waits: it must not commit another task's unit.
        await self._enter()
        try:
            await super().commit()
        finally:
            self._leave()

    async def rollback(self) -> None:
        await self._enter()
        try:
            await super().rollback()
        finally:
            self._leave()


# The statements before which sqlite3 opens a transaction implicitly (and a CTE ending in one): the writes
# that stay uncommitted until a commit.
_DML = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
_CTE_DML = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def _is_write(sql: str) -> bool:
    if _DML.match(sql):
        return True
    return sql.lstrip()[:4].upper() == "WITH" and _CTE_DML.search(sql) is not None
_BACKGROUND: set[asyncio.Task] = set()


async def connect(path: str | Path) -> aiosqlite.Connection:
    """Open the database and bring its schema up to date (running twice is harmless)."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = await UnitOfWorkConnection(lambda: sqlite3.connect(str(path)), 64)
    conn.row_factory = aiosqlite.Row
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=NORMAL")
    await conn.execute("PRAGMA foreign_keys=ON")
    await conn.execute("PRAGMA busy_timeout=5000")
    await migrate(conn)
    return conn


async def migrate(conn: aiosqlite.Connection) -> list[int]:
    """Apply the migrations not applied yet, each in its own transaction. Returns the versions applied."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    async with conn.execute("SELECT version FROM schema_migrations") as cur:
        done = {row[0] for row in await cur.fetchall()}
    applied = []
    for version, sql in _migrations():
        if version in done:
            continue
        await conn.executescript(
            "BEGIN;\n" + sql + f"\nINSERT INTO schema_migrations VALUES ({version}, datetime('now'));\nCOMMIT;"
        )
        applied.append(version)
    return applied
