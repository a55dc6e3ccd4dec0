"""The SQLite engine's own behaviour (store/sqlite_engine.py): quick statements run on the event loop without a
round trip, only when their plan uses indexes; BEGIN waits in the thread when another process holds the database;
the WAL is checkpointed off the writer; a statement still running in the thread after its caller gave up is never
overlapped by one on the event loop."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading

import pytest

from store import sqlite_engine
from store.opening import open_database

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def db(tmp_path):
    database = await open_database(tmp_path / "engine.sqlite3")
    async with database.unit("schema"):
        await database.write("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT NOT NULL)")
        await database.write("CREATE TABLE u (x TEXT NOT NULL)")  # no index: every lookup scans
    yield database
    await database.close()


async def test_quick_statements_on_an_index_take_no_round_trip_and_others_do(db):
    async with db.unit("fill"):
        await db.write_many("INSERT INTO t (id, x) VALUES (?, ?)", [(i, f"x{i}") for i in range(100)])
    trips = db.trips
    async with db.unit("quick"):
        assert (await db.fetchone("SELECT x FROM t WHERE id = ?", (7,), quick=True))[0] == "x7"
        await db.write("UPDATE t SET x = ? WHERE id = ?", ("seven", 7), quick=True)
        await db.write("INSERT INTO t (id, x) VALUES (?, ?)", (500, "new"), quick=True)
    assert await db.fetchval("SELECT x FROM t WHERE id = ?", (7,), quick=True) == "seven"
    assert db.trips == trips  # BEGIN, three statements, COMMIT and a read outside: all on the loop

    assert await db.fetchval("SELECT count(*) FROM t") == 101  # not marked: a hop to the reader's thread
    assert db.trips == trips + 1
    async with db.unit("one"):  # a unit of one quick write: BEGIN, the write and COMMIT, all on the loop
        await db.write("DELETE FROM t WHERE id = ?", (500,), quick=True)
    assert db.trips == trips + 1 and await db.fetchval("SELECT count(*) FROM t", quick=False) == 100


@pytest.mark.scans_on_purpose
async def test_a_statement_marked_quick_that_scans_a_table_hops_and_says_so(db, caplog):
    async with db.unit("fill"):
        await db.write_many("INSERT INTO u (x) VALUES (?)", [(f"x{i}",) for i in range(10)])
    trips = db.trips
    with caplog.at_level(logging.WARNING, logger="store.sqlite_engine"):
        assert await db.fetchval("SELECT count(*) FROM u WHERE x = ?", ("x3",), quick=True) == 1
    assert db.trips == trips + 1
    assert sqlite_engine.QUICK_SCANS in caplog.text and "SCAN u" in caplog.text
    caplog.clear()
    await db.fetchval("SELECT count(*) FROM u WHERE x = ?", ("x4",), quick=True)
    assert sqlite_engine.QUICK_SCANS not in caplog.text  # the plan is asked once per statement


@pytest.mark.scans_on_purpose
async def test_an_indexed_but_unbounded_statement_never_runs_on_the_event_loop(db, caplog):
    """A search on an index that may match any number of rows (here 200,000) hops to the database thread even
    when marked quick; the same table read by its key, or through a LIMIT that needs no sort, does not."""
    async with db.unit("big"):
        await db.write("CREATE TABLE big (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, at REAL NOT NULL)")
        await db.write("CREATE INDEX big_kind ON big (kind, at)")
        await db.write_many("INSERT INTO big (id, kind, at) VALUES (?, ?, ?)",
                            [(i, "a" if i % 2 else "b", float(i)) for i in range(200_000)])
    bounded = [("SELECT kind FROM big WHERE id = ?", (7,)),
               ("SELECT id FROM big WHERE kind = ? ORDER BY at LIMIT ?", ("a", 5)),
               ("SELECT count(*) FROM (SELECT 1 FROM big WHERE kind = ? LIMIT ?) AS s", ("a", 5))]
    unbounded = [("SELECT count(*) FROM big WHERE kind = ?", ("a",)),
                 ("SELECT id FROM big WHERE kind = ? AND at > ?", ("b", 199_990.0)),
                 ("SELECT id FROM big WHERE kind = ? ORDER BY id LIMIT ?", ("a", 5))]  # a sort of every match
    for sql, params in bounded:
        trips = db.trips
        await db.fetchall(sql, params, quick=True)
        assert db.trips == trips, sql  # on the loop
    with caplog.at_level(logging.WARNING, logger="store.sqlite_engine"):
        for sql, params in unbounded:
            trips = db.trips
            rows = await db.fetchall(sql, params, quick=True)
            assert db.trips == trips + 1, sql  # in the thread
            assert rows, sql
    assert caplog.text.count(sqlite_engine.QUICK_SCANS) == len(unbounded)


async def test_begin_waits_in_the_thread_while_another_process_holds_the_database(db, tmp_path):
    other = sqlite3.connect(tmp_path / "engine.sqlite3", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t (id, x) VALUES (1, 'other')")
    trips = db.trips

    async def write() -> None:
        async with db.unit("waits"):
            await db.write("INSERT INTO t (id, x) VALUES (?, ?)", (2, "mine"), quick=True)

    task = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    assert not task.done()  # waiting for the lock, in the writer's thread: the event loop runs on
    threading.Timer(0.1, other.execute, ("COMMIT",)).start()
    await asyncio.wait_for(task, 5)
    other.close()
    assert db.trips == trips + 1  # BEGIN hopped; the insert and the COMMIT did not
    assert [r[0] for r in await db.fetchall("SELECT x FROM t ORDER BY id")] == ["other", "mine"]


async def test_the_wal_is_checkpointed_off_the_event_loop_and_starts_again_under_steady_writes(
        db, tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_engine, "CHECKPOINT_BYTES", 64 << 10)
    monkeypatch.setattr(sqlite_engine, "CHECK_EVERY", 10)
    monkeypatch.setattr(sqlite_engine, "TAIL_BYTES", 256 << 10)
    threads = []
    original = sqlite_engine._checkpoint
    monkeypatch.setattr(sqlite_engine, "_checkpoint",
                        lambda conn: threads.append(threading.current_thread().name) or original(conn))
    for i in range(1500):  # ≈ 13 MB of WAL without checkpoints
        async with db.unit("grow"):
            await db.write("INSERT INTO t (id, x) VALUES (?, ?)", (i, "x" * 2000), quick=True)
        await asyncio.sleep(0.01 if i % 50 == 0 else 0)  # a busy machine's threads get their turn too
    await asyncio.sleep(0.2)
    # Beside the writes; and since they never pause, the rest between two units: the WAL then starts again.
    assert {"sqlite-reader", "sqlite-writer"} <= set(threads)
    assert (tmp_path / "engine.sqlite3-wal").stat().st_size < 8 << 20
    assert await db.fetchval("SELECT count(*) FROM t") == 1500


async def test_a_statement_its_caller_gave_up_on_is_not_overlapped_on_the_event_loop(db, tmp_path):
    other = sqlite3.connect(tmp_path / "engine.sqlite3", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")

    async def write() -> None:
        async with db.unit("given up"):
            await db.write("INSERT INTO t (id, x) VALUES (1, 'x')", quick=True)

    task = asyncio.create_task(write())
    await asyncio.sleep(0.2)  # its BEGIN waits in the writer's thread
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not db._writer.idle  # the thread still waits for the lock
    other.execute("COMMIT")
    other.close()
    # The next unit does not touch the writer on the loop while the thread has it: it queues behind it.
    async with db.unit("next"):
        await db.write("INSERT INTO t (id, x) VALUES (2, 'y')", quick=True)
    assert [r[0] for r in await db.fetchall("SELECT id FROM t")] == [2]
