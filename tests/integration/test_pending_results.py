"""The queue of registry questions and the state outbox on a real database (the suite's engine), with the reference
server of the state systems: a worker that died is taken over after its lease, a question is answered once, a stage
is written with its decision or not at all, an application decided otherwise closes its question."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.clock import ShiftedClock
from bot.config import Settings
from bot.core.registry_info import Accepted, Delivered
from bot.core.seed import Seed
from bot.domain.model import Identity
from bot.gateways.sms_gateway import PrintingSmsGateway
from bot.sandbox.state_systems import StateSystemsServer
from bot.services import Services
from tests.harness import CITIZENS, SEED

SERGEY = CITIZENS["Сергей"]
CHAT = 601


@pytest.fixture
async def env(database: str) -> AsyncIterator[tuple[Services, StateSystemsServer, ShiftedClock]]:
    server = StateSystemsServer(SEED)
    await server.start()
    clock = ShiftedClock()
    settings = Settings(database=database, secret_key="k", _env_file=None,
                        directory_url=server.url, registry_url=server.url, monitoring_url=server.url,
                        state_timeout_seconds=0.5, state_attempts=1, state_breaker_failures=100,
                        state_retry_base_seconds=1, state_retry_max_seconds=4)
    services = await Services.open(settings, clock=clock, sms_gateway=PrintingSmsGateway())
    await services.load_seed(Seed.model_validate(SEED))
    yield services, server, clock
    await services.close()
    await server.stop()


def me(clock: ShiftedClock) -> Identity:
    now = clock.now()
    return Identity(CHAT, SERGEY["iin"], SERGEY["phone"], now, now)


async def owed_results(services: Services, number: str) -> int:
    return await services.db.fetchval(
        "SELECT count(*) FROM telegram_outbox WHERE kind = 'registry_result' AND payload LIKE ?", (f"%{number}%",))


async def test_a_dead_workers_question_is_taken_over_after_its_lease_and_answered_once(env):
    services, server, clock = env
    server.set("registries", "fail")
    accepted = await services.own_requests.request_own(me(clock), CHAT, "tb_info")
    assert isinstance(accepted, Accepted)
    number = accepted.app.number
    server.heal()
    clock.advance(seconds=2)
    repo = services.pending_results.repo
    async with services.db.unit("test/dead worker"):  # claimed, then its process died: never settled
        assert [q.number for q in await repo.claim_due(clock.now().timestamp(), 30)] == [number]
    asked, _ = await services.pending_results.process_due()
    assert asked == 0 and await repo.status(number) == "asking"  # its lease still holds
    clock.advance(seconds=31)
    # Two workers at once: the lease lets one of them take it.
    results = await asyncio.gather(services.pending_results.process_due(), services.pending_results.process_due())
    assert sum(asked for asked, _ in results) == 1
    assert await repo.status(number) == "answered"
    assert await owed_results(services, number) == 1
    assert await services.db.fetchval("SELECT count(*) FROM deliveries WHERE number = ?", (number,)) == 1
    await services.pending_results.process_due()
    assert await owed_results(services, number) == 1


async def test_an_application_decided_otherwise_closes_its_question(env):
    services, server, clock = env
    server.set("registries", "fail")
    accepted = await services.own_requests.request_own(me(clock), CHAT, "tb_info")
    assert isinstance(accepted, Accepted)
    async with services.db.unit("test/refuse"):
        await services.db.write("UPDATE applications SET status = 'refused' WHERE number = ?", (accepted.app.number,))
    server.heal()
    clock.advance(seconds=2)
    await services.pending_results.process_due()
    assert await services.pending_results.repo.status(accepted.app.number) == "closed"
    assert await owed_results(services, accepted.app.number) == 0


async def test_a_stage_is_written_with_its_decision_or_not_at_all(env):
    services, _, clock = env
    with pytest.raises(RuntimeError):
        async with services.db.unit("test/outer"):
            delivered = await services.own_requests.request_own(me(clock), CHAT, "tb_info")
            assert isinstance(delivered, Delivered)
            raise RuntimeError("the turn failed after the use case")
    assert await services.db.fetchval("SELECT count(*) FROM state_outbox") == 0
    assert await services.db.fetchval("SELECT count(*) FROM applications WHERE requester_user_id = ?", (CHAT,)) == 0
    delivered = await services.own_requests.request_own(me(clock), CHAT, "tb_info")
    rows = await services.state_outbox.repo.statuses("monitoring")
    assert [key for key, _, _ in rows] == [f"{delivered.app.number}:accepted", f"{delivered.app.number}:result_ready"]


async def test_a_post_refused_by_its_system_is_failed_not_retried(env):
    services, server, _ = env
    async with services.db.unit("test/stage"):
        await services.state_outbox.owe("monitoring", "broken", {"key": "broken"})  # missing fields: 422
    await services.state_outbox.process_due()
    assert await services.state_outbox.repo.statuses("monitoring") == [("broken", "failed", 1)]
    await services.state_outbox.process_due()
    assert server.requests["monitoring"] == 1


async def test_import_with_the_directory_down_rejects_the_line_and_keeps_nothing_of_it(env):
    import json

    from bot.core.feed_import import import_events
    services, server, clock = env
    line = json.dumps({"number": "QZ-261125-0000888", "iin": CITIZENS["Айгерім"]["iin"],
                       "service": "drug_provision", "status": "accepted", "at": clock.now().isoformat()})
    server.set("directory", "fail")
    report = await import_events(services.feed, [line])
    assert report.counts["rejected"] == 1 and "directory" in report.errors[0][1]
    assert await services.db.fetchval("SELECT count(*) FROM applications WHERE number = 'QZ-261125-0000888'") == 0
    server.heal()
    assert (await import_events(services.feed, [line])).counts["created"] == 1
