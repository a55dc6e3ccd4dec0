"""SQLite (WAL): the embedded engine, on the standard sqlite3 module.

Three connections. The writer, which only units of work use (one at a time: SQLite has one writer, so units take
turns on an asyncio lock); the reader, for reads outside any unit (committed data only, never waiting for the
writer); and the quick reader, for small reads outside any unit that run on the event loop itself.

Why threads, and why not always: a statement that may wait (a lock another process holds, the disk, a scan of a
large table) runs in its connection's own thread, and the event loop awaits it — one hop, the cost of a round trip
to a server (a future, a queue, a thread switch and back: tens of microseconds of CPU). A statement that reads or
writes a few rows through an index takes a few microseconds in SQLite itself, less than the hop: a repository
marks such a statement ``quick`` and it runs on the event loop directly, once its query plan has been checked to
be bounded whatever the tables' size — one row by a key, or a LIMIT over an index that needs no sort (any other
statement hops, and a warning says so). BEGIN and COMMIT run there
too: BEGIN IMMEDIATE fails at once instead of waiting when another process holds the database (then it hops and
waits), and a COMMIT in WAL mode at synchronous=NORMAL appends the transaction's pages to the WAL file without
syncing it. What could make a COMMIT slow, the checkpoint that copies the WAL back into the database and syncs
it, is taken off the event loop and off the writer: it runs in the reader's thread once the WAL has grown
(``CHECKPOINT_BYTES``; see ``SqliteDatabase._checkpoint``). An
update's work is then no hop at all when its statements are quick.

A singleton job (``try_hold``) is an exclusive ``flock`` on a file beside the database: one process of those
sharing the file holds it, and the system releases it when that process dies, as PostgreSQL does with a
session's advisory lock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

from store.db import Database, Held, Params, Row, UnitOfWork, _refuse_newer, migrations

try:
    import fcntl
except ImportError:  # not a POSIX system: one process per database, which always holds its jobs
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a statement that hops waits for a lock another process holds (``qyzmet seed`` on the same file).
BUSY_TIMEOUT_MS = 5000
# What the engine logs when a statement marked quick could read any number of rows — a scan, a search on part of
# an index, a sort — so it runs in the database thread instead (the test suite fails on it).
QUICK_SCANS = "a statement marked quick is not bounded by a key or a LIMIT"

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


class ThreadedConnection:
    """A sqlite3 connection and the thread that runs its statements, one at a time. ``run(fn)`` runs
    ``fn(connection)`` there and awaits the result (one hop). ``idle``: nothing is running or queued there, so
    the event loop may use ``conn`` directly without the two ever overlapping."""

    def __init__(self, name: str) -> None:
        self.conn: sqlite3.Connection | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending = 0
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    @classmethod
    async def open(cls, path: str, name: str, setup: Callable[[sqlite3.Connection], None]) -> ThreadedConnection:
        """Open ``path`` in the connection's thread and run ``setup`` on it there (pragmas)."""
        self = cls(name)

        def connect(_: Any) -> None:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   cached_statements=CACHED_STATEMENTS)
            try:
                conn.row_factory = sqlite3.Row
                setup(conn)
            except BaseException:
                conn.close()
                raise
            self.conn = conn

        try:
            await self.run(connect)
        except BaseException:
            self._queue.put(None)
            raise
        return self

    @property
    def idle(self) -> bool:
        return self._pending == 0

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self.post(fn)

    def post(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue ``fn`` behind what is queued already; its future may be left unawaited."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        future.add_done_callback(_retrieved)
        self._pending += 1
        self._queue.put((fn, loop, future))
        return future

    def _serve(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            fn, loop, future = item
            try:
                result, error = fn(self.conn), None
            except BaseException as exc:  # handed to the caller, whatever it is
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
                loop.call_soon_threadsafe(self._done, future, result, error)
        if self.conn is not None:
            self.conn.close()

    def _done(self, future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
        self._pending -= 1
        if future.cancelled():  # the caller stopped waiting; the statement ran all the same
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    async def close(self) -> None:
        """Close the connection once what is queued has run, and end the thread."""
        loop = asyncio.get_running_loop()
        ended = loop.create_future()
        self._queue.put((lambda _: None, loop, ended))
        self._pending += 1
        self._queue.put(None)
        await ended
        await loop.run_in_executor(None, self._thread.join)


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark the error of a call nobody awaits (``post``) as seen: its caller, if any, has it."""
    if not future.cancelled():
        future.exception()


# What the threads run ------------------------------------------------------------------------------------------

def _rows(sql: str, params: Params, conn: sqlite3.Connection) -> list[Row]:
    return conn.execute(sql, params).fetchall()


def _rowcount(sql: str, params: Params, conn: sqlite3.Connection) -> int:
    return int(conn.execute(sql, params).rowcount)


def _executemany(sql: str, rows: list[Params], conn: sqlite3.Connection) -> None:
    conn.executemany(sql, rows)


def _begin_waiting(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting up to BUSY_TIMEOUT_MS for another process's write to end (the writer's own busy
    timeout is 0, so that a statement on the event loop never waits)."""
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        conn.execute("BEGIN IMMEDIATE")
    finally:
        conn.execute("PRAGMA busy_timeout=0")


def _commit(conn: sqlite3.Connection) -> None:
    conn.execute("COMMIT")


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _begin_now(conn: sqlite3.Connection) -> bool:
    """BEGIN IMMEDIATE without waiting (on the event loop); False when another process holds the database."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if not _locked(exc):
            raise
        return False
    return True


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
    conn.execute("PRAGMA busy_timeout=0")  # see _begin_waiting


def _checkpoint(conn: sqlite3.Connection) -> int:
    """Copy the WAL's pages into the database, without waiting for anyone (the writer goes on meanwhile). Returns
    the size of the WAL's content, in bytes."""
    _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    # sqlite3's fetchone() is typed Any; both PRAGMAs answer integers.
    return cast(int, max(frames, 0) * page_size)


def _setup_reader(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA query_only=ON")  # a write outside a unit fails loudly


def _setup_quick(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA busy_timeout=0")  # never waits on the event loop: a busy read hops instead
    conn.execute("PRAGMA query_only=ON")


class SqliteDatabase(Database):
    engine = "sqlite"

    def __init__(self, writer: ThreadedConnection, reader: ThreadedConnection,
                 quick: sqlite3.Connection | None, path: str) -> None:
        super().__init__()
        self._writer = writer
        self._reader = reader
        self._quick = quick
        self.path = path
        self._write_lock = asyncio.Lock()
        self._plans: dict[str, bool] = {}  # statement → whether its plan uses indexes only (may run on the loop)
        self._uncounted = 0  # commits since the WAL's size was last looked at
        self._checkpointing: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, path: str) -> SqliteDatabase:
        in_memory = path == ":memory:"
        if not in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            create_private(Path(path))
        writer = await ThreadedConnection.open(path, "sqlite-writer", _setup_writer)
        if in_memory:
            # A private in-memory database has one connection: its reads outside a unit may see a unit's writes
            # in flight (a throwaway database for tools, never the bot's).
            return cls(writer, writer, None, path)
        try:
            reader = await ThreadedConnection.open(path, "sqlite-reader", _setup_reader)
        except BaseException:
            await writer.close()
            raise
        try:
            quick = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                    cached_statements=CACHED_STATEMENTS)
            quick.row_factory = sqlite3.Row
            _setup_quick(quick)
        except BaseException:
            await reader.close()
            await writer.close()
            raise
        return cls(writer, reader, quick, path)

    async def close(self) -> None:
        if self._checkpointing is not None:
            await asyncio.wait([self._checkpointing])
        if self._quick is not None:
            self._quick.close()
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
            writer = self._writer
            if writer.idle and writer.conn is not None and _begin_now(writer.conn):
                return writer  # no other process writes: begun at once, on the loop
            self.trips += 1
            begun = writer.post(_begin_waiting)
            try:
                await begun
            except asyncio.CancelledError:
                writer.post(_rollback)  # it may still begin in the thread: end it there, right after
                raise
        except BaseException:
            self._write_lock.release()
            raise
        return writer

    async def _commit(self, unit: UnitOfWork) -> None:
        self.commits += 1
        writer = self._writer
        if writer.idle and writer.conn is not None:
            writer.conn.execute("COMMIT")
        else:
            self.trips += 1
            await writer.run(_commit)
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
            left = await self._reader.run(_checkpoint)
            if left >= TAIL_BYTES:
                async with self._write_lock:
                    self.trips += 1
                    await self._writer.run(_checkpoint)
        except sqlite3.Error:  # the next one will do it
            log.warning("WAL checkpoint failed", exc_info=True)

    async def _rollback(self, unit: UnitOfWork) -> None:
        try:
            if self._writer.idle and self._writer.conn is not None:
                _rollback(self._writer.conn)
            else:
                self.trips += 1
                await self._writer.run(_rollback)
        except sqlite3.Error:  # e.g. the connection is broken
            log.warning("rollback failed", exc_info=True)
        finally:
            unit.conn = None
            self._write_lock.release()

    # Statements ------------------------------------------------------------------------------------------------

    async def _run(self, conn: Any, sql: str, params: Params, quick: bool,
                   work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` (one statement) where it belongs: outside a unit on a reader, in a unit on the writer,
        on the event loop when ``quick`` and its plan allow it, else in the connection's thread."""
        if conn is None:
            if quick and self._quick is not None and self._plan_ok(sql, params):
                try:
                    return work(self._quick)
                except sqlite3.OperationalError as exc:  # the file is being recovered, say: hop and wait
                    if not _locked(exc):
                        raise
            self.trips += 1
            return await self._reader.run(work)
        writer = self._writer
        if quick and writer.idle and writer.conn is not None and self._plan_ok(sql, params):
            return work(writer.conn)
        self.trips += 1
        return await writer.run(work)

    def _plan_ok(self, sql: str, params: Params) -> bool:
        """Whether ``sql`` is bounded, whatever the tables' size: every table it touches is reached by a key (an
        equality on every column of its primary key or of a unique index: one row), or it ends in a LIMIT over
        an index search that needs no sort. Only such a statement runs on the event loop; any other one hops to
        the database thread, and a warning says so (the test suite fails on it). Asked once per statement."""
        known = self._plans.get(sql)
        if known is None:
            plan_conn = self._quick if self._quick is not None else self._writer.conn
            assert plan_conn is not None
            details = [row[3] for row in plan_conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()]
            known = _bounded(plan_conn, sql, details)
            if not known:
                log.warning("%s; it runs in the database thread: %s | %s", QUICK_SCANS,
                            " ".join(sql.split())[:200], "; ".join(details))
            self._plans[sql] = known
        return known

    async def _fetch(self, conn: Any, sql: str, params: Params, quick: bool = False) -> list[Row]:
        return await self._run(conn, sql, params, quick, partial(_rows, sql, params))

    async def _count(self, conn: Any, sql: str, params: Params, quick: bool = False) -> int:
        return await self._run(conn, sql, params, quick, partial(_rowcount, sql, params))

    async def _many(self, conn: Any, sql: str, rows: Iterable[Params]) -> None:
        await self._run(conn, sql, (), False, partial(_executemany, sql, list(rows)))

    # Schema ------------------------------------------------------------------------------------------------------

    async def applied_versions(self) -> set[int]:
        def read(conn: sqlite3.Connection) -> set[int]:
            exists = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").fetchall()
            if not exists:
                return set()
            return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        return await self._reader.run(read)

    async def migrate(self) -> list[int]:
        # The write lock keeps this process's units out; BEGIN IMMEDIATE keeps other processes out. Each script
        # records its version first: another process that migrated the same version meanwhile (it read the
        # versions before this one committed) fails there, before any of the script runs, and skips it.
        async with self._write_lock:
            return await self._writer.run(_migrate)


def _migrate(conn: sqlite3.Connection) -> list[int]:
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        # In a write transaction from the start: a process that read the schema before another one created
        # the table would be refused at once ("locked"), not made to wait.
        conn.executescript(
            "BEGIN IMMEDIATE;\nCREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);\nCOMMIT;")
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        known = migrations("sqlite")
        _refuse_newer(done, {version for version, _ in known})
        applied = []
        for version, sql in known:
            if version in done:
                continue
            try:
                conn.executescript(
                    f"BEGIN IMMEDIATE;\nINSERT INTO schema_migrations VALUES ({version}, datetime('now'));\n"
                    + sql + "\nCOMMIT;")
            except sqlite3.IntegrityError:
                conn.execute("ROLLBACK")
                if not conn.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchall():
                    raise
                continue  # applied by another process
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            applied.append(version)
        return applied
    finally:
        conn.execute("PRAGMA busy_timeout=0")


_SEARCH = re.compile(r"SEARCH (\S+)(?: AS \S+)? USING (?:(INTEGER PRIMARY KEY)|(PRIMARY KEY)|(?:COVERING )?INDEX (\S+))"
                     r" \((.*)\)(?: LEFT-JOIN| RIGHT-JOIN)?$")
_EQUALITY = re.compile(r"\w+=\?")
_LIMIT = re.compile(r"\bLIMIT\b", re.IGNORECASE)


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
    return all(_one_row(conn, d) for d in searches) or (bool(searches) and bool(_LIMIT.search(sql)))


def create_private(path: Path) -> None:
    """Create the database file readable by its owner only (0600) before SQLite opens it: it holds names, IINs,
    addresses and phones, and SQLite gives its WAL and shared-memory files the database file's mode. A file
    that exists keeps the mode its owner gave it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # there already, or another process created it just now (two starting at once)
