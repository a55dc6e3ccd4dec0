"""One pace for every Bot API call, replies first.

Telegram allows a bot about 30 messages a second overall and about one a second in one chat. Every message
the bot sends takes a token from ONE global bucket set below that limit (QYZMET_TELEGRAM_RATE). A citizen's
reply never waits for a token — it takes one on credit, and the debt is what broadcast traffic then waits
out (a burst of replies pauses the broadcast instead of queueing the replies; if replies alone exceed the
limit, Telegram's 429 says so and is honoured per chat). Calls that are not messages (answerCallbackQuery,
getMe, setMyCommands, …) take no token. Broadcast messages are marked ``rate_limit_args={"priority": "bulk"}``:
they also
take a token from their own bucket (QYZMET_BROADCAST_RATE), keep one second between two messages to the same
chat, and — the point of the design — wait while any interactive call is waiting, so a citizen's reply
always goes out before the next broadcast message (replies before bulk, as in courier).

A 429 answer is honoured for its retry_after: the chat it concerned waits that long, bulk traffic steps back
for that long, other citizens' replies go on. Except a 429 on a reply to a chat this process sent a message less
than QYZMET_TELEGRAM_PER_CHAT_INTERVAL ago (the second message of one answer, say): that is the chat's own limit
(about one message a second in a chat), so only that chat waits — the broadcast goes on.

A bulk request may carry ``before_send``, an async callable awaited after the token is granted and just before
the HTTP call: the broadcast ledger marks the recipient 'sending' there, so that 'sending' means "the call may
have reached Telegram" and nothing else.

With a Redis URL (QYZMET_REDIS_URL) the same decisions are made in Redis for all replicas together
(redis_pace.py): one overall budget, one bulk budget, one second per chat for bulk, replies first, and a 429 seen
by any replica pausing bulk everywhere. If Redis cannot be reached, this process decides alone (a warning in the
log) and asks Redis again every few seconds: citizens keep getting answers, at worst at N times the pace.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from functools import partial
from typing import Any

from redis.exceptions import RedisError
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot.gateways.telegram_redis_pace import RedisPace
from bot.redis_client import connect

log = logging.getLogger(__name__)

BULK = "bulk"
REDIS_TIMEOUT = 1.0  # seconds: a Redis that does not answer within this (one retry at once) is taken as down
REDIS_RETRY = 5.0  # seconds between two tries of a Redis that was down


class SendAborted(Exception):
    """``before_send`` said no (the recipient unsubscribed or blocked the bot meanwhile): nothing was sent."""


class _Bucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, burst)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def wait_time(self, now: float) -> float:
        self.tokens = min(self.capacity, self.tokens + max(now - self.stamp, 0.0) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1

    def borrow(self) -> None:
        """Take a token even when none is left; the debt (bounded to a few seconds) delays the next waiter."""
        self.tokens = max(self.tokens - 1, -2 * self.capacity)


def retry_after_seconds(exc: RetryAfter) -> float:
    value = getattr(exc, "_retry_after", None)  # a timedelta in PTB 22; reading .retry_after may warn
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(exc.retry_after)  # type: ignore[arg-type]


class PriorityRateLimiter(BaseRateLimiter[dict]):
    def __init__(self, overall_rate: float = 29.0, bulk_rate: float = 25.0, per_chat_interval: float = 1.0,
                 max_retries: int = 10, redis_url: str | None = None, redis_prefix: str = "qyzmet:",
                 redis_retry: float = REDIS_RETRY) -> None:
        self._overall = _Bucket(overall_rate, burst=overall_rate)
        # A tenth of a second of burst: the pace holds on average without losing the time each sleep overshoots.
        self._bulk = _Bucket(min(bulk_rate, overall_rate), burst=bulk_rate / 10)
        self._per_chat_interval = per_chat_interval
        self._max_retries = max_retries
        self._interactive_waiting = 0
        self._chat_free_at: dict[int, float] = {}  # a 429 holds the chat until then (replies and bulk alike)
        self._bulk_gap_until: dict[int, float] = {}  # the next bulk message to the chat waits until then
        self._bulk_paused_until = 0.0
        self._replied_at: dict[int, float] = {}  # chat -> when this process last sent it a reply message
        self._chat_held_until: dict[int, float] = {}  # chat -> until when a 429 of its own limit holds it
        self.stats: Counter[str] = Counter()
        # The pace shared through Redis, when configured; while it is down (_probe waits for it to come back) this
        # process decides alone with the buckets above.
        self.shared = None if not redis_url else RedisPace(
            connect(redis_url, timeout=REDIS_TIMEOUT, retries=1), redis_prefix + "pace:",
            (self._overall.rate, self._overall.capacity), (self._bulk.rate, self._bulk.capacity), per_chat_interval)
        self._redis_retry = redis_retry
        self._probe: asyncio.Task[None] | None = None
        self._bulk_turn = asyncio.Lock()
        self._waiter_ids = (f"{uuid.uuid4().hex[:12]}:{n}" for n in itertools.count())

    @property
    def sharing(self) -> bool:
        """True while the decisions are made in Redis, for all replicas."""
        return self.shared is not None and self._probe is None

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None
        if self.shared is not None:
            await self.shared.client.aclose()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        options = rate_limit_args or {}
        bulk = options.get("priority") == BULK
        before_send: Callable[[], Awaitable[bool]] | None = options.get("before_send")
        chat_id = _chat(data)
        waiter = next(self._waiter_ids)
        attempt = 0
        while True:
            if bulk:
                await self._admit_bulk(chat_id)
            else:
                await self._admit_interactive(waiter, chat_id, _is_message(endpoint))
            if before_send is not None and attempt == 0 and not await before_send():
                raise SendAborted()
            try:
                result = await callback(*args, **kwargs)
                self.stats["bulk" if bulk else "interactive"] += 1
                if not bulk and chat_id is not None and _is_message(endpoint):
                    self._note_reply(chat_id, time.monotonic())
                return result
            except RetryAfter as exc:
                attempt += 1
                delay = retry_after_seconds(exc)
                self.stats["retry_after"] += 1
                now = time.monotonic()
                if not bulk and chat_id is not None and self._chat_own_limit(chat_id, now):
                    # This chat had a message a moment ago: its own limit, not the bot's overall one. It alone
                    # waits (here: the rest of this answer comes from this process); the broadcast goes on.
                    self._chat_held_until[chat_id] = max(self._chat_held_until.get(chat_id, 0.0), now + delay)
                    self.stats["retry_after_chat"] += 1
                    log.info("429 on %s (interactive, the chat's own limit): retry after %.1fs", endpoint, delay)
                    if attempt > self._max_retries:
                        raise
                    continue
                if chat_id is not None:
                    self._chat_free_at[chat_id] = max(self._chat_free_at.get(chat_id, 0.0), now + delay)
                    if len(self._chat_free_at) > 10_000:  # keep memory flat
                        self._chat_free_at = {c: t for c, t in self._chat_free_at.items() if t > now}
                # The overall limit (or a 429 not tied to the chat's own pace): broadcast traffic gives way for
                # that long; replies do not wait.
                self._bulk_paused_until = max(self._bulk_paused_until, now + delay)
                await self._ask_shared(partial(RedisPace.pause, chat_id=chat_id, seconds=delay))  # … everywhere
                log.info("429 on %s (%s): retry after %.1fs", endpoint, "bulk" if bulk else "interactive", delay)
                if attempt > self._max_retries:
                    raise

    async def _ask_shared(self, ask: Callable[[RedisPace], Awaitable[Any]]) -> Any:
        """The shared pace's answer; None without Redis, or while it is down (this process decides then)."""
        if self.shared is None or self._probe is not None:
            return None
        try:
            return await ask(self.shared)
        except (RedisError, OSError) as exc:
            self.stats["redis_errors"] += 1
            if self._probe is None:
                log.warning("Redis cannot be reached (%s): the Telegram pace is this process's alone until it is "
                            "back", type(exc).__name__)
                self._probe = asyncio.create_task(self._wait_for_redis(self.shared))
            return None

    async def _wait_for_redis(self, shared: RedisPace) -> None:
        """Ask Redis again every few seconds, in the background: no citizen's reply waits for these tries."""
        while True:
            await asyncio.sleep(self._redis_retry)
            try:
                await shared.client.ping()
            except (RedisError, OSError):
                continue
            log.warning("Redis is back: the Telegram pace is shared by all replicas again")
            self._probe = None
            return

    async def _admit_interactive(self, waiter: str, chat_id: int | None, message: bool) -> None:
        if chat_id is None and not message:
            return  # nothing to pace
        while (held := self._held_wait(chat_id)) > 0:  # its chat's own limit: it waits alone, holding nobody back
            await asyncio.sleep(held)
        self._interactive_waiting += 1
        try:
            while True:
                wait = await self._ask_shared(lambda pace: pace.interactive(waiter, chat_id, message))
                if wait is None:
                    wait = self._local_interactive(chat_id, message)
                if wait <= 0:
                    return
                await asyncio.sleep(wait)  # only a 429 on this chat holds a reply
        finally:
            self._interactive_waiting -= 1

    async def _admit_bulk(self, chat_id: int | None) -> None:
        while True:
            if (held := self._held_wait(chat_id)) > 0:  # a reply's 429 holds this chat: it alone waits
                await asyncio.sleep(held)
                continue
            # One bulk sender of this process at a time asks; a wait that holds for every chat (no token yet, a
            # pause, a reply waiting) it waits out before the next one asks. A wait for its own chat it waits
            # alone. (In-process decisions never wait inside the turn: they go as before.)
            async with self._bulk_turn:
                answer = await self._ask_shared(lambda pace: pace.bulk(chat_id))
                wait, everyone = (self._local_bulk(chat_id), False) if answer is None else (answer[0], not answer[1])
                if wait <= 0:
                    return
                if everyone:
                    await asyncio.sleep(wait)
                    continue
            await asyncio.sleep(wait)

    # The in-process pace: one decision each, 0 = granted, else the seconds to wait before asking again.

    def _chat_wait(self, chat_id: int | None, now: float) -> float:
        if chat_id is None:
            return 0.0
        return max(self._chat_free_at.get(chat_id, 0.0) - now, 0.0)

    def _local_interactive(self, chat_id: int | None, message: bool) -> float:
        now = time.monotonic()
        if (wait := self._chat_wait(chat_id, now)) > 0:
            return wait
        if message:
            self._overall.wait_time(now)  # refill up to now, then take on credit
            self._overall.borrow()
        return 0.0

    def _local_bulk(self, chat_id: int | None) -> float:
        now = time.monotonic()
        gap = max(self._bulk_gap_until.get(chat_id, 0.0) - now, 0.0) if chat_id is not None else 0.0
        wait = max(self._overall.wait_time(now), self._bulk.wait_time(now), self._chat_wait(chat_id, now), gap,
                   self._bulk_paused_until - now)
        if wait > 0 or self._interactive_waiting:
            return max(wait, 0.002)  # interactive calls waiting: look again very soon, they take the tokens first
        self._overall.take()
        self._bulk.take()
        if chat_id is not None and self._per_chat_interval > 0:
            self._remember_gap(chat_id, now + self._per_chat_interval, now)
        return 0.0

    def _remember_gap(self, chat_id: int, until: float, now: float) -> None:
        """The interval between two broadcast messages to one chat: it holds bulk traffic only (a reply to the
        chat does not wait for it, as in the shared pace)."""
        self._bulk_gap_until[chat_id] = until
        if len(self._bulk_gap_until) > 10_000:  # keep memory flat over a long broadcast
            self._bulk_gap_until = {c: t for c, t in self._bulk_gap_until.items() if t > now}

    def _note_reply(self, chat_id: int, now: float) -> None:
        self._replied_at[chat_id] = now
        if len(self._replied_at) > 10_000:  # only the last interval matters
            self._replied_at = {c: t for c, t in self._replied_at.items() if now - t < self._per_chat_interval}
            self._chat_held_until = {c: t for c, t in self._chat_held_until.items() if t > now}

    def _chat_own_limit(self, chat_id: int, now: float) -> bool:
        """A 429 now on this chat is its own limit: this process sent it a reply less than the interval ago."""
        return now - self._replied_at.get(chat_id, -math.inf) < self._per_chat_interval

    def _held_wait(self, chat_id: int | None) -> float:
        if chat_id is None:
            return 0.0
        return max(self._chat_held_until.get(chat_id, 0.0) - time.monotonic(), 0.0)


def _is_message(endpoint: str) -> bool:
    """Calls that put something in a chat count against Telegram's message limits; the rest do not."""
    return endpoint.startswith(("send", "edit", "copy", "forward"))


def _chat(data: dict[str, Any]) -> int | None:
    raw = data.get("chat_id")
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None
