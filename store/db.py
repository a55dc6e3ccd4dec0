"""The database and its units of work (SQLite: aiosqlite, WAL).

A use case is one transaction: it opens ``async with db.unit("name"):``, works through the repositories,
and the unit commits once when the block ends (or rolls back when it raises). Repositories never commit:
their statements run on the connection of the unit open in the current task. A unit opened inside another
one (a use case called by another, or by a Telegram update's unit) joins it: one transaction, committed by
the outermost unit. A failure inside a joined unit rolls the whole transaction back, even if the caller
caught the exception.

Two connections: the writer, which only units use (one unit at a time: SQLite has one writer), and a
read-only reader for reads outside any unit, so those see committed data only and never wait for a writer.
A read inside a unit runs on the writer and sees the unit's own writes.

A lazy unit (``db.unit(name, lazy=True)``, used for a Telegram update) begins its transaction only at its
first write, or when a use case opens a unit inside it: an update that writes nothing costs no transaction.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from bot import faults, write_lock

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")

Row = sqlite3.Row
Params = Sequence[Any] | dict[str, Any]


def utc_iso(moment: datetime) -> str:
    """Times are stored as ISO 8601 UTC text, which sorts and compares correctly."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


class NoUnitOfWork(RuntimeError):
    """A write was attempted outside a unit of work: every write belongs to a use case's transaction."""


_current: ContextVar[UnitOfWork | None] = ContextVar("qyzmet_unit", default=None)


class UnitOfWork:
    """One transaction of one use case (see the module docstring). Use ``Database.unit`` to get one."""

    def __init__(self, db: Database, name: str, lazy: bool, one_statement: bool = False) -> None:
        self._db = db
        self.name = name
        # A unit of exactly one write runs it in autocommit: one trip instead of BEGIN, write, COMMIT.
        self._one_statement = one_statement
        self._written = False
        self.labels: list[str] = [name]  # the use cases that joined it (for fault points and logs)
        self._lazy = lazy
        self._task: asyncio.Task[Any] | None = None
        self._outer: UnitOfWork | None = None  # set on a joined unit: the transaction it belongs to
        self._token: Any = None
        self._begun = False
        self._rollback_only = False
        self._after_commit: list[Callable[[], Any]] = []
        self._held_token: Any = None  # bot.write_lock.HELD, set while this (root) unit holds the write lock
        self._before_commit: list[Callable[[], Awaitable[None]]] = []

    # Entering and leaving ---------------------------------------------------------------------------------

    async def __aenter__(self) -> UnitOfWork:
        outer = _current.get()
        task = asyncio.current_task()
        if outer is not None and outer._db is self._db and outer._task is task:
            self._outer = outer
            outer.labels.append(self.name)
            if not self._lazy:
                await outer._begin()  # a use case reads and writes consistently from its first statement
            return self
        self._task = task
        self._token = _current.set(self)
        if not self._lazy and not self._one_statement:
            await self._begin()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._outer is not None:
            if exc_type is not None:
                self._outer._rollback_only = True
            return
        try:
            if self._begun:
                await self._end(exc_type is not None or self._rollback_only)
        finally:
            if self._held_token is not None:
                write_lock.HELD.reset(self._held_token)
                self._held_token = None
            _current.reset(self._token)
        if self._written and not self._begun:  # a one-statement unit: committed by its statement
            self._db._write_lock.release()
            if exc_type is None:
                faults.point("after_commit", self.labels)
        if (self._begun or self._written) and exc_type is None and not self._rollback_only:
            for callback in self._after_commit:
                try:
                    result = callback()
                    if inspect.isawaitable(result):
                        await result
                except Exception:  # what failed after the commit must not undo it
                    log.exception("after-commit callback failed")

    async def _end(self, rollback: bool) -> None:
        if rollback:
            await self._db._rollback()
            return
        try:
            for hook in self._before_commit:
                await hook()
            faults.point("before_commit", self.labels)
            await self._db._commit()
        except BaseException:
            await self._db._rollback()
            self._rollback_only = True
            raise
        faults.point("after_commit", self.labels)

    # The transaction ----------------------------------------------------------------------------------------

    async def _begin(self) -> None:
        root = self._outer or self
        if not root._begun:
            await self._db._begin()
            root._begun = True
            root._held_token = write_lock.HELD.set(True)

    @property
    def root(self) -> UnitOfWork:
        return self._outer or self

    @property
    def begun(self) -> bool:
        return self.root._begun

    def fail(self) -> None:
        """Roll the whole transaction back when it ends (an error was handled further up)."""
        self.root._rollback_only = True

    @property
    def failed(self) -> bool:
        return self.root._rollback_only

    def after_commit(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` once the transaction has committed and its lock is released (wake the worker that
        delivers a message; a coroutine function is awaited: an immediate first attempt at an SMS)."""
        self.root._after_commit.append(callback)

    def before_commit(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``hook`` inside the transaction just before it commits (e.g. write what a turn owes its chat)."""
        self.root._before_commit.append(hook)


class Database:
    """The SQLite database: a writer connection for units of work and a read-only one for other reads."""

    engine = "sqlite"

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection, path: str) -> None:
        self._writer = writer
        self._reader = reader
        self.path = path
        self._write_lock = asyncio.Lock()  # SQLite has one writer: units take turns
        # Trips to the database threads and commits, for the benchmark (bench/trips.py): cheap counters.
        self.trips = 0
        self.commits = 0

    @classmethod
    async def open(cls, path: str | Path) -> Database:
        """Open the database and bring its schema up to date (running twice is harmless)."""
        path = str(path)
        in_memory = path == ":memory:"
        if not in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        writer = await aiosqlite.connect(path, isolation_level=None)
        try:
            writer.row_factory = sqlite3.Row
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000"):
                await writer.execute(f"PRAGMA {pragma}")
            # A private in-memory database has one connection: its reads outside a unit may see a unit's writes
            # in flight (a throwaway database for tools, never the bot's).
            db_reader = writer if in_memory else await aiosqlite.connect(path, isolation_level=None)
        except BaseException:
            await writer.close()
            raise
        if db_reader is not writer:
            db_reader.row_factory = sqlite3.Row
            await db_reader.execute("PRAGMA busy_timeout=5000")
            await db_reader.execute("PRAGMA query_only=ON")  # a write outside a unit fails loudly
        db = cls(writer, db_reader, path)
        try:
            await db.migrate()
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        if self._reader is not self._writer:
            await self._reader.close()
        await self._writer.close()

    # Units of work -----------------------------------------------------------------------------------------

    def unit(self, name: str, lazy: bool = False, one_statement: bool = False) -> UnitOfWork:
        """A unit of work (module docstring). ``one_statement``: the use case is a single write, run in
        autocommit in one trip (a second write in it is a bug and raises)."""
        return UnitOfWork(self, name, lazy, one_statement)

    def current_unit(self) -> UnitOfWork | None:
        unit = _current.get()
        if unit is not None and unit._db is self and unit._task is asyncio.current_task():
            return unit
        return None

    async def _begin(self) -> None:
        await self._write_lock.acquire()
        self.trips += 1
        try:
            await self._writer.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._write_lock.release()
            raise

    async def _commit(self) -> None:
        self.trips += 1
        self.commits += 1
        await self._writer.execute("COMMIT")
        self._write_lock.release()

    async def _rollback(self) -> None:
        self.trips += 1
        try:
            await self._writer.execute("ROLLBACK")
        except sqlite3.Error:  # e.g. the transaction was already ended by an error
            log.warning("rollback failed", exc_info=True)
        finally:
            self._write_lock.release()

    def _connection_for_read(self) -> aiosqlite.Connection:
        unit = self.current_unit()
        return self._writer if unit is not None and (unit.begun or unit.root._written) else self._reader

    async def _connection_for_write(self) -> aiosqlite.Connection:
        unit = self.current_unit()
        if unit is None:
            raise NoUnitOfWork("a write outside a unit of work")
        root = unit.root
        if root._one_statement and not root._begun:
            if root._written:
                raise RuntimeError(f"unit {root.name} was declared one statement and writes twice")
            await self._write_lock.acquire()  # released when the unit ends; the statement commits itself
            root._written = True
            self.commits += 1
            faults.point("before_commit", root.labels)
            return self._writer
        if not unit.begun:
            await unit._begin()
        return self._writer

    # Statements: each one trip to the database thread --------------------------------------------------

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        self.trips += 1
        return list(await self._connection_for_read().execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        self.trips += 1
        rows = await self._connection_for_read().execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def fetchval(self, sql: str, params: Params = (), default: Any = None) -> Any:
        row = await self.fetchone(sql, params)
        return default if row is None or row[0] is None else row[0]

    async def write(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one write in the current unit; returns the rows of its RETURNING clause, if it has one
        (``UPDATE … RETURNING 1`` tells in the same trip whether a row changed)."""
        conn = await self._connection_for_write()
        self.trips += 1
        return list(await conn.execute_fetchall(sql, params))

    async def write_count(self, sql: str, params: Params = ()) -> int:
        """Run one write in the current unit and return how many rows it changed (for bulk statements,
        where RETURNING would bring every row back)."""
        conn = await self._connection_for_write()
        self.trips += 2  # execute, then close the cursor
        async with conn.execute(sql, params) as cursor:
            return cursor.rowcount

    async def write_many(self, sql: str, rows: Iterable[Params]) -> None:
        conn = await self._connection_for_write()
        self.trips += 1
        await conn.executemany(sql, rows)

    # Schema ---------------------------------------------------------------------------------------------------

    async def migrate(self) -> list[int]:
        """Apply the migrations not applied yet, each in its own transaction. Returns the versions applied."""
        async with self._write_lock:
            await self._writer.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            done = {row[0] for row in await self._writer.execute_fetchall("SELECT version FROM schema_migrations")}
            applied = []
            for version, sql in _migrations():
                if version in done:
                    continue
                await self._writer.executescript(
                    "BEGIN;\n" + sql
                    + f"\nINSERT INTO schema_migrations VALUES ({version}, datetime('now'));\nCOMMIT;")
                applied.append(version)
            return applied


def _migrations() -> list[tuple[int, str]]:
    found = []
    for entry in resources.files("store").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


async def connect(path: str | Path) -> Database:
    """Open the database (see Database.open)."""
    return await Database.open(path)
