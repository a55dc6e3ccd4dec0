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
for that long, other citizens' replies go on. A bulk request may carry ``before_send``, an async callable
awaited after the token is granted and just before the HTTP call: the broadcast ledger marks the recipient
'sending' there, so that 'sending' means "the call may have reached Telegram" and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

BULK = "bulk"


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
                 max_retries: int = 10) -> None:
        self._overall = _Bucket(overall_rate, burst=overall_rate)
        # A tenth of a second of burst: the pace holds on average without losing the time each sleep overshoots.
        self._bulk = _Bucket(min(bulk_rate, overall_rate), burst=bulk_rate / 10)
        self._per_chat_interval = per_chat_interval
        self._max_retries = max_retries
        self._interactive_waiting = 0
        self._chat_free_at: dict[int, float] = {}
        self._bulk_paused_until = 0.0
        self.stats: Counter[str] = Counter()

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

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
        attempt = 0
        while True:
            if bulk:
                await self._admit_bulk(chat_id)
            else:
                await self._admit_interactive(chat_id, _is_message(endpoint))
            if before_send is not None and attempt == 0 and not await before_send():
                raise SendAborted()
            try:
                result = await callback(*args, **kwargs)
                self.stats["bulk" if bulk else "interactive"] += 1
                return result
            except RetryAfter as exc:
                attempt += 1
                delay = retry_after_seconds(exc)
                self.stats["retry_after"] += 1
                now = time.monotonic()
                if chat_id is not None:
                    self._chat_free_at[chat_id] = max(self._chat_free_at.get(chat_id, 0.0), now + delay)
                # Whatever the 429 was about, broadcast traffic gives way for that long; replies do not wait.
                self._bulk_paused_until = max(self._bulk_paused_until, now + delay)
                log.info("429 on %s (%s): retry after %.1fs", endpoint, "bulk" if bulk else "interactive", delay)
                if attempt > self._max_retries:
                    raise

    def _chat_wait(self, chat_id: int | None, now: float) -> float:
        if chat_id is None:
            return 0.0
        return max(self._chat_free_at.get(chat_id, 0.0) - now, 0.0)

    async def _admit_interactive(self, chat_id: int | None, message: bool) -> None:
        self._interactive_waiting += 1
        try:
            while (wait := self._chat_wait(chat_id, time.monotonic())) > 0:  # only a 429 on this chat holds it
                await asyncio.sleep(wait)
            if message:
                self._overall.wait_time(time.monotonic())  # refill up to now, then take on credit
                self._overall.borrow()
        finally:
            self._interactive_waiting -= 1

    async def _admit_bulk(self, chat_id: int | None) -> None:
        while True:
            now = time.monotonic()
            wait = max(self._overall.wait_time(now), self._bulk.wait_time(now), self._chat_wait(chat_id, now),
                       self._bulk_paused_until - now)
            if wait <= 0 and self._interactive_waiting == 0:
                self._overall.take()
                self._bulk.take()
                if chat_id is not None and self._per_chat_interval > 0:
                    self._remember_chat(chat_id, now + self._per_chat_interval, now)
                return
            # Interactive calls waiting: look again very soon, they take the tokens first.
            await asyncio.sleep(max(wait, 0.002))

    def _remember_chat(self, chat_id: int, free_at: float, now: float) -> None:
        self._chat_free_at[chat_id] = max(self._chat_free_at.get(chat_id, 0.0), free_at)
        if len(self._chat_free_at) > 10_000:  # keep memory flat over a long broadcast
            self._chat_free_at = {c: t for c, t in self._chat_free_at.items() if t > now}


def _is_message(endpoint: str) -> bool:
    """Calls that put something in a chat count against Telegram's message limits; the rest do not."""
    return endpoint.startswith(("send", "edit", "copy", "forward"))


def _chat(data: dict[str, Any]) -> int | None:
    raw = data.get("chat_id")
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None
