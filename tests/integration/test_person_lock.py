"""The person's lock and the ledger of answered updates that web replicas share (bot/gateways/person_lock.py,
update_ledger.py): against Redis when ``QYZMET_TEST_REDIS`` names one, and without a reachable Redis (the
webhook goes on without them)."""

from __future__ import annotations

import asyncio

import pytest

from bot.gateways.person_lock import LockTimeout, RedisPersonLocks
from bot.gateways.update_ledger import LocalUpdateLedger, RedisUpdateLedger, Seen
from bot.redis_client import connect
from tests import engines

needs_redis = pytest.mark.skipif(not engines.REDIS_URL, reason="QYZMET_TEST_REDIS is not set")
UNREACHABLE = "redis://127.0.0.1:9/0"


@pytest.fixture
async def redis():
    client = connect(engines.REDIS_URL)
    yield client
    await client.aclose()
    await engines.drop_redis_keys(ROOT)


ROOT = engines.redis_prefix()  # this module's keys only: the suite may share its Redis with another run
PREFIX = ROOT + "bot1"  # as bot/app/runner.py names one bot's keys


@needs_redis
async def test_one_person_at_a_time_across_holders(redis):
    replica_a, replica_b = RedisPersonLocks(redis, PREFIX), RedisPersonLocks(redis, PREFIX)  # two processes' views
    inside = asyncio.Event()
    leave = asyncio.Event()
    order: list[str] = []

    async def a() -> None:
        async with replica_a.hold(7):
            order.append("a in")
            inside.set()
            await leave.wait()
            order.append("a out")

    async def b() -> None:
        await inside.wait()
        async with replica_b.hold(7):
            order.append("b in")

    async def other_person() -> None:
        await inside.wait()
        async with replica_b.hold(8):  # someone else is not held up
            order.append("other")
        leave.set()

    await asyncio.gather(a(), b(), other_person())
    assert order == ["a in", "other", "a out", "b in"]
    assert await redis.exists(f"{PREFIX}:lock:person:7") == 0  # released


@needs_redis
async def test_a_lock_is_released_only_by_its_holder_and_times_out(redis):
    locks = RedisPersonLocks(redis, PREFIX, ttl=0.2, wait=0.05)
    await redis.set(f"{PREFIX}:lock:person:9", b"someone-else", px=60_000)
    with pytest.raises(LockTimeout):
        async with locks.hold(9):
            pass
    assert await redis.get(f"{PREFIX}:lock:person:9") == b"someone-else"  # not ours to release
    await redis.delete(f"{PREFIX}:lock:person:9")
    async with locks.hold(9):
        await redis.set(f"{PREFIX}:lock:person:9", b"taken-over")  # as if ours had expired and another took it
    assert await redis.get(f"{PREFIX}:lock:person:9") == b"taken-over"


@needs_redis
async def test_the_ledger_is_shared_and_expires(redis):
    a, b = RedisUpdateLedger(redis, PREFIX), RedisUpdateLedger(redis, PREFIX)
    assert await a.seen(5) == Seen()
    await a.failed(5)
    await a.failed(5)
    assert await b.seen(5) == Seen(answered=False, failures=2)
    await b.answered(5)
    assert (await a.seen(5)).answered
    assert 0 < await redis.ttl(f"{PREFIX}:update:5:answered") <= 86_400


async def test_without_a_reachable_redis_the_webhook_goes_on(caplog):
    client = connect(UNREACHABLE)
    try:
        entered = False
        async with RedisPersonLocks(client).hold(1):
            entered = True
        assert entered
        ledger = RedisUpdateLedger(client)
        assert await ledger.seen(1) == Seen()
        await ledger.answered(1)
        await ledger.failed(1)
    finally:
        await client.aclose()
    assert "handling the update without it" in caplog.text


async def test_the_local_ledger_forgets_the_oldest_first():
    ledger = LocalUpdateLedger(size=3)
    for update_id in range(1, 5):
        await ledger.answered(update_id)
    await ledger.failed(4)  # a later failure of an answered update (a retry that failed) keeps its count
    assert await ledger.seen(1) == Seen()
    assert (await ledger.seen(2)).answered and (await ledger.seen(3)).answered
    assert await ledger.seen(4) == Seen(answered=False, failures=1)
