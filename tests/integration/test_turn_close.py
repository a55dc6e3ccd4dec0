"""What a Telegram update writes last (store/turn_close.py): its handled mark, the conversation's state and the
envelope of its replies, together; nothing of it when another attempt at the same update marked it first. On
both engines: one statement on PostgreSQL, the three statements of their repositories on SQLite."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from store.db import Database
from store.opening import open_database
from store.telegram_outbox import TelegramOutboxRepository
from store.telegram_updates import HandledUpdateRepository
from store.turn_close import EnvelopeWrite, StateWrite, TurnCloseRepository
from store.users import UserRepository

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
async def closing(database):
    db = await open_database(database)
    users = UserRepository(db)
    yield db, users, TurnCloseRepository(db, HandledUpdateRepository(db), users, TelegramOutboxRepository(db))
    await db.close()


async def close(db: Database, repo: TurnCloseRepository, update_id: int | None, state: StateWrite | None,
                envelope: EnvelopeWrite | None) -> tuple[bool, int | None]:
    """As a turn that wrote nothing else closes (handlers/telegram/turn.py)."""
    async with db.unit("turn"):
        return await repo.close(update_id, NOW, state, envelope)


async def envelopes(db: Database) -> list[tuple[int, str, str, dict]]:
    rows = await db.fetchall("SELECT chat_id, kind, status, payload FROM telegram_outbox ORDER BY id")
    return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]


async def test_the_mark_the_state_and_the_envelope_are_written_together(closing):
    db, users, repo = closing
    replies = {"messages": [{"html": "Сәлем"}]}
    marked, envelope_id = await close(db, repo, 7001, StateWrite(42, "tp_iin", {"step": 1}),
                                      EnvelopeWrite(42, "messages", replies, NOW.timestamp() + 30))
    assert marked and envelope_id is not None
    assert await db.fetchval("SELECT count(*) FROM telegram_updates WHERE update_id = 7001") == 1
    state = await users.state(42)
    assert (state.state, state.data) == ("tp_iin", {"step": 1})
    assert await envelopes(db) == [(42, "messages", "sending", replies)]
    assert await db.fetchval("SELECT lease_until FROM telegram_outbox WHERE id = ?", (envelope_id,)) \
        == NOW.timestamp() + 30


async def test_an_update_marked_already_writes_nothing_more(closing):
    """Another attempt at the same update (another replica) committed first: neither its state nor its replies
    are written a second time."""
    db, users, repo = closing
    first = {"messages": [{"html": "бірінші"}]}
    assert (await close(db, repo, 7002, StateWrite(43, "menu", {}), EnvelopeWrite(43, "messages", first, 1.0)))[0]
    again = await close(db, repo, 7002, StateWrite(43, "tp_code", {"number": "x"}),
                        EnvelopeWrite(43, "messages", {"messages": [{"html": "екінші"}]}, 1.0))
    assert again == (False, None)
    assert (await users.state(43)).state == "menu"
    assert await envelopes(db) == [(43, "messages", "sending", first)]


async def test_without_an_update_or_replies_only_what_is_given_is_written(closing):
    db, users, repo = closing
    assert await close(db, repo, None, StateWrite(44, "menu", {}), None) == (True, None)
    assert (await users.state(44)).state == "menu"
    assert await close(db, repo, 7003, None, None) == (True, None)
    assert await db.fetchval("SELECT count(*) FROM telegram_updates WHERE update_id = 7003") == 1
    assert await close(db, repo, None, None, None) == (True, None)
    assert await envelopes(db) == []
