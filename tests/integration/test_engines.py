"""The suite's pool of PostgreSQL databases (tests/engines.py): a database a test leaves behind, whatever it did
with it, comes back to the next test in the migrated state, under a name nothing of the previous test knows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from store.db import migrations, utc_iso
from store.opening import open_database
from tests import engines

pytestmark = pytest.mark.skipif(not engines.on_postgres(), reason="the pool of PostgreSQL databases")

NOW = utc_iso(datetime(2026, 11, 30, tzinfo=UTC))


async def test_a_used_database_comes_back_empty_its_sequences_restarted_its_sessions_ended(database):
    import asyncpg
    db = await open_database(database)
    async with db.unit("test/rows"):
        await db.write("INSERT INTO users (user_id, lang, created_at) VALUES (?, 'ru', ?)", (1, NOW))
        await db.write("INSERT INTO telegram_outbox (chat_id, kind, created_at) VALUES (?, 'messages', ?)", (1, NOW))
        await db.write("INSERT INTO telegram_outbox (chat_id, kind, created_at) VALUES (?, 'messages', ?)", (1, NOW))
    async with db.unit("test/gone"):  # a table left empty, its sequence moved
        await db.write("INSERT INTO audit_log (at, actor, action, details) VALUES (?, 'cli', 'x', '{}')", (NOW,))
        await db.write("DELETE FROM audit_log")
    held = await db.try_hold("the-job")  # a session advisory lock, a LISTEN, and the pool left open
    assert held is not None
    await db.listen("wake", lambda: None)
    left_open = await asyncpg.connect(database)

    engines.wait_for_resets()  # an earlier test's database may be being replaced right now
    replaced = engines.replaced
    url = engines.recycle_now(database)
    assert url != database and engines.replaced == replaced  # reset, not replaced by a new copy
    with pytest.raises(asyncpg.InvalidCatalogNameError):  # nothing that knew the old name reaches it
        await asyncpg.connect(database)
    with pytest.raises((asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError)):
        await left_open.fetchval("SELECT 1")  # ended by the server
    left_open.terminate()
    await db.close()

    fresh = await open_database(url)
    try:
        for table in ("users", "telegram_outbox", "audit_log"):
            assert await fresh.fetchval(f"SELECT count(*) FROM {table}") == 0
        assert await fresh.applied_versions() == {version for version, _ in migrations("postgresql")}
        async with fresh.unit("test/again"):
            rows = await fresh.write("INSERT INTO telegram_outbox (chat_id, kind, created_at) "
                                     "VALUES (?, 'messages', ?) RETURNING id", (1, NOW))
            logged = await fresh.write("INSERT INTO audit_log (at, actor, action, details) "
                                       "VALUES (?, 'cli', 'x', '{}') RETURNING id", (NOW,))
        assert rows[0][0] == 1 and logged[0][0] == 1
        again = await fresh.try_hold("the-job")
        assert again is not None
        await again.release()
    finally:
        await fresh.close()


async def test_a_database_whose_schema_or_migrations_changed_is_replaced_by_a_new_copy(database):
    db = await open_database(database)
    try:
        async with db.unit("test/schema"):
            await db.write("CREATE TABLE t (x INTEGER)")
            await db.write("ALTER TABLE users ADD COLUMN extra text")
            await db.write("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", (999, NOW))
    finally:
        await db.close()
    engines.wait_for_resets()
    replaced = engines.replaced
    url = engines.recycle_now(database)
    assert engines.replaced == replaced + 1
    fresh = await open_database(url)
    try:
        assert await fresh.fetchval("SELECT to_regclass('t') IS NULL")
        assert not await fresh.fetchval("SELECT count(*) FROM information_schema.columns "
                                        "WHERE table_name = 'users' AND column_name = 'extra'")
        assert 999 not in await fresh.applied_versions()
    finally:
        await fresh.close()
