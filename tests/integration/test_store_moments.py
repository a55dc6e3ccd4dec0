"""Moments as the code reads and writes them: ISO 8601 UTC text (store.db.utc_iso). On PostgreSQL they are
``timestamptz`` columns, read and written through a text codec (store/postgres_engine.py): the text that goes in
is the text that comes out, compared and sorted as moments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from store.db import from_iso, utc_iso
from store.opening import open_database
from tests import engines

SECOND = utc_iso(datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC))  # 2026-03-02T09:00:05+00:00
MICRO = datetime(2026, 3, 2, 9, 0, 5, 123456, tzinfo=UTC).isoformat()  # 2026-03-02T09:00:05.123456+00:00
EARLIER = utc_iso(datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC))


@pytest.fixture
async def db(database):
    opened = await open_database(database)
    async with opened.unit("test/schema"):
        await opened.write("CREATE TABLE m (n INTEGER NOT NULL, at TIMESTAMPTZ)")
    yield opened
    await opened.close()


async def test_iso_text_in_is_the_same_text_out(db):
    assert SECOND == "2026-03-02T09:00:05+00:00"
    async with db.unit("test/write"):
        await db.write_many("INSERT INTO m (n, at) VALUES (?, ?)", [(1, SECOND), (2, MICRO), (3, None)])
    rows = {row["n"]: row["at"] for row in await db.fetchall("SELECT n, at FROM m")}
    assert rows == {1: SECOND, 2: MICRO, 3: None}
    assert from_iso(rows[2]).microsecond == 123456
    async with db.unit("test/returning"):  # inside a unit, and through RETURNING
        returned = await db.write("UPDATE m SET at = ? WHERE n = 3 RETURNING at", (EARLIER,))
        assert [r["at"] for r in returned] == [EARLIER]


async def test_moments_compare_and_sort_as_moments(db):
    async with db.unit("test/write"):
        await db.write_many("INSERT INTO m (n, at) VALUES (?, ?)", [(1, MICRO), (2, EARLIER), (3, SECOND)])
    assert [r["n"] for r in await db.fetchall("SELECT n FROM m ORDER BY at")] == [2, 3, 1]
    assert [r["n"] for r in await db.fetchall("SELECT n FROM m WHERE at > ? ORDER BY n", (SECOND,))] == [1]
    assert [r["n"] for r in await db.fetchall("SELECT n FROM m WHERE at <= ? ORDER BY n", (SECOND,))] == [2, 3]
    assert await db.fetchval("SELECT max(at) FROM m") == MICRO
    assert await db.fetchval("SELECT min(at) FROM m WHERE n > ?", (1,)) == EARLIER


@pytest.mark.skipif(not engines.on_postgres(), reason="PostgreSQL-specific: SQLite keeps the text as given")
async def test_a_moment_with_another_offset_comes_back_in_utc(db):
    almaty = datetime(2026, 3, 2, 14, 0, 5, tzinfo=timezone(timedelta(hours=5)))
    async with db.unit("test/write"):
        await db.write("INSERT INTO m (n, at) VALUES (?, ?)", (1, almaty.isoformat()))
        await db.write("INSERT INTO m (n, at) VALUES (?, ?)", (2, almaty))  # a datetime is taken too
    assert [r["at"] for r in await db.fetchall("SELECT at FROM m ORDER BY n")] == [SECOND, SECOND]
