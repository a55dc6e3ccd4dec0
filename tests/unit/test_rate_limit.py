"""The limiter's promise, in isolation: when the shared pace is exhausted, a reply waiting for a token gets it
before every broadcast message already waiting; a 429 pauses that chat and the bulk traffic, not other replies."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from telegram.error import RetryAfter

from bot.gateways.telegram_rate_limit import BULK, PriorityRateLimiter


async def test_interactive_goes_before_waiting_bulk():
    limiter = PriorityRateLimiter(overall_rate=20.0, bulk_rate=20.0, per_chat_interval=0.0)
    order: list[str] = []

    def call(label: str, chat: int, bulk: bool):
        async def callback() -> bool:
            order.append(label)
            return True
        return limiter.process_request(callback, (), {}, "sendMessage", {"chat_id": chat},
                                       {"priority": BULK} if bulk else None)

    # Drain the burst, so that everybody has to wait for the next tokens.
    await asyncio.gather(*(call("warm", 1, False) for _ in range(20)))
    order.clear()
    bulk = [asyncio.create_task(call(f"bulk{i}", 100 + i, True)) for i in range(6)]
    await asyncio.sleep(0.01)  # the bulk calls are queued first …
    await call("reply", 2, False)  # … the reply still goes first
    await asyncio.gather(*bulk)
    assert order[0] == "reply", order


async def test_retry_after_pauses_the_chat_and_bulk_but_not_other_replies():
    limiter = PriorityRateLimiter(overall_rate=1000.0, bulk_rate=1000.0, per_chat_interval=0.0)
    attempts: list[tuple[str, float]] = []
    first = True

    async def flooded() -> bool:
        nonlocal first
        attempts.append(("chat1", time.monotonic()))
        if first:
            first = False
            raise RetryAfter(1)
        return True

    async def other() -> bool:
        attempts.append(("chat2", time.monotonic()))
        return True

    async def bulk() -> bool:
        attempts.append(("bulk", time.monotonic()))
        return True

    t0 = time.monotonic()
    task = asyncio.create_task(limiter.process_request(flooded, (), {}, "sendMessage", {"chat_id": 1}, None))
    await asyncio.sleep(0.05)
    await limiter.process_request(other, (), {}, "sendMessage", {"chat_id": 2}, None)
    await limiter.process_request(bulk, (), {}, "sendMessage", {"chat_id": 3}, {"priority": BULK})
    await task
    labels = [label for label, _ in attempts]
    assert labels == ["chat1", "chat2", "chat1", "bulk"] or labels == ["chat1", "chat2", "bulk", "chat1"]
    # Ordering, not timing: the retried message and the bulk one both came after the other chat's reply.
    assert limiter.stats["retry_after"] == 1 and attempts[1][1] - t0 < attempts[-1][1] - t0


async def test_replies_never_queue_for_the_pace_they_put_the_broadcast_in_debt_instead():
    limiter = PriorityRateLimiter(overall_rate=20.0, bulk_rate=20.0, per_chat_interval=0.0)
    sent: list[str] = []

    def call(label: str, chat: int, bulk: bool, endpoint: str = "sendMessage"):
        async def callback() -> bool:
            sent.append(label)
            return True
        return limiter.process_request(callback, (), {}, endpoint, {"chat_id": chat},
                                       {"priority": BULK} if bulk else None)

    for _ in range(20):  # the burst is spent: the next token comes in 50 ms
        await call("warm", 1, False)
    broadcast = asyncio.create_task(call("bulk", 100, True))
    for i in range(10):  # ten replies over ~0.1 s: each goes at once, on credit …
        await call(f"reply{i}", 2 + i, False)
        await call(f"answer{i}", 2 + i, False, endpoint="answerCallbackQuery")  # (not a message: no token)
        await asyncio.sleep(0.01)
    # … and their debt (≈ 0.5 s at 20/s) holds back the broadcast message that was waiting before them.
    assert "bulk" not in sent, sent
    await broadcast
    assert sent[-1] == "bulk"


async def test_the_interval_between_broadcast_messages_to_a_chat_does_not_hold_a_reply_to_it():
    """A broadcast message to a chat keeps the next broadcast message to that chat an interval away; a reply (or a
    notice) to the chat goes at once: only a 429 on its chat holds a reply, as in the shared pace."""
    limiter = PriorityRateLimiter(overall_rate=1000.0, bulk_rate=1000.0, per_chat_interval=60.0)
    sent: list[str] = []

    def call(label: str, bulk: bool):
        async def callback() -> bool:
            sent.append(label)
            return True
        return limiter.process_request(callback, (), {}, "sendMessage", {"chat_id": 1},
                                       {"priority": BULK} if bulk else None)

    await call("bulk", True)
    await asyncio.wait_for(call("reply", False), 5)  # held, it would wait the whole minute
    assert sent == ["bulk", "reply"]
    assert limiter._local_bulk(1) > 0  # the next broadcast message to the chat still keeps the interval


def _reply(limiter: PriorityRateLimiter, chat: int, sent: list[tuple[str, float]], label: str,
           flooded_once: bool = False, bulk: bool = False):
    """One sendMessage through the limiter; with ``flooded_once`` its first try gets a 429 (retry after 1 s)."""
    tries = 0

    async def callback() -> bool:
        nonlocal tries
        tries += 1
        if flooded_once and tries == 1:
            raise RetryAfter(timedelta(seconds=1))
        sent.append((label, time.monotonic()))
        return True
    return limiter.process_request(callback, (), {}, "sendMessage", {"chat_id": chat},
                                   {"priority": BULK} if bulk else None)


async def test_a_429_on_the_second_message_of_an_answer_holds_that_chat_only_not_the_broadcast():
    """The certificate, then the menu at once: Telegram's limit of about one message a second in a chat answers
    the menu with 429. That is the chat's own limit: the menu waits out retry_after alone, the broadcast (to other
    chats) goes on meanwhile, and the bulk pace is not paused."""
    limiter = PriorityRateLimiter(overall_rate=1000.0, bulk_rate=1000.0, per_chat_interval=1.0)
    sent: list[tuple[str, float]] = []
    t0 = time.monotonic()
    await _reply(limiter, 1, sent, "certificate")
    menu = asyncio.create_task(_reply(limiter, 1, sent, "menu", flooded_once=True))
    await asyncio.sleep(0.05)
    await asyncio.gather(*(_reply(limiter, 100 + i, sent, f"bulk{i}", bulk=True) for i in range(3)))
    await _reply(limiter, 2, sent, "other reply")
    await menu
    labels = [label for label, _ in sent]
    assert labels[0] == "certificate" and labels[-1] == "menu", labels
    assert {"bulk0", "bulk1", "bulk2", "other reply"} == set(labels[1:-1])
    assert sent[-1][1] - t0 >= 0.9  # the menu did wait it out
    assert limiter.stats["retry_after_chat"] == 1


async def test_a_429_on_a_chat_not_just_answered_still_pauses_the_broadcast():
    """A reply to a chat that had no message a moment ago gets 429: the bot's overall limit, so bulk gives way."""
    limiter = PriorityRateLimiter(overall_rate=1000.0, bulk_rate=1000.0, per_chat_interval=1.0)
    sent: list[tuple[str, float]] = []
    t0 = time.monotonic()
    reply = asyncio.create_task(_reply(limiter, 1, sent, "reply", flooded_once=True))
    await asyncio.sleep(0.05)
    await _reply(limiter, 100, sent, "bulk", bulk=True)
    await reply
    assert sorted(label for label, _ in sent) == ["bulk", "reply"]
    assert min(at for _, at in sent) - t0 >= 0.9  # the broadcast message waited out the pause too
    assert limiter.stats["retry_after"] == 1 and limiter.stats["retry_after_chat"] == 0
