"""The SQLite engine's own behaviour (store/sqlite_engine.py): the engine decides from the statement where it runs
— a bounded one on the event loop without a round trip, any other in the connection's thread (aiosqlite), whatever
its caller; BEGIN waits for another process without holding the loop; the WAL is checkpointed off the writer; a
statement still running in the thread after its caller gave up is never overlapped by one on the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from store import sqlite_engine
from store.applications import ApplicationRepository
from store.opening import open_database

pytestmark = pytest.mark.asyncio

BIG = 200_000
SLOW_ROWS = 600  # the slow read below visits SLOW_ROWS × BIG / 2 rows: a second or two


@pytest.fixture
async def db(tmp_path):
    database = await open_database(tmp_path / "engine.sqlite3")
    async with database.unit("schema"):
        await database.write("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT NOT NULL)")
        await database.write("CREATE TABLE u (x TEXT NOT NULL)")  # no index: every lookup scans
    yield database
    await database.close()


async def fill_big(db) -> None:
    """BIG rows, two kinds, an index on (kind, at), and a table whose rows refer to them through an unindexed
    foreign key."""
    async with db.unit("big"):
        await db.write("CREATE TABLE big (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, at REAL NOT NULL)")
        await db.write("CREATE INDEX big_kind ON big (kind, at)")
        await db.write("CREATE TABLE child (id INTEGER PRIMARY KEY, big_id INTEGER REFERENCES big (id))")
        await db.write_many("INSERT INTO big (id, kind, at) VALUES (?, ?, ?)",
                            [(i, "a" if i % 2 else "b", float(i)) for i in range(BIG)])
        await db.write_many("INSERT INTO child (id, big_id) VALUES (?, ?)", [(i, i) for i in range(1, BIG)])


@asynccontextmanager
async def loop_lag() -> AsyncIterator[list[float]]:
    """The longest the event loop went without running a ticker that asks for it every millisecond (seconds),
    while the block runs: [lag]."""
    lag = [0.0]
    running = True

    async def tick() -> None:
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            lag[0] = max(lag[0], now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.01)
    try:
        yield lag
    finally:
        running = False
        await ticker


async def test_bounded_statements_take_no_round_trip_and_others_do(db):
    async with db.unit("fill"):
        await db.write_many("INSERT INTO t (id, x) VALUES (?, ?)", [(i, f"x{i}") for i in range(100)])
    trips = db.trips
    async with db.unit("bounded"):
        assert (await db.fetchone("SELECT x FROM t WHERE id = ?", (7,)))[0] == "x7"
        await db.write("UPDATE t SET x = ? WHERE id = ?", ("seven", 7))
        await db.write("INSERT INTO t (id, x) VALUES (?, ?)", (500, "new"))
    assert await db.fetchval("SELECT x FROM t WHERE id = ?", (7,)) == "seven"
    assert db.trips == trips  # BEGIN, three statements, COMMIT and a read outside: all on the loop

    assert await db.fetchval("SELECT count(*) FROM t") == 101  # every row: a hop to the reader's thread
    assert db.trips == trips + 1
    async with db.unit("one"):  # a unit of one bounded write: BEGIN, the write and COMMIT, all on the loop
        await db.write("DELETE FROM t WHERE id = ?", (500,))
    assert db.trips == trips + 1 and await db.fetchval("SELECT count(*) FROM t") == 100


async def test_a_statement_that_scans_a_table_hops_and_its_plan_is_asked_once(db):
    async with db.unit("fill"):
        await db.write_many("INSERT INTO u (x) VALUES (?)", [(f"x{i}",) for i in range(10)])
    sql = "SELECT count(*) FROM u WHERE x = ?"
    trips = db.trips
    assert await db.fetchval(sql, ("x3",)) == 1
    assert db.trips == trips + 1
    assert db._plans[sql] is False
    db._plans[sql] = True  # what the engine decided the first time is what it does next time
    assert await db.fetchval(sql, ("x4",)) == 1
    assert db.trips == trips + 1


async def test_an_indexed_but_unbounded_statement_never_runs_on_the_event_loop(db):
    """A search on an index that may match any number of rows (here 200,000) hops to the database thread; the
    same table read by its key, or through a LIMIT that needs no sort, does not."""
    await fill_big(db)
    bounded = [("SELECT kind FROM big WHERE id = ?", (7,)),
               ("SELECT id FROM big WHERE kind = ? ORDER BY at LIMIT ?", ("a", 5)),
               ("SELECT count(*) FROM (SELECT 1 FROM big WHERE kind = ? LIMIT ?) AS s", ("a", 5))]
    unbounded = [("SELECT count(*) FROM big WHERE kind = ?", ("a",)),
                 ("SELECT id FROM big WHERE kind = ? AND at > ?", ("b", 199_990.0)),
                 ("SELECT id FROM big WHERE kind = ? ORDER BY id LIMIT ?", ("a", 5)),  # a sort of every match
                 ("SELECT id FROM big WHERE kind = ? ORDER BY at LIMIT ? OFFSET ?", ("a", 5, 90_000))]
    for sql, params in bounded:
        trips = db.trips
        await db.fetchall(sql, params)
        assert db.trips == trips, sql  # on the loop
    for sql, params in unbounded:
        trips = db.trips
        rows = await db.fetchall(sql, params)
        assert db.trips == trips + 1, sql  # in the thread
        assert rows, sql


async def test_an_unbounded_read_by_a_repository_does_not_hold_the_event_loop(tmp_path):
    """200,000 overdue applications, counted and paged by the repository (a read of every open application, then
    a page behind an OFFSET): both reads run in the reader's thread while the event loop goes on ticking; an
    application read by its key runs on the loop."""
    db = await open_database(tmp_path / "applications.sqlite3")
    try:
        start = datetime(2026, 1, 1, tzinfo=UTC)
        async with db.unit("fill"):
            await db.write_many(
                "INSERT INTO applications (number, service, iin, channel, submitted_at, due_at, status, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(f"A-{i}", "svc", f"{i:012d}", "telegram", start.isoformat(),
                  (start + timedelta(seconds=i)).isoformat(), "received", start.isoformat()) for i in range(BIG)])
        applications = ApplicationRepository(db)
        trips = db.trips
        async with loop_lag() as lag:
            began = time.perf_counter()
            total, page = await applications.overdue(start + timedelta(days=30), ("done", "refused"), 20, 1000)
            took = time.perf_counter() - began
        assert total == BIG and len(page) == 20 and db.trips == trips + 2
        assert lag[0] < took / 4, (lag[0], took)  # the loop ran on while the rows were read
        assert await applications.exists("A-1") and db.trips == trips + 2  # by its key: on the loop
    finally:
        await db.close()


async def test_writes_whose_plan_hides_their_work_never_run_on_the_event_loop(db):
    """A DELETE of a whole table and CREATE INDEX show no plan at all, and deleting a row that an unindexed
    foreign key refers to, or changing its key, makes SQLite scan the referring table: each hops, the loop ticking
    meanwhile."""
    await fill_big(db)
    statements = [("DELETE FROM big WHERE id = ?", (0,)),  # by its key, but child.big_id has no index
                  ("CREATE INDEX big_at ON big (at)", ()),
                  ("DELETE FROM child", ()),
                  ("UPDATE big SET id = ? WHERE id = ?", (BIG + 5, BIG - 1))]  # a referred key changes
    for sql, params in statements:
        trips = db.trips
        async with loop_lag() as lag:
            began = time.perf_counter()
            async with db.unit("write"):
                await db.write_count(sql, params)
            took = time.perf_counter() - began
        assert db.trips == trips + 1, sql
        assert lag[0] < max(took / 4, 0.05), (sql, lag[0], took)
    trips = db.trips
    async with db.unit("by key"):
        await db.write("UPDATE big SET at = ? WHERE id = ?", (1.5, 1))  # the referred key stays: no check
    assert db.trips == trips
    assert await db.fetchval("SELECT count(*) FROM child") == 0


async def test_begin_waits_off_the_event_loop_while_another_process_holds_the_database(db, tmp_path):
    other = sqlite3.connect(tmp_path / "engine.sqlite3", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t (id, x) VALUES (1, 'other')")
    trips = db.trips

    async def write() -> None:
        async with db.unit("waits"):
            await db.write("INSERT INTO t (id, x) VALUES (?, ?)", (2, "mine"))

    async with loop_lag() as lag:
        task = asyncio.create_task(write())
        await asyncio.sleep(0.3)
        assert not task.done()  # waiting for the lock; the event loop runs on
        threading.Timer(0.1, other.execute, ("COMMIT",)).start()
        await asyncio.wait_for(task, 5)
    other.close()
    assert lag[0] < 0.1
    assert db.trips == trips  # BEGIN tried again on the loop after each pause; the insert and COMMIT there too
    assert [r[0] for r in await db.fetchall("SELECT x FROM t ORDER BY id")] == ["other", "mine"]


async def test_begin_gives_up_after_the_busy_timeout(db, tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_engine, "BUSY_TIMEOUT_MS", 200)
    other = sqlite3.connect(tmp_path / "engine.sqlite3", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            async with db.unit("waits too long"):
                await db.write("INSERT INTO t (id, x) VALUES (1, 'x')")
    finally:
        other.execute("ROLLBACK")
        other.close()
    async with db.unit("then"):  # the write lock was released
        await db.write("INSERT INTO t (id, x) VALUES (1, 'x')")


async def test_the_wal_is_checkpointed_off_the_event_loop_and_starts_again_under_steady_writes(
        db, tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_engine, "CHECKPOINT_BYTES", 64 << 10)
    monkeypatch.setattr(sqlite_engine, "CHECK_EVERY", 10)
    monkeypatch.setattr(sqlite_engine, "TAIL_BYTES", 256 << 10)
    on = []
    original = sqlite_engine._checkpoint

    async def checkpoint(conn):
        on.append("writer" if conn is db._writer else "reader" if conn is db._reader else "?")
        return await original(conn)

    monkeypatch.setattr(sqlite_engine, "_checkpoint", checkpoint)
    for i in range(1500):  # ≈ 13 MB of WAL without checkpoints
        async with db.unit("grow"):
            await db.write("INSERT INTO t (id, x) VALUES (?, ?)", (i, "x" * 2000))
        await asyncio.sleep(0.01 if i % 50 == 0 else 0)  # a busy machine's threads get their turn too
    await asyncio.sleep(0.2)
    # Beside the writes; and since they never pause, the rest between two units: the WAL then starts again.
    assert {"reader", "writer"} <= set(on)
    assert (tmp_path / "engine.sqlite3-wal").stat().st_size < 8 << 20
    assert await db.fetchval("SELECT count(*) FROM t") == 1500


async def test_a_statement_its_caller_gave_up_on_is_not_overlapped_on_the_event_loop(db):
    await fill_big(db)
    slow = "SELECT count(*) FROM big AS a JOIN big AS b ON b.kind = a.kind WHERE a.id < ?"

    async def read_in_a_unit() -> None:
        async with db.unit("given up"):
            await db.write("INSERT INTO t (id, x) VALUES (1, 'x')")
            await db.fetchval(slow, (SLOW_ROWS,))

    task = asyncio.create_task(read_in_a_unit())
    await asyncio.sleep(0.2)  # the read runs in the writer's thread
    task.cancel()
    await asyncio.sleep(0.05)  # the unit's rollback is queued behind the read
    task.cancel()  # and its caller stops waiting for that too
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not db._writer.idle  # the thread still runs the read; the rollback follows it there
    # The next unit does not touch the writer on the loop while the thread has it: it begins once that is done.
    async with db.unit("next"):
        await db.write("INSERT INTO t (id, x) VALUES (2, 'y')")
    assert [r[0] for r in await db.fetchall("SELECT id FROM t")] == [2]
