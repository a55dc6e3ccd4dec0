"""Sending an SMS: written to the outbox in the unit of work that owes it, then handed to the gateway by the
worker, which the commit wakes.

Why an outbox: an SMS is a promise (a code someone waits for, a reply, a legal notice). It is stored in the
same transaction as the decision, so a crash or a gateway outage loses nothing and nothing is sent for a
decision that was rolled back; the worker claims a message with a lease, retries 429 / 5xx / timeouts with
growing backoff, up to a bound, then marks the message failed with the reason. What the gateway accepted
(status sent) is never sent again; a message whose sender died mid-attempt is posted again with the same id
once its lease runs out (the gateway contract makes the id an idempotency key), unless it expired meanwhile
(a code nobody can use). Interactive messages (codes, replies) go before notices, and a global per-minute cap
makes messages wait in the queue rather than be dropped. Notices to a phone that sent STOP are kept as failed
("suppressed") and not sent; interactive messages still are.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Literal

from bot import faults
from bot.clock import Clock
from bot.config import Settings
from bot.core.worker import Job
from bot.domain.phone import mask_phone
from bot.domain.retry import backoff
from bot.gateways.sms_gateway import PermanentSmsError, SmsGateway, TemporarySmsError
from bot.i18n import Lang, as_lang
from bot.metrics import Metrics, on_commit
from store.db import Database
from store.sms_inbound import SmsPhoneRepository
from store.sms_outbox import OutboxMessage, SmsOutboxRepository
from store.users import UserRepository

log = logging.getLogger(__name__)

SUPPRESSED = "suppressed: the phone sent STOP"
CAP_WINDOW_SECONDS = 60.0

# Other processes hear of a queued notice on this channel (store.db.Database.notify): the workers' wake-up.
WAKE_CHANNEL = "qyzmet_sms_outbox"

Outcome = Literal["sent", "retry", "failed", "capped", "taken"]


class SmsService:
    def __init__(self, db: Database, outbox: SmsOutboxRepository, gateway: SmsGateway, clock: Clock,
                 settings: Settings, phones: SmsPhoneRepository, users: UserRepository,
                 metrics: Metrics | None = None) -> None:
        self._db = db
        self._metrics = metrics or Metrics()
        self._outbox = outbox
        self._users = users
        self._gateway = gateway
        self._clock = clock
        self._s = settings
        self._phones = phones
        self._attempts_in_flight = 0
        self._none_in_flight = asyncio.Event()  # set while no attempt of this process is between claim and settle
        self._none_in_flight.set()
        # The worker's job (bot/core/worker.py): the messages due, after their commit, a retry or a lease.
        self.job = Job("sms", self._pass, lambda: self._s.sms_worker_idle_seconds)

    # Sending -----------------------------------------------------------------------------------------------

    async def send(self, to: str, text: str, kind: str = "interactive", expires_at: float | None = None) -> str:
        """Write the message in the current unit of work; the worker sends it once the unit has committed.
        ``expires_at`` (unix seconds): not worth sending after it (a code)."""
        message_id = uuid.uuid4().hex
        now = self._clock.now()
        if kind == "notice" and await self._phones.opted_out(to):
            await self._outbox.add(message_id, to, text, kind, now, status="failed", error=SUPPRESSED)
            on_commit(self._db, lambda: self._metrics.sms_reached("suppressed"))
            log.info("SMS notice %s to %s suppressed (STOP)", message_id, mask_phone(to))
            return message_id
        await self._outbox.add(message_id, to, text, kind, now, expires_at=expires_at)
        unit = self._db.current_unit()
        assert unit is not None  # the add above has raised NoUnitOfWork otherwise
        if kind == "notice":
            unit.after_commit(self.job.wake)
            await self._db.notify(WAKE_CHANNEL)  # a worker in another process
        else:
            # A code or a reply: its first attempt right after the commit keeps its latency at one gateway round
            # trip (the worker takes it over if that attempt does not go through).
            message = OutboxMessage(message_id, to, text, kind, "queued", 0, None, expires_at)

            async def attempt() -> None:
                if await self._try(message) == "capped":  # the worker sends it when the cap allows
                    self.job.wake()

            unit.after_commit(attempt)
        return message_id

    async def language_for(self, phone: str, iin: str | None, fallback: str | None) -> Lang:
        """The one rule for the language of an SMS to a person: the language their phone last wrote a keyword
        in, else the bot language of their Telegram account (linked to their IIN), else ``fallback``, else the
        state language."""
        lang = await self._phones.language(phone)
        if lang is None and iin is not None:
            user_id = await self._users.linked_user(iin)
            lang = await self._users.language(user_id) if user_id is not None else None
        return as_lang(lang or fallback)

    async def apply_receipt(self, message_id: str, status: str, reason: str | None) -> bool | None:
        """A delivery receipt from the gateway. None: unknown id; False: already final, nothing changed."""
        async with self._db.unit("sms/receipt"):
            applied = await self._outbox.apply_receipt(message_id, status, reason, self._clock.now())
            if applied:
                on_commit(self._db, lambda: self._metrics.sms_reached(status))
            return applied

    async def may_reply(self, phone: str) -> bool:
        """Whether an inbound SMS from ``phone`` still gets an answer: at most QYZMET_SMS_REPLIES_PER_PHONE_HOUR
        codes and replies an hour, so that a phone (or a loop between two automatic responders) cannot make
        the service send without end. What the SMS asks is still done."""
        if self._db.current_unit() is not None:  # the count and the reply it allows are one decision
            await self._db.serialize(f"sms-replies:{phone}")
        since = self._clock.now() - timedelta(hours=1)
        cap = self._s.sms_replies_per_phone_hour
        return await self._outbox.interactive_since(phone, since, cap) < cap

    async def retry_queued(self) -> int:
        """Attempt every queued message that is due (interactive first), then wait for this process's other
        attempts (the worker's, a code's first attempt) to settle too: afterwards nothing due is left in flight
        here. Returns how many this call attempted."""
        attempted, _ = await self.process_due()
        await self._none_in_flight.wait()
        return attempted

    async def process_due(self) -> tuple[int, float]:
        """One pass of the worker: attempts made, and seconds until something may be due again."""
        attempted = 0
        while not self.job.stopping:
            batch = await self._outbox.due(self._clock.now().timestamp(), limit=50)
            if not batch:
                break
            for message in batch:
                if self.job.stopping:
                    break
                outcome = await self._try(message)
                if outcome == "capped":
                    return attempted, await self._cap_wait()
                if outcome != "taken":
                    attempted += 1
        return attempted, await self._idle_wait()

    async def _try(self, message: OutboxMessage) -> Outcome:
        """One attempt at one message, if the global cap allows and nobody else holds it."""
        self._attempts_in_flight += 1
        self._none_in_flight.clear()
        try:
            return await self._attempt(message)
        finally:
            self._attempts_in_flight -= 1
            if not self._attempts_in_flight:
                self._none_in_flight.set()

    async def _attempt(self, message: OutboxMessage) -> Outcome:
        async with self._db.unit("sms/claim"):  # the cap check and the claim are one transaction
            await self._db.serialize("sms-global-cap")  # ... and one claim at a time, across replicas too
            now_ts = self._clock.now().timestamp()
            if message.expires_at is not None and message.expires_at <= now_ts:
                await self._outbox.expire(message.id, self._clock.now())
                on_commit(self._db, lambda: self._metrics.sms_reached("failed"))
                return "failed"
            count, _ = await self._outbox.attempts_since(now_ts - CAP_WINDOW_SECONDS, self._s.sms_global_per_minute)
            if count >= self._s.sms_global_per_minute:
                return "capped"
            if not await self._outbox.claim(message.id, now_ts, self._lease_seconds()):
                return "taken"
        attempts = message.attempts + 1
        try:
            gateway_id = await self._gateway.send(message.id, message.to_phone, message.text)
        except PermanentSmsError as exc:
            await self._mark(message.id, "failed", str(exc))
            log.error("SMS %s to %s refused by the gateway: %s", message.id, mask_phone(message.to_phone), exc)
            return "failed"
        except (TimeoutError, TemporarySmsError, OSError) as exc:
            return await self._after_temporary(message, attempts, exc)
        except Exception as exc:
            log.exception("SMS gateway error for %s", message.id)
            return await self._after_temporary(message, attempts, exc)
        faults.point("before_settle", ("sms",))
        await self._mark(message.id, "sent", None, gateway_id)
        return "sent"

    async def _mark(self, message_id: str, status: str, error: str | None, gateway_id: str | None = None) -> None:
        async with self._db.unit("sms/settle"):
            await self._outbox.settle(message_id, status, self._clock.now(), error, gateway_id)
            on_commit(self._db, lambda: self._metrics.sms_reached(status))

    def _lease_seconds(self) -> float:
        """Long enough for one gateway call to end one way or the other (its timeout), with a margin."""
        return self._s.sms_gateway_timeout_seconds * 2 + 1

    async def _after_temporary(self, message: OutboxMessage, attempts: int, exc: BaseException) -> Outcome:
        now = self._clock.now()
        reason = str(exc) or type(exc).__name__
        if attempts >= self._s.sms_max_attempts:
            await self._mark(message.id, "failed", f"gave up after {attempts} attempts: {reason}")
            log.error("SMS %s to %s failed after %d attempts: %s", message.id, mask_phone(message.to_phone),
                      attempts, reason)
            return "failed"
        delay = self.backoff(attempts)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            delay = max(delay, retry_after)
        async with self._db.unit("sms/retry"):
            await self._outbox.retry_later(message.id, now.timestamp() + delay, reason, now)
        log.warning("SMS %s to %s not sent yet (%s); retry in %.2fs", message.id, mask_phone(message.to_phone),
                    reason, delay)
        self.job.wake()
        return "retry"

    def backoff(self, attempts: int) -> float:
        return backoff(attempts, self._s.sms_backoff_base_seconds, self._s.sms_backoff_max_seconds)

    async def _cap_wait(self) -> float:
        now_ts = self._clock.now().timestamp()
        _, oldest = await self._outbox.attempts_since(now_ts - CAP_WINDOW_SECONDS, self._s.sms_global_per_minute)
        wait = (oldest + CAP_WINDOW_SECONDS - now_ts) if oldest is not None else 0.0
        return min(max(wait, 0.01), self._s.sms_worker_idle_seconds)

    async def _idle_wait(self) -> float:
        next_due = await self._outbox.next_due_at()
        if next_due is None:
            return self._s.sms_worker_idle_seconds
        return min(max(next_due - self._clock.now().timestamp(), 0.01), self._s.sms_worker_idle_seconds)

    # Worker ------------------------------------------------------------------------------------------------

    def wake(self) -> None:
        self.job.wake()

    async def _pass(self) -> float:
        return (await self.process_due())[1]
