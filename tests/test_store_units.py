"""The shared connection keeps each task's writes up to its commit as one unit (store/db.py)."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from store.db import connect


def committed(path) -> list[int]:
    """What another connection sees: only committed rows."""
    with sqlite3.connect(path) as other:
        return [row[0] for row in other.execute("SELECT x FROM t ORDER BY x")]


async def write_and_commit(conn, x: int) -> None:
    await conn.execute("INSERT INTO t VALUES (?)", (x,))
    await conn.commit()


@pytest.fixture
async def db(tmp_path):
    path = tmp_path / "units.sqlite3"
    conn = await connect(path)
    await conn.execute("CREATE TABLE t (x INTEGER NOT NULL)")
    await conn.commit()
    yield conn, path
    await conn.close()


async def test_a_commit_does_not_cover_another_tasks_half_done_writes(db):
    conn, path = db
    a_wrote, a_may_finish = asyncio.Event(), asyncio.Event()

    async def a() -> None:
        await conn.execute("INSERT INTO t VALUES (1)")
        a_wrote.set()
        await a_may_finish.wait()
        await conn.execute("INSERT INTO t VALUES (2)")
        await conn.commit()

    async def b() -> None:
        await a_wrote.wait()
        await conn.execute("INSERT INTO t VALUES (3)")
        await conn.commit()

    tasks = [asyncio.create_task(a()), asyncio.create_task(b())]
    await a_wrote.wait()
    await asyncio.sleep(0.05)
    assert committed(path) == []  # B waits: its commit must not carry A's first row alone
    assert [tuple(r) for r in await asyncio.wait_for(conn.execute_fetchall("SELECT x FROM t"), 2)] == [(1,)]
    a_may_finish.set()
    await asyncio.gather(*tasks)
    assert committed(path) == [1, 2, 3]


async def test_a_task_that_ends_mid_unit_is_rolled_back_and_lets_others_in(db):
    conn, path = db

    async def fails_between_writes() -> None:
        await conn.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("not a database error")

    with pytest.raises(RuntimeError):
        await asyncio.create_task(fails_between_writes())
    await asyncio.wait_for(write_and_commit(conn, 2), 2)  # does not wait for the failed unit
    assert committed(path) == [2]


@pytest.mark.parametrize("second", ["execute", "write"])
async def test_a_failing_write_rolls_back_its_unit(db, second):
    conn, path = db

    async def half_then_error() -> None:
        await conn.execute("INSERT INTO t VALUES (1)")
        await getattr(conn, second)("INSERT INTO t VALUES (NULL)")  # NOT NULL: IntegrityError

    with pytest.raises(sqlite3.IntegrityError):
        await half_then_error()
    await asyncio.wait_for(write_and_commit(conn, 3), 2)  # does not wait for the failed unit
    assert committed(path) == [3]


async def test_write_is_one_committed_unit_and_waits_for_another_tasks_unit(db):
    conn, path = db
    a_wrote, a_may_finish = asyncio.Event(), asyncio.Event()

    async def a() -> None:
        await conn.execute("INSERT INTO t VALUES (1)")
        a_wrote.set()
        await a_may_finish.wait()
        await conn.write("INSERT INTO t VALUES (2)")  # ends A's unit: both rows together

    task = asyncio.create_task(a())
    await a_wrote.wait()
    b = asyncio.create_task(conn.write("INSERT INTO t VALUES (3)"))
    await asyncio.sleep(0.05)
    assert not b.done() and committed(path) == []  # B's one-statement unit waits for A's to end
    a_may_finish.set()
    await asyncio.gather(task, b)
    assert committed(path) == [1, 2, 3]
    assert await conn.write("UPDATE t SET x = x + 10 WHERE x > 1") == 2  # rows changed
    assert await conn.insert("INSERT INTO t VALUES (7)") == 4  # the new rowid
    assert committed(path) == [1, 7, 12, 13]

