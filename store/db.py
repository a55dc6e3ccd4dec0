"""The database and its units of work, on SQLite (the embedded default) or PostgreSQL (for several replicas).

A use case is one transaction: it opens ``async with db.unit("name"):``, works through the repositories,
and the unit commits once when the block ends (or rolls back when it raises). Repositories never commit:
their statements run on the connection of the unit open in the current task. A unit opened inside another
one (a use case called by another, or by a Telegram update's unit) joins it: one transaction, committed by
the outermost unit. A failure inside a joined unit rolls the whole transaction back, even if the caller
caught the exception.

A begun unit holds one connection (SQLite: the one writer, one unit at a time; PostgreSQL: one from the pool,
any number of units at once). Reads outside any unit run on other connections and see committed data only;
a read inside a unit runs on its connection and sees the unit's own writes. The engines are in
store/sqlite_engine.py and store/postgres_engine.py; repositories write SQL in the subset both engines share,
with ``?`` placeholders.

Every unit begins its transaction at its first write (or ``serialize``), not when it opens: its reads before
that see committed data, as they would inside a read-committed transaction on PostgreSQL, so a use case needs
no say in it, and a unit that writes nothing (a Telegram update that only shows a menu) costs no transaction.
A use case asks outside systems (the registry, the directory) before its first write, never inside a begun
unit: with SQLite every other writer would wait for that call. Where it must read, ask, then write, it reads
again after the ask what may have changed meanwhile (its writes are conditional ones).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

from bot import faults

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")

# A result row: indexable by position and by column name (sqlite3.Row or asyncpg.Record).
Row = Any
Params = Sequence[Any]


def utc_iso(moment: datetime) -> str:
    """Times are stored as ISO 8601 UTC text, which sorts and compares correctly."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


class NoUnitOfWork(RuntimeError):
    """A write was attempted outside a unit of work: every write belongs to a use case's transaction."""


class SchemaMismatch(RuntimeError):
    """The database's schema is not the one this code was written for (newer than the code, or not migrated
    yet where migrating is left to ``qyzmet migrate``)."""


_current: ContextVar[UnitOfWork | None] = ContextVar("qyzmet_unit", default=None)


class UnitOfWork:
    """One transaction of one use case (see the module docstring). Use ``Database.unit`` to get one."""

    def __init__(self, db: Database, name: str) -> None:
        self._db = db
        self.name = name
        self.labels: list[str] = [name]  # the use cases that joined it (for fault points and logs)
        self._task: asyncio.Task[Any] | None = None
        self._outer: UnitOfWork | None = None  # set on a joined unit: the transaction it belongs to
        self._token: Any = None
        self._begun = False
        self._rollback_only = False
        self._after_commit: list[Callable[[], Any]] = []
        self.conn: Any = None  # the connection of the begun transaction (root unit only)

    # Entering and leaving ---------------------------------------------------------------------------------

    async def __aenter__(self) -> UnitOfWork:
        outer = _current.get()
        task = asyncio.current_task()
        if outer is not None and outer._db is self._db and outer._task is task:
            self._outer = outer
            outer.labels.append(self.name)
            return self
        self._task = task
        self._token = _current.set(self)
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
            _current.reset(self._token)
        if self._begun and exc_type is None and not self._rollback_only:
            for callback in self._after_commit:
                try:
                    result = callback()
                    if inspect.isawaitable(result):
                        await result
                except Exception:  # what failed after the commit must not undo it
                    log.exception("after-commit callback failed")

    async def _end(self, rollback: bool) -> None:
        if rollback:
            await self._db._rollback(self)
            return
        try:
            faults.point("before_commit", self.labels)
            await self._db._commit(self)
        except BaseException:
            await self._db._rollback(self)
            self._rollback_only = True
            raise
        faults.point("after_commit", self.labels)

    # The transaction ----------------------------------------------------------------------------------------

    async def _begin(self) -> None:
        root = self._outer or self
        if not root._begun:
            root.conn = await self._db._begin()
            root._begun = True

    @property
    def root(self) -> UnitOfWork:
        return self._outer or self

    @property
    def begun(self) -> bool:
        """Whether the transaction has begun (the unit wrote, or serialized): from then on it holds a
        connection (with SQLite, the one writer), and nothing slow may happen before it ends."""
        return self.root._begun

    def fail(self) -> None:
        """Roll the whole transaction back when it ends (an error was handled further up)."""
        self.root._rollback_only = True

    @property
    def failed(self) -> bool:
        return self.root._rollback_only

    def after_commit(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` once the transaction has committed and its lock is released (wake the worker that
        delivers a message, count a metric; a coroutine function is awaited: an immediate first attempt at an
        SMS). The one hook a unit has: what must happen only if the writes stay, and after the lock, has no
        other place. A unit that wrote nothing committed nothing, and runs none."""
        self.root._after_commit.append(callback)


class Database:
    """A database: units of work and the statements of the repositories. ``open_database(target)``
    (store/opening.py) opens a SQLite file (a path) or a PostgreSQL server (a ``postgresql://`` URL)."""

    engine = "?"

    def __init__(self) -> None:
        # Round trips to the database (a network exchange, or a hop to the database's thread), statements and
        # commits, for the benchmark (bench/trips.py): cheap counters.
        self.trips = 0
        self.statements = 0
        self.commits = 0
        self.migrated: list[int] = []  # the migrations ``open`` applied (``qyzmet migrate`` prints them)

    async def close(self) -> None:
        raise NotImplementedError

    # Units of work -----------------------------------------------------------------------------------------

    def unit(self, name: str) -> UnitOfWork:
        """A unit of work (module docstring): ``async with db.unit("use-case/name"):``."""
        return UnitOfWork(self, name)

    def current_unit(self) -> UnitOfWork | None:
        unit = _current.get()
        if unit is not None and unit._db is self and unit._task is asyncio.current_task():
            return unit
        return None

    async def serialize(self, key: str) -> None:
        """From here to the end of the current unit, no other unit that serializes the same ``key`` runs:
        for a rule that reads, then writes ("at most five codes an hour per phone", "600 SMS a minute"). On
        SQLite units already run one at a time (this begins the transaction); on PostgreSQL it is a
        transaction-level advisory lock, so it holds across replicas."""
        unit = self.current_unit()
        if unit is None:
            raise NoUnitOfWork("serialize outside a unit of work")
        if not unit.begun:
            await unit._begin()
        await self._serialize(unit.root.conn, key)

    async def _serialize(self, conn: Any, key: str) -> None:
        """Nothing to do for an engine whose units run one at a time."""

    async def notify(self, channel: str) -> None:
        """Wake the processes listening on ``channel`` once the current unit commits (a web replica wakes the
        workers for what it owes). On SQLite one process serves everything: its own wake-ups are enough."""

    async def listen(self, channel: str, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever another process notifies ``channel``. Only a shortcut: workers still look for
        due work on their own schedule, so a wake-up lost with a broken connection delays, never loses."""

    async def try_hold(self, name: str) -> Held | None:
        """Become the one process that does ``name`` (a singleton job, e.g. sending broadcasts), if no other
        process is: a Held to release when done, or None. On PostgreSQL a session advisory lock, which the
        server releases if this process dies; SQLite serves one process, which always gets it."""
        return Held(self, name, None)

    def _hold_lost(self, conn: Any) -> bool:
        return False

    async def _release_hold(self, name: str, conn: Any) -> None:
        """Nothing to release on an engine with one process."""


    # What each engine provides: a transaction's connection, its end, and one statement.
    async def _begin(self) -> Any:
        """Begin a transaction; returns the connection it runs on."""
        raise NotImplementedError

    async def _commit(self, unit: UnitOfWork) -> None:
        raise NotImplementedError

    async def _rollback(self, unit: UnitOfWork) -> None:
        raise NotImplementedError

    async def _fetch(self, conn: Any, sql: str, params: Params) -> list[Row]:
        """Run a statement and return its rows; ``conn`` None: a read outside any transaction. Counts the
        round trips it takes (``trips``)."""
        raise NotImplementedError

    async def _count(self, conn: Any, sql: str, params: Params) -> int:
        raise NotImplementedError

    async def _many(self, conn: Any, sql: str, rows: Iterable[Params]) -> None:
        raise NotImplementedError

    def _read_conn(self) -> Any:
        unit = self.current_unit()
        return unit.root.conn if unit is not None else None

    async def _write_conn(self) -> Any:
        unit = self.current_unit()
        if unit is None:
            raise NoUnitOfWork("a write outside a unit of work")
        if not unit.begun:
            await unit._begin()
        return unit.root.conn

    # Statements ------------------------------------------------------------------------------------------------
    # Where a statement runs is the engine's affair: SQLite runs one that is bounded (a few rows through an index)
    # on the event loop and any other in its connection's thread, store/sqlite_engine.py.

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        self.statements += 1
        return await self._fetch(self._read_conn(), sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, params: Params = (), default: Any = None) -> Any:
        row = await self.fetchone(sql, params)
        return default if row is None or row[0] is None else row[0]

    async def write(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one write in the current unit; returns the rows of its RETURNING clause, if it has one
        (``UPDATE … RETURNING 1`` tells in the same trip whether a row changed)."""
        conn = await self._write_conn()
        self.statements += 1
        return await self._fetch(conn, sql, params)

    async def write_count(self, sql: str, params: Params = ()) -> int:
        """Run one write in the current unit and return how many rows it changed (for bulk statements,
        where RETURNING would bring every row back)."""
        conn = await self._write_conn()
        self.statements += 1
        return await self._count(conn, sql, params)

    async def write_many(self, sql: str, rows: Iterable[Params]) -> None:
        conn = await self._write_conn()
        self.statements += 1
        await self._many(conn, sql, rows)

    # Schema ---------------------------------------------------------------------------------------------------

    async def applied_versions(self) -> set[int]:
        """The migrations applied to this database (empty for a new one)."""
        raise NotImplementedError

    async def migrate(self) -> list[int]:
        """Apply the migrations not applied yet, each in its own transaction, and return their versions.
        Refuses (SchemaMismatch) a database that has migrations this code does not know."""
        raise NotImplementedError

    async def check_schema(self) -> None:
        """SchemaMismatch unless the database has exactly the code's migrations."""
        done = await self.applied_versions()
        known = {version for version, _ in migrations(self.engine)}
        _refuse_newer(done, known)
        missing = sorted(known - done)
        if missing:
            raise SchemaMismatch(f"the database lacks migrations {', '.join(map(str, missing))}: "
                                 "run `qyzmet migrate` first")


class Held:
    """A singleton job held by this process (Database.try_hold)."""

    def __init__(self, db: Database, name: str, conn: Any) -> None:
        self._db, self.name, self._conn = db, name, conn

    @property
    def lost(self) -> bool:
        """The hold is gone (its connection broke: another process may have taken the job)."""
        return self._db._hold_lost(self._conn)

    async def release(self) -> None:
        await self._db._release_hold(self.name, self._conn)


def _refuse_newer(done: set[int], known: set[int]) -> None:
    unknown = sorted(done - known)
    if unknown:
        raise SchemaMismatch(f"the database has migrations this code does not know ({', '.join(map(str, unknown))}):"
                             " it was migrated by a newer version; run that version")


def is_postgres(target: str | Path) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


def migrations(engine: str) -> list[tuple[int, str]]:
    """The numbered migrations of an engine (the same numbers on both: version N is the same schema)."""
    folder = resources.files("store").joinpath("migrations").joinpath(engine)
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)

