"""Units of work (store/db.py): one transaction per use case, joined by the use cases it calls, committed
once; reads outside a unit see committed data only; a write outside a unit is refused. On both engines (the
suite's, tests/engines.py): what another connection sees is read through a second Database on the same target."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from store.db import Database, NoUnitOfWork
from store.opening import open_database
from tests import engines

ROOT = Path(__file__).resolve().parents[2]


async def committed(other: Database) -> list[int]:
    """What another connection sees: only committed rows."""
    return [row[0] for row in await other.fetchall("SELECT x FROM t ORDER BY x")]


@pytest.fixture
async def db(database):
    main = await open_database(database)
    async with main.unit("test/schema"):
        await main.write("CREATE TABLE t (x INTEGER NOT NULL)")
    other = await open_database(database)
    yield main, other
    await other.close()
    await main.close()


async def test_a_unit_commits_once_at_its_end_and_nested_units_join_it(db):
    database, other = db
    async with database.unit("outer"):
        await database.write("INSERT INTO t VALUES (1)")
        async with database.unit("inner"):
            await database.write("INSERT INTO t VALUES (2)")
        assert await committed(other) == []  # the inner unit joined: nothing is committed before the outer ends
        # Inside the unit its own writes are visible; outside it they are not yet.
        assert [r[0] for r in await database.fetchall("SELECT x FROM t ORDER BY x")] == [1, 2]
    assert await committed(other) == [1, 2]


async def test_a_failure_in_a_joined_unit_rolls_everything_back_even_if_caught(db):
    database, other = db
    async with database.unit("outer"):
        await database.write("INSERT INTO t VALUES (1)")
        with pytest.raises(ValueError):
            async with database.unit("inner"):
                await database.write("INSERT INTO t VALUES (2)")
                raise ValueError("the use case failed")
    assert await committed(other) == []


async def test_an_exception_rolls_the_unit_back(db):
    database, other = db
    with pytest.raises(RuntimeError):
        async with database.unit("u"):
            await database.write("INSERT INTO t VALUES (1)")
            raise RuntimeError
    assert await committed(other) == []
    async with database.unit("u"):
        await database.write("INSERT INTO t VALUES (2)")
    assert await committed(other) == [2]  # the connection (and on SQLite the lock) was given back


async def test_a_unit_marked_failed_rolls_back_without_an_exception_and_runs_no_after_commit(db):
    database, other = db
    ran: list[str] = []
    async with database.unit("outer") as outer:
        await database.write("INSERT INTO t VALUES (1)")
        outer.after_commit(lambda: ran.append("outer"))
        async with database.unit("inner") as inner:
            inner.fail()  # an error handled further up: the whole transaction is rolled back
        assert outer.failed
        await database.write("INSERT INTO t VALUES (2)")
    assert await committed(other) == [] and ran == []
    async with database.unit("next") as unit:
        await database.write("INSERT INTO t VALUES (3)")
        assert not unit.failed
    assert await committed(other) == [3]


async def test_a_statement_that_fails_rolls_its_unit_back(db):
    database, other = db
    with pytest.raises(Exception, match="(?i)no such table|does not exist"):
        async with database.unit("u"):
            await database.write("INSERT INTO t VALUES (1)")
            await database.write("INSERT INTO missing VALUES (2)")
    assert await committed(other) == []
    async with database.unit("u"):
        await database.write("INSERT INTO t VALUES (4)")
    assert await committed(other) == [4]


async def test_writes_outside_a_unit_are_refused_and_reads_outside_see_committed_data_only(db):
    database, other = db
    with pytest.raises(NoUnitOfWork):
        await database.write("INSERT INTO t VALUES (1)")
    with pytest.raises(NoUnitOfWork):
        await database.write_count("DELETE FROM t")
    with pytest.raises(NoUnitOfWork):
        await database.write_many("INSERT INTO t VALUES (?)", [(1,), (2,)])
    with pytest.raises(NoUnitOfWork):
        await database.serialize("k")
    assert await committed(other) == []
    entered, may_finish = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with database.unit("w"):
            await database.write("INSERT INTO t VALUES (7)")
            entered.set()
            await may_finish.wait()

    task = asyncio.create_task(writer())
    await entered.wait()
    assert await database.fetchall("SELECT x FROM t") == []  # another task's open unit is not seen
    may_finish.set()
    await task
    assert [r[0] for r in await database.fetchall("SELECT x FROM t")] == [7]


async def test_write_count_and_write_many_in_a_unit(db):
    database, other = db
    async with database.unit("u"):
        await database.write_many("INSERT INTO t VALUES (?)", [(1,), (2,), (3,)])
        assert await database.write_count("DELETE FROM t WHERE x >= ?", (2,)) == 2
        assert await database.write_count("DELETE FROM t WHERE x > ?", (100,)) == 0
        assert [tuple(r) for r in await database.write("UPDATE t SET x = 10 WHERE x = ? RETURNING x", (1,))] == [(10,)]
    assert await committed(other) == [10]


async def test_a_unit_of_one_write_commits_it_and_gives_the_connection_back(db):
    database, other = db
    async with database.unit("one") as unit:
        await database.write("INSERT INTO t VALUES (1)")
        assert unit.begun
    assert await committed(other) == [1]
    async with database.unit("next"):  # the connection (and on SQLite the lock) was given back
        await database.write("INSERT INTO t VALUES (3)")
    assert await committed(other) == [1, 3]


async def test_units_of_different_tasks_do_not_mix(db):
    """b's commit never carries a's row. On SQLite b waits for a's unit (one writer); on PostgreSQL b runs and
    commits while a's unit is still open."""
    database, other = db
    a_wrote, a_may_finish, b_starting = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def a() -> None:
        async with database.unit("a"):
            await database.write("INSERT INTO t VALUES (1)")
            a_wrote.set()
            await a_may_finish.wait()
            raise RuntimeError("a fails after b tried to commit")

    async def b() -> None:
        await a_wrote.wait()
        b_starting.set()
        async with database.unit("b"):
            await database.write("INSERT INTO t VALUES (3)")

    task_a, task_b = asyncio.create_task(a()), asyncio.create_task(b())
    await b_starting.wait()
    if engines.on_postgres():
        await task_b  # not held up by a's open unit
        assert await committed(other) == [3]
    else:
        await asyncio.sleep(0)
        assert not task_b.done() and await committed(other) == []
    a_may_finish.set()
    results = await asyncio.gather(task_a, task_b, return_exceptions=True)
    assert isinstance(results[0], RuntimeError) and results[1] is None
    assert await committed(other) == [3]


async def _waiting_for_an_advisory_lock(other: Database) -> bool:
    return bool(await other.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"))


async def test_serialize_keeps_a_second_unit_out_until_the_first_has_committed(db):
    """Two units serialize the same key: the second one's serialize returns only once the first has committed,
    so its read sees the first one's row (on PostgreSQL a transaction advisory lock, held across replicas; on
    SQLite units take turns anyway)."""
    database, other = db
    events: list[str] = []
    a_holds, a_may_finish = asyncio.Event(), asyncio.Event()

    async def a() -> None:
        async with database.unit("a"):
            await database.serialize("cap:+77010000000")
            events.append("a holds")
            a_holds.set()
            await a_may_finish.wait()
            await database.write("INSERT INTO t VALUES (1)")
            events.append("a commits")

    async def b() -> None:
        await a_holds.wait()
        events.append("b asks")
        async with database.unit("b"):
            await database.serialize("cap:+77010000000")
            seen = [row[0] for row in await database.fetchall("SELECT x FROM t")]
            events.append(f"b holds and sees {seen}")
            await database.write("INSERT INTO t VALUES (2)")

    task_a, task_b = asyncio.create_task(a()), asyncio.create_task(b())
    await a_holds.wait()
    if engines.on_postgres():
        # b's serialize waits on the lock: seen in pg_locks, not guessed from time. Were it not excluded, b would
        # finish on its own, having seen no row.
        while not task_b.done() and not await _waiting_for_an_advisory_lock(other):
            await asyncio.sleep(0.01)
        # Another key is not held up meanwhile.
        async with database.unit("c"):
            await database.serialize("cap:+77019999999")
            events.append("c holds another key")
    else:
        await asyncio.sleep(0)
    events.append("a may finish")
    a_may_finish.set()
    await asyncio.gather(task_a, task_b)
    expected = ["a holds", "b asks", "a may finish", "a commits", "b holds and sees [1]"]
    if engines.on_postgres():
        expected.insert(2, "c holds another key")
    assert events == expected
    assert await committed(other) == [1, 2]


async def test_a_task_started_inside_a_unit_does_not_write_in_it(db):
    database, other = db

    async def elsewhere() -> None:
        await database.write("INSERT INTO t VALUES (9)")

    async with database.unit("u"):
        await database.write("INSERT INTO t VALUES (1)")
        with pytest.raises(NoUnitOfWork):
            await asyncio.create_task(elsewhere())
    assert await committed(other) == [1]


async def test_every_unit_begins_only_when_something_is_written(db):
    """No unit says how it begins: its reads before its first write see committed data, its first write (or a
    serialize) begins the transaction, and a unit joined inside it begins nothing by opening."""
    database, other = db
    async with database.unit("turn") as unit:
        await database.fetchall("SELECT x FROM t")
        async with database.unit("use-case"):
            assert not unit.begun
            await database.fetchall("SELECT x FROM t")
            assert not unit.begun
            await database.write("INSERT INTO t VALUES (5)")
        assert unit.begun
    assert await committed(other) == [5]
    async with database.unit("quiet") as unit:
        await database.fetchall("SELECT x FROM t")
    assert not unit.begun  # nothing written: no transaction at all
    async with database.unit("checks") as unit:
        await database.serialize("k")
        assert unit.begun  # a semantic lock belongs to a transaction


async def test_after_commit_runs_once_the_only_write_commits_and_not_when_nothing_was_written(db):
    """A Telegram update that wrote nothing before its closing write: that write commits, then its
    after-commit actions run. A unit that wrote nothing committed nothing, and runs none."""
    database, other = db
    ran: list[str] = []
    async with database.unit("turn") as unit:
        await database.fetchall("SELECT x FROM t")
        unit.after_commit(lambda: ran.append("after"))
        await database.write("INSERT INTO t VALUES (6)")
        assert await committed(other) == []  # nothing of it before its commit
    assert await committed(other) == [6] and ran == ["after"]
    async with database.unit("quiet") as unit:
        unit.after_commit(lambda: ran.append("quiet"))
    assert ran == ["after"]


async def test_after_commit_runs_only_after_a_commit(db):
    database, _ = db
    ran: list[str] = []
    async with database.unit("ok") as unit:
        await database.write("INSERT INTO t VALUES (1)")
        unit.after_commit(lambda: ran.append("ok"))
    with pytest.raises(RuntimeError):
        async with database.unit("bad") as unit:
            await database.write("INSERT INTO t VALUES (2)")
            unit.after_commit(lambda: ran.append("bad"))
            raise RuntimeError
    assert ran == ["ok"]


async def test_an_in_memory_database_works_with_one_connection():
    """SQLite's ":memory:" (a throwaway database for tools), whatever the suite's engine."""
    database = await open_database(":memory:")
    try:
        async with database.unit("u"):
            await database.write("CREATE TABLE t (x INTEGER)")
            await database.write("INSERT INTO t VALUES (1)")
        assert await database.fetchval("SELECT count(*) FROM t") == 1
    finally:
        await database.close()


async def test_a_singleton_job_is_held_by_one_database_at_a_time_and_freed_by_a_release(db):
    """try_hold: among the processes (here two Databases) sharing one database, one holds a job at a time."""
    main, other = db
    held = await main.try_hold("broadcast-sender")
    assert held is not None and not held.lost
    assert await other.try_hold("broadcast-sender") is None  # held elsewhere
    elsewhere = await other.try_hold("another-job")  # jobs are independent
    assert elsewhere is not None
    await elsewhere.release()
    await held.release()
    taken = await other.try_hold("broadcast-sender")
    assert taken is not None
    assert await main.try_hold("broadcast-sender") is None
    await taken.release()


async def test_a_singleton_job_held_by_a_process_that_dies_is_free_again(database):
    """The holder is killed (SIGKILL: nothing released by hand): the job is free for the next process, as a
    second worker takes the broadcasts over when the first dies."""
    script = ("import asyncio, sys\n"
              "from store.opening import open_database\n"
              "async def main():\n"
              "    db = await open_database(sys.argv[1])\n"
              "    assert await db.try_hold('broadcast-sender') is not None\n"
              "    print('held', flush=True)\n"
              "    await asyncio.sleep(60)\n"
              "asyncio.run(main())\n")
    holder = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(database), cwd=ROOT,
                                                  stdout=asyncio.subprocess.PIPE)
    mine = await open_database(database)
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), 20) == b"held\n"
        assert await mine.try_hold("broadcast-sender") is None
        holder.kill()
        await holder.wait()
        held = None
        for _ in range(500):  # PostgreSQL ends the dead session's lock once it notices; a file lock goes at once
            held = await mine.try_hold("broadcast-sender")
            if held is not None:
                break
            await asyncio.sleep(0.02)
        assert held is not None
        await held.release()
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        await mine.close()


@pytest.mark.skipif(not engines.on_postgres(), reason="PostgreSQL's LISTEN (SQLite serves one process: no wake-ups "
                    "between processes)")
async def test_wake_ups_come_again_after_the_listening_connection_is_cut(db, monkeypatch):
    """The server ends the session that LISTENs (a restart, a failover): the engine opens another one, wakes every
    listener once (what was notified meanwhile is not heard), and notifications reach it again."""
    import asyncpg

    from store import postgres_engine
    monkeypatch.setattr(postgres_engine, "RELISTEN_FIRST_SECONDS", 0.05)
    database, other = db
    woken: list[str] = []
    await database.listen("qz_a", lambda: woken.append("a"))
    await database.listen("qz_b", lambda: woken.append("b"))

    async def notified(channel: str) -> None:
        async with other.unit("test/notify"):
            await other.notify(channel)

    async def until_woken(expected: list[str]) -> None:
        for _ in range(500):
            if sorted(woken) == expected:
                return
            await asyncio.sleep(0.01)
        assert sorted(woken) == expected

    await notified("qz_a")
    await until_woken(["a"])
    admin = await asyncpg.connect(database.path)
    try:
        cut = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
            "AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()")
    finally:
        await admin.close()
    assert cut == 1
    await until_woken(["a", "a", "b"])  # listening again: each listener woken once
    woken.clear()
    await notified("qz_b")
    await until_woken(["b"])


@pytest.mark.skipif(not engines.on_postgres(), reason="asyncpg's pool of PostgreSQL sessions")
async def test_a_connection_goes_back_to_the_pool_without_a_reset_trip_and_a_hold_leaves_nothing_behind(db):
    """A statement outside a unit, and a unit, are the last things their sessions ran: the connection went back to
    the pool without asyncpg's reset query (one more round trip each time). A hold's session, which did keep
    something (its advisory lock), is reset before it goes back: the lock is gone."""
    import asyncpg

    database, _ = db
    admin = await asyncpg.connect(database.path)

    async def last_queries() -> list[str]:
        rows = await admin.fetch("SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND application_name = 'qyzmet' AND pid <> pg_backend_pid()")
        return [row[0] for row in rows]

    async def advisory_locks() -> int:
        return int(await admin.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                                        "(SELECT oid FROM pg_database WHERE datname = current_database())"))

    try:
        assert await database.fetchval("SELECT 4201 AS outside_a_unit") == 4201
        assert any("4201" in query for query in await last_queries())
        async with database.unit("test/last"):
            await database.write("INSERT INTO t (x) VALUES (4202)")
        assert "COMMIT" in await last_queries()

        held = await database.try_hold("the-job")
        assert held is not None and await advisory_locks() == 1
        await held.release()
        assert await advisory_locks() == 0
        assert await database.fetchval("SELECT count(*) FROM t") == 1  # the pool goes on with the reset session
    finally:
        await admin.close()
