"""Sending an SMS: written to the outbox first, then handed to the gateway — now, or later by the worker.

Why an outbox: an SMS is a promise (a code someone waits for, a reply, a legal notice). It is stored before
any attempt, so a crash or a gateway outage loses nothing; the worker retries 429 / 5xx / timeouts with
growing backoff, up to a bound, then marks the message failed with the reason. What the gateway accepted
(status sent) is never sent again. Interactive messages (codes, replies) go before notices, and a global
per-minute cap makes messages wait in the queue rather than be dropped. Notices to a phone that sent STOP
are kept as failed ("suppressed") and not sent; interactive messages still are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import timedelta
from typing import Literal

from bot.clock import Clock
from bot.config import Settings
from bot.domain.phone import mask_phone
from bot.gateways.sms import PermanentSmsError, SmsGateway, TemporarySmsError
from store.sms_inbound import SmsPhoneRepository
from store.sms_outbox import OutboxMessage, SmsOutboxRepository

log = logging.getLogger(__name__)

SUPPRESSED = "suppressed: the phone sent STOP"
CAP_WINDOW_SECONDS = 60.0

Outcome = Literal["sent", "retry", "failed", "capped", "taken"]


class SmsService:
    def __init__(self, outbox: SmsOutboxRepository, gateway: SmsGateway, clock: Clock, settings: Settings,
                 phones: SmsPhoneRepository) -> None:
        self._outbox = outbox
        self._gateway = gateway
        self._clock = clock
        self._s = settings
        self._phones = phones
        self._cap_lock = asyncio.Lock()  # check-the-cap-then-claim must not interleave between senders
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._stopping = False

    # Sending -----------------------------------------------------------------------------------------------

    async def send(self, to: str, text: str, kind: str = "interactive") -> str:
        """Store the message, then try once right away (unless the cap or waiting replies say otherwise).

        The immediate attempt keeps a code's latency at one gateway round trip; anything that does not go
        through now is left to the worker.
        """
        message_id = uuid.uuid4().hex
        now = self._clock.now()
        if kind == "notice" and await self._phones.opted_out(to):
            await self._outbox.add(message_id, to, text, kind, now, status="failed", error=SUPPRESSED)
            log.info("SMS notice %s to %s suppressed (STOP)", message_id, mask_phone(to))
            return message_id
        await self._outbox.add(message_id, to, text, kind, now)
        if kind != "notice" or not await self._outbox.interactive_waiting(now.timestamp()):
            await self._try(OutboxMessage(message_id, to, text, kind, "queued", 0))
        self._wake.set()
        return message_id

    async def may_reply(self, phone: str) -> bool:
        """Whether an inbound SMS from ``phone`` still gets an answer: at most QYZMET_SMS_REPLIES_PER_PHONE_HOUR
        codes and replies an hour, so that a phone (or a loop between two automatic responders) cannot make
        the service send without end. What the SMS asks is still done."""
        since = self._clock.now() - timedelta(hours=1)
        return await self._outbox.interactive_since(phone, since) < self._s.sms_replies_per_phone_hour

    async def retry_queued(self) -> int:
        """Attempt every queued message that is due (interactive first). Returns how many were attempted."""
        attempted, _ = await self.process_due()
        return attempted

    async def process_due(self) -> tuple[int, float]:
        """One pass of the worker: attempts made, and seconds until something may be due again."""
        attempted = 0
        while not self._stopping:
            batch = await self._outbox.due(self._clock.now().timestamp(), limit=50)
            if not batch:
                break
            for message in batch:
                if self._stopping:
                    break
                outcome = await self._try(message)
                if outcome == "capped":
                    return attempted, await self._cap_wait()
                if outcome != "taken":
                    attempted += 1
        return attempted, await self._idle_wait()

    async def _try(self, message: OutboxMessage) -> Outcome:
        """One attempt at one message, if the global cap allows and nobody else holds it."""
        async with self._cap_lock:
            now_ts = self._clock.now().timestamp()
            count, _ = await self._outbox.attempts_since(now_ts - CAP_WINDOW_SECONDS)
            if count >= self._s.sms_global_per_minute:
                return "capped"
            if not await self._outbox.claim(message.id, now_ts):
                return "taken"
        attempts = message.attempts + 1
        try:
            gateway_id = await self._gateway.send(message.id, message.to_phone, message.text)
        except PermanentSmsError as exc:
            await self._outbox.mark(message.id, "failed", self._clock.now(), str(exc))
            log.error("SMS %s to %s refused by the gateway: %s", message.id, mask_phone(message.to_phone), exc)
            return "failed"
        except (TemporarySmsError, OSError, asyncio.TimeoutError) as exc:
            return await self._after_temporary(message, attempts, exc)
        except Exception as exc:  # noqa: BLE001 - a gateway bug must not lose the message: retry it
            log.exception("SMS gateway error for %s", message.id)
            return await self._after_temporary(message, attempts, exc)
        await self._outbox.mark(message.id, "sent", self._clock.now(), None, gateway_id)
        return "sent"

    async def _after_temporary(self, message: OutboxMessage, attempts: int, exc: BaseException) -> Outcome:
        now = self._clock.now()
        reason = str(exc) or type(exc).__name__
        if attempts >= self._s.sms_max_attempts:
            await self._outbox.mark(message.id, "failed", now, f"gave up after {attempts} attempts: {reason}")
            log.error("SMS %s to %s failed after %d attempts: %s", message.id, mask_phone(message.to_phone),
                      attempts, reason)
            return "failed"
        delay = self.backoff(attempts)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            delay = max(delay, retry_after)
        await self._outbox.mark(message.id, "queued", now, reason, next_attempt_at=now.timestamp() + delay)
        log.warning("SMS %s to %s not sent yet (%s); retry in %.2fs", message.id, mask_phone(message.to_phone),
                    reason, delay)
        self._wake.set()
        return "retry"

    def backoff(self, attempts: int) -> float:
        """Delay after the n-th failed attempt: base, 2·base, 4·base, … up to the maximum."""
        return min(self._s.sms_backoff_max_seconds, self._s.sms_backoff_base_seconds * 2 ** (attempts - 1))

    async def _cap_wait(self) -> float:
        now_ts = self._clock.now().timestamp()
        _, oldest = await self._outbox.attempts_since(now_ts - CAP_WINDOW_SECONDS)
        wait = (oldest + CAP_WINDOW_SECONDS - now_ts) if oldest is not None else 0.0
        return min(max(wait, 0.01), self._s.sms_worker_idle_seconds)

    async def _idle_wait(self) -> float:
        next_due = await self._outbox.next_due_at()
        if next_due is None:
            return self._s.sms_worker_idle_seconds
        return min(max(next_due - self._clock.now().timestamp(), 0.01), self._s.sms_worker_idle_seconds)

    # Worker ------------------------------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def start_worker(self) -> None:
        if self._worker is None:
            self._stopping = False
            self._worker = asyncio.create_task(self._run(), name="sms-outbox-worker")

    async def stop_worker(self, timeout: float = 5.0) -> None:
        """Let the attempt in progress finish (so its outcome is recorded), then stop."""
        task, self._worker = self._worker, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(task, timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._stopping = False  # retry_queued() still works without the worker

    async def _run(self) -> None:
        requeued = await self._outbox.requeue_interrupted()
        if requeued:
            log.warning("%d SMS were interrupted mid-attempt and are queued again", requeued)
        while not self._stopping:
            self._wake.clear()
            try:
                _, wait = await self.process_due()
            except Exception:  # noqa: BLE001 - the worker must outlive one bad pass (a locked database…)
                log.exception("SMS worker pass failed")
                wait = self._s.sms_worker_idle_seconds
            if self._stopping:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
