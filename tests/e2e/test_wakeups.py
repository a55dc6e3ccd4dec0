"""A web replica wakes the workers of another process at once (PostgreSQL LISTEN/NOTIFY): a notice it owes by
SMS and a broadcast an operator starts on it are sent although the worker would not look again for an hour.
On SQLite one process does both, and wakes its own workers."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.broadcast import Audience
from tests import engines
from tests.harness import CITIZENS
from tests.ophelp import add_subscribers, received
from tests.repos import notify
from tests.webhook_harness import WebhookHarness

pytestmark = pytest.mark.skipif(not engines.on_postgres(),
                                reason="wake-ups between processes are PostgreSQL's NOTIFY; SQLite serves one process")

AN_HOUR = 3600.0
OPERATOR = 9101


async def eventually(check, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not within the wait")


@pytest.fixture
async def web_and_worker(emu, database):
    web = WebhookHarness(emu, database, run_workers=False, operators=str(OPERATOR))
    worker = WebhookHarness(emu, database, receive_updates=False, seed=False, operators=str(OPERATOR),
                            sms_worker_idle_seconds=AN_HOUR, broadcast_poll_seconds=AN_HOUR)
    worker.gateway.listeners.append(web.phone.receive)  # the web harness's phone reads what the worker sends
    await web.start()
    await worker.start()
    try:
        yield web, worker
    finally:
        await worker.close()
        await web.close()


async def test_a_notice_owed_on_a_web_replica_is_sent_by_the_sleeping_worker_at_once(web_and_worker):
    web, _ = web_and_worker
    citizen = CITIZENS["Сергей"]
    params = {"number": "QZ-261124-0000102", "status": {"text": "status.in_progress"},
              "service": {"text": "service.sanatorium_conclusion.short"},
              "due": {"when": "2026-11-25T13:30:00+00:00"}, "_open": "app:QZ-261124-0000102"}
    assert await notify(web.services, "notice.app_status", params, iin=citizen["iin"]) == "sms"

    async def sent() -> bool:
        return bool(web.phone.inbox.get(citizen["phone"]))

    await eventually(sent)
    assert "QZ-261124-0000102" in web.phone.last(citizen["phone"])


async def test_a_broadcast_started_on_a_web_replica_is_sent_by_the_sleeping_worker_at_once(web_and_worker, emu):
    web, _ = web_and_worker
    assert web.services is not None
    await add_subscribers(web, [9201, 9202], "ru")
    broadcast = await web.services.broadcasts.create(OPERATOR, "Хабарландыру", "Объявление", Audience("all"))

    async def done() -> bool:
        counts = await web.services.broadcasts.counts(broadcast.id)
        return counts["sent"] == 2

    await eventually(done)
    assert received(web, 9201) == received(web, 9202) == ["Объявление"]
