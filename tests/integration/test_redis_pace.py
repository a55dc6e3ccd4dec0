"""The Telegram pace shared through Redis: two limiters on one Redis stand for two replicas. Assertions are on
counts and order (with margins computed from the rates), never on how long one call took."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from telegram.error import RetryAfter

from bot.gateways.telegram_rate_limit import BULK, PriorityRateLimiter
from bot.gateways.telegram_redis_pace import POLL
from tests import engines
from tests.engines import REDIS_URL

needs_redis = pytest.mark.skipif(not REDIS_URL, reason="QYZMET_TEST_REDIS is not set: no Redis to share a pace in")


@pytest.fixture
async def replicas():
    """make(**limiter options) -> a new limiter on the test's own key prefix; all closed, their keys deleted."""
    prefix = engines.redis_prefix()
    made: list[PriorityRateLimiter] = []

    def make(url: str = REDIS_URL, **options) -> PriorityRateLimiter:
        limiter = PriorityRateLimiter(redis_url=url, redis_prefix=prefix, **options)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.shutdown()
    if REDIS_URL:
        await engines.drop_redis_keys(prefix)


async def _run_for(seconds: float, tasks: list[asyncio.Task], t0: float) -> float:
    """Let the senders run, stop them (a grant counted is a grant made before the end), return the time taken."""
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - t0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return elapsed


async def stored(limiter: PriorityRateLimiter, name: str) -> None:
    """Until the shared key ``name`` exists (a 429 reaches Redis a moment after the call that got it)."""
    assert limiter.shared is not None
    while not await limiter.shared.client.exists(limiter.shared.key(name)):
        await asyncio.sleep(0.01)


def send(limiter: PriorityRateLimiter, chat: int, bulk: bool, log: list[str] | None = None, label: str = ""):
    async def callback() -> bool:
        if log is not None:
            log.append(label)
        return True
    return limiter.process_request(callback, (), {}, "sendMessage", {"chat_id": chat},
                                   {"priority": BULK} if bulk else None)


@needs_redis
async def test_two_replicas_hold_one_overall_rate_replies_and_bulk_together(replicas):
    rate = 20.0
    a, b = (replicas(overall_rate=rate, bulk_rate=rate, per_chat_interval=0.0) for _ in range(2))
    for i in range(int(rate)):  # spend the shared second of burst: the bucket starts empty
        await send(a, 1000 + i, bulk=False)
    granted: Counter[str] = Counter()

    async def bulk_sender(limiter: PriorityRateLimiter, name: str, chats: int) -> None:
        while True:
            chats += 1
            await send(limiter, chats, bulk=True)
            granted[name] += 1

    async def replies() -> None:  # citizens' replies on A, about a third of the rate
        chat = 0
        while True:
            chat += 1
            await send(a, chat, bulk=False)
            granted["replies"] += 1
            await asyncio.sleep(3 / rate)

    t0 = time.monotonic()
    tasks = [asyncio.create_task(bulk_sender(limiter, name, 10_000 * (k + 1) + 1000 * n))
             for n, (limiter, name) in enumerate(((a, "bulk_a"), (b, "bulk_b"))) for k in range(5)]
    tasks.append(asyncio.create_task(replies()))
    elapsed = await _run_for(1.0, tasks, t0)
    total = sum(granted.values())
    # One budget: what refilled over the window, plus the bulk bucket's tenth of a second and a reply or two
    # taken on credit at the end. Two budgets (one per replica) would allow about twice as much.
    assert total <= rate * elapsed + 5, (granted, elapsed)
    assert total >= rate * elapsed / 4, (granted, elapsed)
    assert granted["bulk_a"] > 0 and granted["bulk_b"] > 0 and granted["replies"] > 0, granted
    assert a.stats["redis_errors"] == b.stats["redis_errors"] == 0


@needs_redis
async def test_a_reply_on_one_replica_goes_before_the_broadcast_waiting_on_the_other(replicas):
    a, b = (replicas(overall_rate=20.0, bulk_rate=20.0, per_chat_interval=0.0) for _ in range(2))
    order: list[str] = []
    for i in range(30):  # replies on A put the shared budget half a second into debt (20 burst + 10 on credit)
        await send(a, 1000 + i, bulk=False)
    broadcast = [asyncio.create_task(send(b, 100 + i, True, order, f"bulk{i}")) for i in range(4)]
    await asyncio.sleep(0.05)  # the broadcast messages are waiting on B …
    await send(a, 2, False, order, "reply")  # … a reply on A does not: it takes its token on credit
    await asyncio.gather(*broadcast)
    assert order[0] == "reply", order
    assert sorted(order[1:]) == [f"bulk{i}" for i in range(4)]


@needs_redis
async def test_a_429_on_one_replica_pauses_bulk_on_the_other_and_holds_that_chat(replicas):
    a, b = (replicas(overall_rate=1000.0, bulk_rate=1000.0, per_chat_interval=0.0) for _ in range(2))
    tries = 0

    async def flooded() -> bool:
        nonlocal tries
        tries += 1
        raise RetryAfter(timedelta(seconds=30))

    held = asyncio.create_task(a.process_request(flooded, (), {}, "sendMessage", {"chat_id": 1},
                                                 {"priority": BULK}))
    await stored(a, "chat:1:429")
    assert b.shared is not None and tries == 1
    # Decisions made on B, as Redis answers them (not timed): bulk waits out the pause (30 s minus moments) …
    assert (await b.shared.bulk(3))[0] > 20
    # … a reply to the chat the 429 was about waits too, a reply to any other chat goes at once.
    assert await b.shared.interactive("w1", 1, message=True) > 20
    assert await b.shared.interactive("w2", 4, message=True) == 0
    held.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await held


@needs_redis
async def test_a_reply_held_by_a_429_is_granted_before_bulk_on_the_other_replica_when_the_pause_ends(replicas):
    a, b = (replicas(overall_rate=1000.0, bulk_rate=1000.0, per_chat_interval=0.0) for _ in range(2))
    assert a.shared is not None and b.shared is not None
    await a.shared.pause(1, 0.2)  # a 429 on chat 1: bulk everywhere and chat 1 wait 0.2 s
    assert await a.shared.interactive("reply", 1, message=True) > 0  # the reply to chat 1 waits, and says so
    while await b.shared.client.exists(b.shared.key("paused")):
        await asyncio.sleep(0.02)
    # The pause is over, but the reply has not asked again yet: bulk on B still gives way to it …
    assert await b.shared.bulk(3) == (POLL, False)
    assert await a.shared.interactive("reply", 1, message=True) == 0
    assert await b.shared.bulk(3) == (0, False)  # … and goes once the reply has had its token.


@needs_redis
async def test_bulk_keeps_the_interval_per_chat_across_replicas(replicas):
    c, d = (replicas(overall_rate=1000.0, bulk_rate=1000.0, per_chat_interval=30.0) for _ in range(2))
    await send(c, 5, bulk=True)
    assert d.shared is not None
    wait, this_chat = await d.shared.bulk(5)
    assert wait > 15 and this_chat  # the chat C just wrote to is not free on D (as Redis answers it) …
    assert await d.shared.bulk(6) == (0, False)  # … another chat is
    held = asyncio.create_task(send(d, 5, bulk=True))  # waits 30 s for chat 5, outside D's bulk turn …
    await asyncio.wait_for(send(d, 9, bulk=True), 10)  # … so D's message to chat 9 does not queue behind it
    held.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await held
    interval = 0.25
    a, b = (replicas(overall_rate=1000.0, bulk_rate=1000.0, per_chat_interval=interval) for _ in range(2))
    per_chat: Counter[int] = Counter()

    async def sender(limiter: PriorityRateLimiter, chat: int) -> None:
        while True:
            await send(limiter, chat, bulk=True)
            per_chat[chat] += 1

    t0 = time.monotonic()
    tasks = [asyncio.create_task(sender(limiter, chat)) for limiter in (a, b) for chat in (7, 8) for _ in range(3)]
    elapsed = await _run_for(1.0, tasks, t0)
    for chat in (7, 8):  # six senders on two replicas, yet one message per interval to each chat
        assert 1 <= per_chat[chat] <= elapsed / interval + 1, (per_chat, elapsed)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


async def test_without_redis_the_process_paces_alone_and_still_answers(replicas, caplog):
    limiter = replicas(url=f"redis://127.0.0.1:{_closed_port()}/0", overall_rate=100.0, bulk_rate=100.0,
                       per_chat_interval=0.0, redis_retry=60.0)
    sent: list[str] = []
    with caplog.at_level(logging.WARNING, logger="bot.gateways.telegram_rate_limit"):
        for i in range(3):
            await send(limiter, 10 + i, False, sent, f"reply{i}")
            await send(limiter, 20 + i, True, sent, f"bulk{i}")
    assert len(sent) == 6
    assert limiter.stats["redis_errors"] == 1  # one failed try, then local decisions until Redis is back
    assert [r.message for r in caplog.records].count(
        "Redis cannot be reached (ConnectionError): the Telegram pace is this process's alone until it is back") == 1


class _Proxy:
    """A TCP relay in front of the test Redis that can be taken down and brought back on the same port."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 6379
        self.listen_port = _closed_port()
        self.url = f"redis://127.0.0.1:{self.listen_port}{parts.path}"
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.listen_port)

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self._writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@needs_redis
async def test_redis_down_then_back_falls_back_and_shares_again(replicas, caplog):
    proxy = _Proxy(REDIS_URL)
    await proxy.up()
    a = replicas(url=proxy.url, overall_rate=1000.0, bulk_rate=1000.0, per_chat_interval=30.0, redis_retry=0.05)
    b = replicas(overall_rate=1000.0, bulk_rate=1000.0, per_chat_interval=30.0)
    assert b.shared is not None
    sent: list[str] = []
    with caplog.at_level(logging.WARNING, logger="bot.gateways.telegram_rate_limit"):
        await send(a, 5, True, sent, "shared")
        assert (await b.shared.bulk(5))[0] > 0  # A's message to chat 5 is known to B
        await proxy.down()
        await send(a, 6, True, sent, "alone")  # Redis gone: A still sends, on its own pace …
        await send(a, 7, False, sent, "reply")
        assert await b.shared.bulk(6) == (0, False)  # … which B does not see
        await proxy.up()
        assert not a.sharing
        while not a.sharing:  # the background probe finds Redis again (it tries every 0.05 s here)
            await asyncio.sleep(0.02)
        await send(a, 8, True, sent, "shared again")
        assert (await b.shared.bulk(8))[0] > 0
    await proxy.down()
    assert sent == ["shared", "alone", "reply", "shared again"]
    messages = [r.message for r in caplog.records]
    assert any(m.startswith("Redis cannot be reached") for m in messages)
    assert "Redis is back: the Telegram pace is shared by all replicas again" in messages


@needs_redis
async def test_a_429_on_a_chat_just_answered_holds_that_chat_and_no_broadcast_anywhere(replicas):
    """The second message of an answer gets 429 from the chat's own limit (about one a second): replica A holds
    that chat alone; nothing is paused in Redis, so bulk on B goes on."""
    a, b = (replicas(overall_rate=1000.0, bulk_rate=1000.0, per_chat_interval=1.0) for _ in range(2))
    assert a.shared is not None and b.shared is not None
    await send(a, 1, bulk=False)  # the certificate
    tries = 0

    async def menu() -> bool:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise RetryAfter(timedelta(seconds=1))
        return True

    held = asyncio.create_task(a.process_request(menu, (), {}, "sendMessage", {"chat_id": 1}, None))
    while a.stats["retry_after"] == 0:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # a pause would be in Redis by now
    assert not await b.shared.client.exists(b.shared.key("paused"))
    assert await b.shared.bulk(3) == (0, False)
    await held
    assert tries == 2 and a.stats["retry_after_chat"] == 1
