"""UserRepository.snapshot: the one read a Telegram update starts with agrees with the separate reads."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.model import ChatState
from store.opening import open_database
from store.users import UserRepository

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_snapshot_matches_the_separate_reads(database):
    conn = await open_database(database)
    try:
        users = UserRepository(conn)
        empty = await users.snapshot(7)
        assert (empty.lang, empty.state, empty.identity) == (None, ChatState("menu", {}), None)

        async with conn.unit("test"):
            await users.set_language(7, "kk", NOW)
        only_lang = await users.snapshot(7)
        assert (only_lang.lang, only_lang.state, only_lang.identity) == ("kk", ChatState("menu", {}), None)

        async with conn.unit("test"):
            await users.set_state(7, "id_code", {"then": {"action": "own"}, "phone": "+77010000000"}, NOW)
            await users.save_identity(7, "900101300123", "+77010000000", NOW)
            await users.set_language(8, "ru", NOW)  # another person's rows must not leak in
            await users.set_state(8, "tp_iin", {}, NOW)
        full = await users.snapshot(7)
        assert full.lang == await users.language(7) == "kk"
        assert full.state == await users.state(7) == ChatState("id_code", {"then": {"action": "own"},
                                                                           "phone": "+77010000000"})
        assert full.identity == await users.identity(7)
        assert full.identity is not None and full.identity.iin == "900101300123"

        async with conn.unit("test"):
            await users.drop_identity(7)
        assert (await users.snapshot(7)).identity is None
    finally:
        await conn.close()
