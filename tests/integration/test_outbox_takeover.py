"""Outboxes under a lease: a sender whose lease ran out (held up, or its database answers came late) may still
report an outcome after another sender took the row over and settled it. That late report changes nothing: it
neither overwrites the settled outcome nor puts the row back in the queue (which would send it a second time),
and a notice's SMS fallback is not sent when the envelope was settled meanwhile. On both engines."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.clock import ShiftedClock
from bot.config import Settings
from bot.core.seed import Seed
from bot.gateways.sms_gateway import PrintingSmsGateway
from bot.services import Services
from tests.harness import CITIZENS, SEED

LEASE = 5.0
SERGEY = CITIZENS["Сергей"]
PARAMS = {"number": "QZ-261124-0000102", "status": {"text": "status.in_progress"},
          "service": {"text": "service.sanatorium_conclusion.short"}, "due": {"when": "2026-11-25T13:30:00+00:00"}}


@pytest.fixture
async def env(database: str) -> AsyncIterator[tuple[Services, ShiftedClock]]:
    clock = ShiftedClock()
    services = await Services.open(Settings(database=database, secret_key="k", _env_file=None), clock=clock,
                                   sms_gateway=PrintingSmsGateway())
    await services.load_seed(Seed.model_validate(SEED))
    yield services, clock
    await services.close()


async def taken_over(services: Services, clock: ShiftedClock, kind: str = "reply",
                     payload: dict | None = None) -> int:
    """An envelope claimed by a first sender, whose lease then ran out, and claimed again by a second one."""
    queue = services.telegram_outbox
    async with services.db.unit("test/owe"):
        envelope_id = await queue.owe(7001, kind, payload or {"messages": [{"text": "Сәлем"}]})
    assert [e.id for e in await queue.claim_due(LEASE, 10)] == [envelope_id]  # the first sender
    clock.advance(seconds=LEASE + 1)
    assert [e.id for e in await queue.claim_due(LEASE, 10)] == [envelope_id]  # the second one takes it over
    return envelope_id


async def envelope(services: Services, envelope_id: int) -> tuple[str, str | None]:
    row = await services.db.fetchone("SELECT status, last_error FROM telegram_outbox WHERE id = ?", (envelope_id,))
    assert row is not None
    return row[0], row[1]


async def test_a_late_sender_neither_overwrites_a_settled_envelope_nor_queues_it_again(env):
    services, clock = env
    queue = services.telegram_outbox
    envelope_id = await taken_over(services, clock)
    assert await queue.settle(envelope_id, "sent") is True  # the second sender delivered it

    await queue.retry_later(envelope_id, 30, "429 Too Many Requests")  # the first sender, late
    assert await queue.settle(envelope_id, "failed", "403 Forbidden") is False
    assert await envelope(services, envelope_id) == ("sent", None)
    clock.advance(seconds=60)
    assert await queue.claim_due(LEASE, 10) == []  # nothing to send again


async def test_a_late_fallback_sends_no_sms_for_an_envelope_settled_meanwhile(env):
    services, clock = env
    params = PARAMS
    envelope_id = await taken_over(services, clock, "notice",
                                   {"key": "notice.app_status", "iin": SERGEY["iin"], "params": params})
    assert await services.telegram_outbox.settle(envelope_id, "sent") is True
    before = await services.db.fetchval("SELECT count(*) FROM sms_outbox")

    outcome = await services.notices.instead_by_sms(envelope_id, SERGEY["iin"], "notice.app_status", params, "ru",
                                                    "403 Forbidden")
    assert outcome == "settled_already"
    assert await services.db.fetchval("SELECT count(*) FROM sms_outbox") == before  # the SMS was rolled back
    assert await envelope(services, envelope_id) == ("sent", None)


async def test_the_fallback_of_an_envelope_still_held_sends_the_sms_and_settles_it(env):
    services, clock = env
    params = PARAMS
    envelope_id = await taken_over(services, clock, "notice",
                                   {"key": "notice.app_status", "iin": SERGEY["iin"], "params": params})
    outcome = await services.notices.instead_by_sms(envelope_id, SERGEY["iin"], "notice.app_status", params, "ru",
                                                    "403 Forbidden")
    assert outcome == "by_sms"
    assert await services.db.fetchval("SELECT count(*) FROM sms_outbox WHERE to_phone = ?", (SERGEY["phone"],)) == 1
    assert await envelope(services, envelope_id) == ("by_sms", "403 Forbidden")


async def test_a_late_state_system_post_neither_overwrites_nor_requeues(env):
    services, clock = env
    repo = services.state_outbox.repo
    async with services.db.unit("test/owe"):
        await repo.add("complaints", "QZ-1", {"text": "…"}, clock.now())
    async with services.db.unit("test/claim"):
        [first] = await repo.claim_due(clock.now().timestamp(), LEASE)
    clock.advance(seconds=LEASE + 1)
    async with services.db.unit("test/claim"):
        [second] = await repo.claim_due(clock.now().timestamp(), LEASE)
    assert first.id == second.id
    async with services.db.unit("test/settle"):
        assert await repo.settle(second.id, "sent", clock.now()) is True
    async with services.db.unit("test/late"):
        await repo.retry_later(first.id, clock.now().timestamp() + 30, "timeout")
        assert await repo.settle(first.id, "failed", clock.now(), "refused") is False
    clock.advance(seconds=60)
    assert await services.db.fetchval("SELECT status FROM state_outbox WHERE id = ?", (first.id,)) == "sent"
    async with services.db.unit("test/claim"):
        assert await repo.claim_due(clock.now().timestamp(), LEASE) == []
