"""SQLite (WAL): the embedded engine, on the standard sqlite3 module and aiosqlite.

Three connections. The writer, which only units of work use (one at a time: SQLite has one writer, so units take
turns on an asyncio lock); the reader, for reads outside any unit (committed data only, never waiting for the
writer); and the loop reader, for reads outside any unit that run on the event loop itself.

Where a statement runs is the engine's decision, from the statement alone. Work that may take long — a scan of a
large table, a search that may match any number of rows, a sort, a lock another process holds — leaves the event
loop: the writer and the reader are aiosqlite connections, each with its own thread, and the loop awaits the
statement there (one hop: a future, a queue, a thread switch and back, 60–150 µs of CPU). A statement that reads
or writes a few rows through an index takes a few microseconds in SQLite itself (17 µs measured, with the
Python around it), less than the hop: such a statement runs on the event loop directly, on the sqlite3
connection beneath the aiosqlite one, when nothing of ours is queued in its thread. "A few rows" is read from the
statement's query plan, asked once per statement text (``EXPLAIN QUERY PLAN``) and remembered: every table it
touches is reached by an equality on a whole key (primary or unique: one row), or it ends in a ``LIMIT`` over an
index search that needs no sort; an INSERT of VALUES is bounded by its text. Anything else — a statement that is
not a SELECT, INSERT, UPDATE or DELETE, a write that would check or change rows of other tables through an
unindexed foreign key or a trigger — hops. No caller can put an unbounded statement on the loop.

BEGIN and COMMIT run on the loop too. The writer's busy timeout is 0, so BEGIN IMMEDIATE answers at once when
another process holds the database; the engine then tries again after a pause, as SQLite's own busy handler
would, but awaiting instead of sleeping (up to ``BUSY_TIMEOUT_MS``). A COMMIT in WAL mode at
synchronous=NORMAL appends the transaction's pages to the WAL file without syncing it. What could make a COMMIT
slow, the checkpoint that copies the WAL back into the database and syncs it, is taken off the event loop and off
the writer: it runs in the reader's thread once the WAL has grown (``CHECKPOINT_BYTES``; see
``SqliteDatabase._checkpoint``). An update's work is then no hop at all when its statements are bounded.

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
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from bot.domain.retry import backoff
from store.db import Database, Held, Params, Row, UnitOfWork, _refuse_newer, migrations

try:
    import fcntl
except ImportError:  # not a POSIX system: one process per database, which always holds its jobs
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long BEGIN, a read in the reader's thread, or a migration waits for a lock another process holds
# (``qyzmet seed`` on the same file).
BUSY_TIMEOUT_MS = 5000
# Prepared statements kept per connection (the sqlite3 module's cache; its default of 128 is less than the
# project's distinct statements).
CACHED_STATEMENTS = 512
# The WAL is checkpointed (in the reader's thread) once it holds this much; looked at every CHECK_EVERY commits.
CHECKPOINT_BYTES = 4 << 20
CHECK_EVERY = 100
# A WAL that still holds this much after a checkpoint beside the writes (they never paused for it to start
# again) is checkpointed between two units, the writer waiting for it: rare, and it bounds the WAL.
TAIL_BYTES = 64 << 20


def _locked(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


class AioConnection:
    """An aiosqlite connection (its own thread runs the statements handed to it, one at a time, in order) and the
    sqlite3 connection beneath it. ``idle``: nothing of ours is queued or running in the thread, so the event
    loop may use ``raw`` directly without the two ever overlapping — also after a caller gave up waiting for a
    statement that still runs there (``run`` counts a call until the thread has finished it)."""

    def __init__(self, name: str, path: str, setup: Callable[[sqlite3.Connection], None]) -> None:
        self._raw: sqlite3.Connection | None = None

        def connect() -> sqlite3.Connection:  # in the thread
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   cached_statements=CACHED_STATEMENTS)
            try:
                conn.row_factory = sqlite3.Row
                setup(conn)
            except BaseException:
                conn.close()
                raise
            self._raw = conn
            return conn

        self.conn = aiosqlite.Connection(connect, iter_chunk_size=64)
        # A daemon thread, named for a profiler's eyes: a database left open never keeps the process alive.
        thread = getattr(self.conn, "_thread", None)
        if thread is not None:
            thread.daemon, thread.name = True, name
        self._waiting = 0  # calls of ours awaited now
        self._fences: set[asyncio.Future[Any]] = set()  # calls queued behind one whose caller gave up on it

    @classmethod
    async def open(cls, path: str, name: str, setup: Callable[[sqlite3.Connection], None]) -> AioConnection:
        """Open ``path`` in the connection's thread and run ``setup`` on it there (pragmas)."""
        self = cls(name, path, setup)
        await self.conn
        return self

    @property
    def raw(self) -> sqlite3.Connection:
        assert self._raw is not None
        return self._raw

    @property
    def idle(self) -> bool:
        return not self._waiting and not self._fences

    async def run(self, call: Awaitable[T]) -> T:
        """Await ``call`` (an aiosqlite call: one hop to the thread). A caller cancelled while its call is
        queued or running leaves a fence behind it: a call of nothing, queued after it, so that the connection
        counts as busy until the thread has run both (calls run in order)."""
        self._waiting += 1
        try:
            return await call
        except asyncio.CancelledError:
            fence = asyncio.ensure_future(self.conn.execute_fetchall("SELECT 1"))
            self._fences.add(fence)
            fence.add_done_callback(self._fenced)
            raise
        finally:
            self._waiting -= 1

    def _fenced(self, fence: asyncio.Future[Any]) -> None:
        self._fences.discard(fence)
        if not fence.cancelled():
            fence.exception()  # seen: nobody waits for it

    async def drain(self) -> None:
        """Wait until the thread has run what was handed to it (a waiting caller of ours ends first)."""
        while not self.idle:
            if self._fences:
                await asyncio.wait(list(self._fences))
            else:
                await asyncio.sleep(0)  # another task awaits its call: it ends before anything else of ours runs

    async def rows(self, sql: str, params: Params) -> list[Row]:
        return list(await self.run(self.conn.execute_fetchall(sql, params)))

    async def rowcount(self, sql: str, params: Params) -> int:
        cursor = await self.run(self.conn.execute(sql, params))
        return int(cursor.rowcount)

    async def many(self, sql: str, rows: list[Params]) -> None:
        await self.run(self.conn.executemany(sql, rows))

    async def close(self) -> None:
        """Close the connection once what is queued has run, and end the thread."""
        await self.drain()
        await self.conn.close()


def _wal(conn: sqlite3.Connection) -> None:
    """Switch a new file to WAL. Two processes that open a new file at once may both hold a read lock and want
    the exclusive one: SQLite answers "locked" at once instead of waiting (it would deadlock), so try again."""
    for attempt in range(100):
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchall()  # fetched: the statement ends here
            return
        except sqlite3.OperationalError as exc:
            if not _locked(exc) or attempt == 99:
                raise
            time.sleep(0.05)


def _setup_writer(conn: sqlite3.Connection) -> None:
    for pragma in (f"busy_timeout={BUSY_TIMEOUT_MS}", "synchronous=NORMAL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    _wal(conn)
    conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run in the reader's thread (SqliteDatabase._grown)
    conn.execute("PRAGMA busy_timeout=0")  # a statement on the event loop never waits (see SqliteDatabase._start)


def _setup_reader(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA query_only=ON")  # a write outside a unit fails loudly


def _setup_loop_reader(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA busy_timeout=0")  # never waits on the event loop: a busy read hops instead
    conn.execute("PRAGMA query_only=ON")


async def _checkpoint(conn: AioConnection) -> int:
    """Copy the WAL's pages into the database, without waiting for anyone (the writer goes on meanwhile). Returns
    the size of the WAL's content, in bytes."""
    _, frames, _ = (await conn.rows("PRAGMA wal_checkpoint(PASSIVE)", ()))[0]
    page_size = (await conn.rows("PRAGMA page_size", ()))[0][0]
    # sqlite3's rows are typed Any; both PRAGMAs answer integers.
    return cast(int, max(frames, 0) * page_size)


# How a statement's result is taken: its rows, or how many rows it changed.
_ROWS, _COUNT = "rows", "count"


class SqliteDatabase(Database):
    engine = "sqlite"

    def __init__(self, writer: AioConnection, reader: AioConnection,
                 loop_reader: sqlite3.Connection | None, path: str) -> None:
        super().__init__()
        self._writer = writer
        self._reader = reader
        self._loop_reader = loop_reader
        self.path = path
        self._write_lock = asyncio.Lock()
        self._plans: dict[str, bool] = {}  # statement → whether it is bounded (may run on the loop)
        self._uncounted = 0  # commits since the WAL's size was last looked at
        self._checkpointing: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, path: str) -> SqliteDatabase:
        in_memory = path == ":memory:"
        if not in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            create_private(Path(path))
        writer = await AioConnection.open(path, "sqlite-writer", _setup_writer)
        if in_memory:
            # A private in-memory database has one connection: its reads outside a unit may see a unit's writes
            # in flight (a throwaway database for tools, never the bot's).
            return cls(writer, writer, None, path)
        try:
            reader = await AioConnection.open(path, "sqlite-reader", _setup_reader)
        except BaseException:
            await writer.close()
            raise
        try:
            loop_reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                          cached_statements=CACHED_STATEMENTS)
            loop_reader.row_factory = sqlite3.Row
            _setup_loop_reader(loop_reader)
        except BaseException:
            await reader.close()
            await writer.close()
            raise
        return cls(writer, reader, loop_reader, path)

    async def close(self) -> None:
        if self._checkpointing is not None:
            await asyncio.wait([self._checkpointing])
        if self._loop_reader is not None:
            self._loop_reader.close()
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

    # Transactions ----------------------------------------------------------------------------------------------

    async def _begin(self) -> Any:
        await self._write_lock.acquire()
        try:
            await self._start()
        except BaseException:
            self._write_lock.release()
            raise
        return self._writer

    async def _start(self) -> None:
        """BEGIN IMMEDIATE on the event loop (the write lock held). The writer's busy timeout is 0: while another
        process writes, SQLite answers "busy" at once, and the loop awaits a pause before the next try (1 ms,
        doubling up to 50 ms, as SQLite's busy handler sleeps), for up to BUSY_TIMEOUT_MS in all."""
        writer = self._writer
        if not writer.idle:
            await writer.drain()  # a statement its caller gave up on may still run in the thread
        deadline = None
        tries = 0
        while True:
            try:
                writer.raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _locked(exc):
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + BUSY_TIMEOUT_MS / 1000
                elif now >= deadline:
                    raise
            tries += 1
            await asyncio.sleep(backoff(tries, 0.001, 0.05))

    async def _end(self, commit: bool) -> None:
        """COMMIT or ROLLBACK on the writer: on the loop when nothing of ours runs in its thread, else queued
        there behind it (one hop, which runs even if its caller is cancelled meanwhile)."""
        writer = self._writer
        if writer.idle:
            if commit:
                writer.raw.execute("COMMIT")
            else:
                writer.raw.rollback()  # nothing when no transaction is open
            return
        self.trips += 1
        await writer.run(writer.conn.commit() if commit else writer.conn.rollback())

    async def _commit(self, unit: UnitOfWork) -> None:
        self.commits += 1
        await self._end(commit=True)
        unit.conn = None
        self._write_lock.release()
        self._committed()

    def _committed(self) -> None:
        """Every CHECK_EVERY commits, look at the WAL's size; once it passes CHECKPOINT_BYTES, checkpoint it."""
        self._uncounted += 1
        if self._uncounted < CHECK_EVERY or self._reader is self._writer:
            return
        self._uncounted = 0
        if self._checkpointing is not None and not self._checkpointing.done():
            return
        try:
            grown = os.path.getsize(self.path + "-wal") >= CHECKPOINT_BYTES
        except OSError:
            return
        if grown:
            self._checkpointing = asyncio.get_running_loop().create_task(self._checkpoint(), name="sqlite-checkpoint")

    async def _checkpoint(self) -> None:
        """The WAL is copied in the reader's thread while units go on writing. The next transaction writes the
        WAL from its beginning again only if a checkpoint ended with nothing left in it: a pause in the writes
        gives that. Under writes that never pause the WAL would grow without end, so once it holds TAIL_BYTES
        the rest is copied in the writer's thread between two units (which then wait for its disk sync)."""
        try:
            left = await _checkpoint(self._reader)
            if left >= TAIL_BYTES:
                async with self._write_lock:
                    self.trips += 1
                    await _checkpoint(self._writer)
        except sqlite3.Error:  # the next one will do it
            log.warning("WAL checkpoint failed", exc_info=True)

    async def _rollback(self, unit: UnitOfWork) -> None:
        try:
            await self._end(commit=False)
        except sqlite3.Error:  # e.g. the connection is broken
            log.warning("rollback failed", exc_info=True)
        finally:
            unit.conn = None
            self._write_lock.release()

    # Statements ------------------------------------------------------------------------------------------------

    async def _run(self, conn: Any, sql: str, params: Params, result: str) -> Any:
        """Run one statement where it belongs: outside a unit on a reader, in a unit on the writer; on the event
        loop when it is bounded (``_plan_ok``) and nothing of ours runs in the connection's thread, else there."""
        if conn is None:
            loop_reader = self._loop_reader
            if loop_reader is not None and self._plan_ok(sql, params, loop_reader):
                try:
                    return _on_loop(loop_reader, sql, params, result)
                except sqlite3.OperationalError as exc:  # the file is being recovered, say: hop and wait
                    if not _locked(exc):
                        raise
            self.trips += 1
            return await _hop(self._reader, sql, params, result)
        return await self._on_writer(sql, params, result)

    async def _on_writer(self, sql: str, params: Params, result: str) -> Any:
        writer = self._writer
        if writer.idle and self._plan_ok(sql, params, writer.raw):
            return _on_loop(writer.raw, sql, params, result)
        self.trips += 1
        return await _hop(writer, sql, params, result)

    def _plan_ok(self, sql: str, params: Params, conn: sqlite3.Connection) -> bool:
        """Whether ``sql`` is bounded, whatever the tables' size (module docstring; ``_bounded``). Asked once per
        statement text, on the connection that would run it (in a unit, the writer sees the unit's own tables);
        a statement SQLite cannot plan there is not bounded, and asked again next time."""
        known = self._plans.get(sql)
        if known is None:
            try:
                details = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()]
            except sqlite3.Error:  # a table this connection cannot see yet, say: the thread will tell
                return False
            known = _bounded(conn, sql, details)
            if not known:
                log.debug("not bounded, runs in the database's thread: %s | %s", " ".join(sql.split())[:200],
                          "; ".join(details))
            self._plans[sql] = known
        return known

    async def _fetch(self, conn: Any, sql: str, params: Params) -> list[Row]:
        return cast(list[Row], await self._run(conn, sql, params, _ROWS))

    async def _count(self, conn: Any, sql: str, params: Params) -> int:
        return cast(int, await self._run(conn, sql, params, _COUNT))

    async def _many(self, conn: Any, sql: str, rows: Iterable[Params]) -> None:
        # Any number of rows: in the writer's thread.
        batch = list(rows)
        self.trips += 1
        await self._writer.many(sql, batch)

    # Schema ------------------------------------------------------------------------------------------------------

    async def applied_versions(self) -> set[int]:
        exists = await self._reader.rows(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'", ())
        if not exists:
            return set()
        return {row[0] for row in await self._reader.rows("SELECT version FROM schema_migrations", ())}

    async def migrate(self) -> list[int]:
        # The write lock keeps this process's units out; BEGIN IMMEDIATE keeps other processes out. Each script
        # records its version first: another process that migrated the same version meanwhile (it read the
        # versions before this one committed) fails there, before any of the script runs, and skips it.
        async with self._write_lock:
            await self._writer.drain()
            return await _migrate(self._writer)


def _on_loop(conn: sqlite3.Connection, sql: str, params: Params, result: str) -> Any:
    cursor = conn.execute(sql, params)
    return cursor.fetchall() if result == _ROWS else int(cursor.rowcount)


def _hop(conn: AioConnection, sql: str, params: Params, result: str) -> Awaitable[Any]:
    return conn.rows(sql, params) if result == _ROWS else conn.rowcount(sql, params)


async def _migrate(writer: AioConnection) -> list[int]:
    conn = writer.conn

    async def script(sql: str) -> None:
        await writer.run(conn.executescript(sql))

    async def rows(sql: str, params: Params = ()) -> list[Row]:
        return await writer.rows(sql, params)

    async def rollback() -> None:
        if writer.raw.in_transaction:
            await writer.run(conn.execute("ROLLBACK"))

    await writer.run(conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}"))
    try:
        # In a write transaction from the start: a process that read the schema before another one created
        # the table would be refused at once ("locked"), not made to wait.
        await script("BEGIN IMMEDIATE;\nCREATE TABLE IF NOT EXISTS schema_migrations "
                     "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);\nCOMMIT;")
        done = {row[0] for row in await rows("SELECT version FROM schema_migrations")}
        known = migrations("sqlite")
        _refuse_newer(done, {version for version, _ in known})
        applied = []
        for version, sql in known:
            if version in done:
                continue
            try:
                await script(f"BEGIN IMMEDIATE;\nINSERT INTO schema_migrations VALUES ({version}, datetime('now'));\n"
                             + sql + "\nCOMMIT;")
            except sqlite3.IntegrityError:
                await rollback()
                if not await rows("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)):
                    raise
                continue  # applied by another process
            except BaseException:
                await rollback()
                raise
            applied.append(version)
        return applied
    finally:
        await writer.run(conn.execute("PRAGMA busy_timeout=0"))


_SEARCH = re.compile(r"SEARCH (\S+)(?: AS \S+)? USING (?:(INTEGER PRIMARY KEY)|(PRIMARY KEY)|(?:COVERING )?INDEX (\S+))"
                     r" \((.*)\)(?: LEFT-JOIN| RIGHT-JOIN)?$")
_EQUALITY = re.compile(r"\w+=\?")
_LIMIT = re.compile(r"\bLIMIT\b", re.IGNORECASE)
_OFFSET = re.compile(r"\bOFFSET\b", re.IGNORECASE)
_SELECT = re.compile(r"\bSELECT\b", re.IGNORECASE)
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
# The table a write changes (after any WITH clause).
_TARGET = re.compile(r"\b(?:(?:INSERT|REPLACE)(?:\s+OR\s+\w+)?\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+"
                     r"[\"`\[]?(\w+)", re.IGNORECASE)


def _one_row(conn: sqlite3.Connection, detail: str) -> bool:
    """A plan line that reaches at most one row: equality on every column of the primary key or of a unique
    index (a search on part of a key, a range or IN may reach any number)."""
    match = _SEARCH.match(detail)
    if match is None:
        return False
    table, integer_key, primary_key, index, condition = match.groups()
    terms = condition.split(" AND ")
    if not all(_EQUALITY.fullmatch(term) for term in terms):
        return False
    if integer_key:
        return True
    if primary_key:
        key_columns = sum(1 for row in conn.execute("SELECT pk FROM pragma_table_info(?)", (table,)) if row[0])
        return len(terms) == key_columns
    unique = {row[0]: bool(row[1]) for row in conn.execute("SELECT name, \"unique\" FROM pragma_index_list(?)",
                                                          (table,))}
    if not unique.get(index):
        return False
    columns = conn.execute("SELECT count(*) FROM pragma_index_info(?)", (index,)).fetchone()[0]
    return len(terms) == int(columns)


def _bounded(conn: sqlite3.Connection, sql: str, details: list[str]) -> bool:
    """Whether a statement's work is bounded whatever the size of its tables (``_plan_ok``)."""
    text = _COMMENT.sub(" ", sql).strip()
    verb = text.split(None, 1)[0].upper() if text else ""
    if verb not in {"SELECT", "INSERT", "REPLACE", "UPDATE", "DELETE", "WITH", "VALUES"}:
        return False  # CREATE INDEX, DROP TABLE, PRAGMA, VACUUM…: their plan is empty, their work is not
    target = _TARGET.search(text) if verb not in {"SELECT", "VALUES"} else None
    if target is not None and _fans_out(conn, target.group(1), verb, text):
        return False
    if verb in {"INSERT", "REPLACE"} and not _SELECT.search(text):
        # An INSERT of VALUES: as many rows as its text holds. What its plan may show besides is the check of
        # foreign keys: a parent looked up by its key, and the search for rows of other tables that a new
        # parent row would mend, which SQLite skips unless a violation is pending (none, outside a deferred
        # constraint: the statement would have failed).
        return True
    if not details:
        return False  # a DELETE or UPDATE without a plan is one of a whole table (SQLite's truncate)
    # A subquery of constants (FROM (SELECT ? AS id) AS k) is "scanned" too: one row, not a table.
    inner = {d.split()[1] for d in details if d.startswith(("CO-ROUTINE ", "MATERIALIZE "))}
    searches = []
    for detail in details:
        if detail.startswith(("CO-ROUTINE ", "MATERIALIZE ", "SCALAR SUBQUERY", "CORRELATED ", "LIST SUBQUERY")):
            continue
        if detail.startswith("SCAN "):
            if detail.split()[1] in inner | {"CONSTANT"}:
                continue
            return False  # a table read from end to end
        if detail.startswith("USE TEMP B-TREE"):
            if not all(_one_row(conn, d) for d in details if d.startswith("SEARCH ")):
                return False  # sorting every matching row, LIMIT or not
            continue
        if detail.startswith("SEARCH "):
            searches.append(detail)
    if all(_one_row(conn, d) for d in searches):
        return True
    return bool(searches) and bool(_LIMIT.search(text)) and not _OFFSET.search(text)


def _fans_out(conn: sqlite3.Connection, table: str, verb: str, text: str) -> bool:
    """Whether a write to ``table`` does work its plan does not show: a trigger, or the check of a foreign key
    that refers to it (a deleted row, a changed key) where the referring table has no index to find its rows
    by (SQLite would scan it). An INSERT only looks its parents up, by their keys."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)).fetchone():
        return True
    if verb == "INSERT" and not re.search(r"\bOR\s+REPLACE\b", text, re.IGNORECASE):
        return False
    children = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for child in children:
        keys: dict[int, list[tuple[str, str | None]]] = {}
        for row in conn.execute("SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?)", (child,)):
            if row[1].lower() == table.lower():
                keys.setdefault(row[0], []).append((row[2], row[3]))
        for columns in keys.values():
            if verb == "UPDATE" and not _sets_any(text, [to or "" for _, to in columns], conn, table):
                continue  # the referred key is not changed: SQLite checks nothing
            if not _indexed(conn, child, [col for col, _ in columns]):
                return True
    return False


def _sets_any(text: str, columns: list[str], conn: sqlite3.Connection, table: str) -> bool:
    """Whether an UPDATE assigns one of ``columns`` (an empty name: the table's primary key)."""
    if "" in columns:
        columns = [c for c in columns if c] + [row[1] for row in conn.execute(
            "SELECT pk, name FROM pragma_table_info(?)", (table,)) if row[0]]
    clause = re.split(r"\bWHERE\b|\bRETURNING\b", re.split(r"\bSET\b", text, maxsplit=1, flags=re.IGNORECASE)[-1],
                      flags=re.IGNORECASE)[0]
    return any(re.search(rf"\b{re.escape(column)}\s*=", clause, re.IGNORECASE) for column in columns)


def _indexed(conn: sqlite3.Connection, table: str, columns: list[str]) -> bool:
    """Whether an index of ``table`` (or its primary key) begins with ``columns``."""
    wanted = [c.lower() for c in columns]
    for index in conn.execute("SELECT name FROM pragma_index_list(?)", (table,)).fetchall():
        cols = [row[0].lower() for row in conn.execute(
            "SELECT name FROM pragma_index_info(?) ORDER BY seqno", (index[0],)) if row[0] is not None]
        if cols[:len(wanted)] == wanted:
            return True
    key = [row[0].lower() for row in conn.execute(
        "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (table,))]
    return key[:len(wanted)] == wanted


def create_private(path: Path) -> None:
    """Create the database file readable by its owner only (0600) before SQLite opens it: it holds names, IINs,
    addresses and phones, and SQLite gives its WAL and shared-memory files the database file's mode. A file
    that exists keeps the mode its owner gave it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # there already, or another process created it just now (two starting at once)
