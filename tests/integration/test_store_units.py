"""Units of work (store/db.py): one transaction per use case, joined by the use cases it calls, committed
once; reads outside a unit see committed data only; a write outside a unit is refused."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from store.db import Database, NoUnitOfWork


def committed(path) -> list[int]:
    """What another connection sees: only committed rows."""
    with sqlite3.connect(path) as other:
        return [row[0] for row in other.execute("SELECT x FROM t ORDER BY x")]


@pytest.fixture
async def db(tmp_path):
    path = tmp_path / "units.sqlite3"
    database = await Database.open(path)
    async with database.unit("test/schema"):
        await database.write("CREATE TABLE t (x INTEGER NOT NULL)")
    yield database, path
    await database.close()


async def test_a_unit_commits_once_at_its_end_and_nested_units_join_it(db):
    database, path = db
    async with database.unit("outer"):
        await database.write("INSERT INTO t VALUES (1)")
        async with database.unit("inner"):
            await database.write("INSERT INTO t VALUES (2)")
        assert committed(path) == []  # the inner unit joined: nothing is committed before the outer ends
        # Inside the unit its own writes are visible; outside it they are not yet.
        assert [r[0] for r in await database.fetchall("SELECT x FROM t ORDER BY x")] == [1, 2]
    assert committed(path) == [1, 2]


async def test_a_failure_in_a_joined_unit_rolls_everything_back_even_if_caught(db):
    database, path = db
    async with database.unit("outer"):
        await database.write("INSERT INTO t VALUES (1)")
        with pytest.raises(ValueError):
            async with database.unit("inner"):
                await database.write("INSERT INTO t VALUES (2)")
                raise ValueError("the use case failed")
    assert committed(path) == []


async def test_an_exception_rolls_the_unit_back(db):
    database, path = db
    with pytest.raises(RuntimeError):
        async with database.unit("u"):
            await database.write("INSERT INTO t VALUES (1)")
            raise RuntimeError
    assert committed(path) == []
    async with database.unit("u"):
        await database.write("INSERT INTO t VALUES (2)")
    assert committed(path) == [2]  # the lock was released: the next unit commits


async def test_a_write_outside_a_unit_is_refused_and_reads_outside_see_committed_data_only(db):
    database, _ = db
    with pytest.raises(NoUnitOfWork):
        await database.write("INSERT INTO t VALUES (1)")
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


async def test_units_of_different_tasks_do_not_mix(db):
    database, path = db
    a_wrote, a_may_finish = asyncio.Event(), asyncio.Event()

    async def a() -> None:
        async with database.unit("a"):
            await database.write("INSERT INTO t VALUES (1)")
            a_wrote.set()
            await a_may_finish.wait()
            raise RuntimeError("a fails after b tried to commit")

    async def b() -> None:
        await a_wrote.wait()
        async with database.unit("b"):
            await database.write("INSERT INTO t VALUES (3)")

    tasks = [asyncio.create_task(a()), asyncio.create_task(b())]
    await a_wrote.wait()
    await asyncio.sleep(0.05)
    assert committed(path) == []  # b waits for a's unit: its commit must not carry a's row
    a_may_finish.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[0], RuntimeError)
    assert committed(path) == [3]


async def test_a_task_started_inside_a_unit_does_not_write_in_it(db):
    database, path = db

    async def elsewhere() -> None:
        await database.write("INSERT INTO t VALUES (9)")

    async with database.unit("u"):
        await database.write("INSERT INTO t VALUES (1)")
        with pytest.raises(NoUnitOfWork):
            await asyncio.create_task(elsewhere())
    assert committed(path) == [1]


async def test_a_lazy_unit_begins_only_when_something_is_written(db):
    database, path = db
    async with database.unit("turn", lazy=True) as unit:
        await database.fetchall("SELECT x FROM t")
        assert not unit.begun
        await database.write("INSERT INTO t VALUES (5)")
        assert unit.begun
    assert committed(path) == [5]


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


async def test_migrations_twice_are_harmless(tmp_path):
    path = tmp_path / "m.sqlite3"
    first = await Database.open(path)
    await first.close()
    second = await Database.open(path)
    assert await second.migrate() == []
    await second.close()


async def test_an_in_memory_database_works_with_one_connection():
    database = await Database.open(":memory:")
    try:
        async with database.unit("u"):
            await database.write("CREATE TABLE t (x INTEGER)")
            await database.write("INSERT INTO t VALUES (1)")
        assert await database.fetchval("SELECT count(*) FROM t") == 1
    finally:
        await database.close()
