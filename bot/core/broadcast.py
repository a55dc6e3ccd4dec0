"""Broadcasts from operators to subscribers: audience, preview, the delivery ledger and the worker.

Path of one broadcast: an operator (Telegram) or the deployer (`qyzmet broadcast`) previews an audience
(recipient count), confirms, and ``create`` writes the broadcast and its ledger (INSERT … SELECT, one row per
recipient, status 'queued'). The worker, started with the bot, takes broadcasts in status 'sending' and walks
their queued recipients in keyset pages. For each recipient it asks the channel's ``Deliverer`` to send; the
deliverer calls ``before_send`` right before the network call, which moves the row to 'sending' only if the
person is still subscribed and not blocked. Then the outcome settles the row: sent / failed / blocked /
skipped. A message that certainly did not leave (Telegram could not be reached at all) goes back to 'queued'
and is tried again on a later pass, with a growing pause, up to a bound. A stop or crash can leave rows
'sending': on the next start they become 'unknown' and are never sent again (a broadcast must not reach anyone
twice); the rest simply continues.

The channel does the sending and the progress reports (handlers/telegram/op_broadcast.py); this module knows
no Telegram.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot.clock import Clock
from bot.config import Settings
from bot.core.staff import StaffService
from bot.core.worker import Job
from bot.domain.catalog import SERVICES
from bot.domain.retry import backoff
from bot.metrics import Metrics, on_commit
from store.broadcasts import Broadcast, BroadcastRepository, Recipient
from store.db import Database, Held
from store.subscriptions import SubscriptionRepository

log = logging.getLogger(__name__)

# Other processes hear of a new or cancelled broadcast on this channel (store.db.Database.notify).
WAKE_CHANNEL = "qyzmet_broadcasts"

MAX_TEXT = 4000  # Telegram's 4096 minus room for escaping


@dataclass(frozen=True)
class Audience:
    kind: str  # 'all' | 'lang' | 'service'
    value: str | None = None

    @property
    def code(self) -> str:
        return self.kind if self.value is None else f"{self.kind}:{self.value}"


def parse_audience(text: str) -> Audience:
    """'all', 'lang:kk', 'lang:ru' or 'service:<code>'; ValueError otherwise."""
    kind, _, value = text.strip().partition(":")
    if kind == "all" and not value:
        return Audience("all")
    if kind == "lang" and value in ("kk", "ru"):
        return Audience("lang", value)
    if kind == "service" and value in SERVICES:
        return Audience("service", value)
    raise ValueError(f"unknown audience {text!r}: use all, lang:kk, lang:ru or service:<code> "
                     f"({', '.join(SERVICES)})")


def text_for(broadcast: Broadcast, lang: str | None) -> str:
    """The recipient's language when there is a text in it, the other one otherwise."""
    if lang == "ru":
        return broadcast.text_ru or broadcast.text_kk or ""
    return broadcast.text_kk or broadcast.text_ru or ""


# Outcomes of one delivery attempt -----------------------------------------------------------------------

@dataclass(frozen=True)
class Sent:
    message_id: int


@dataclass(frozen=True)
class Blocked:
    reason: str  # the person blocked the bot or the account is deactivated (403)


@dataclass(frozen=True)
class Failed:
    error: str  # definitely not delivered (bad request, chat not found, gave up after 429s)


@dataclass(frozen=True)
class Unknown:
    error: str  # may or may not have been delivered (timeout after the request left)


@dataclass(frozen=True)
class NotSent:
    error: str  # certainly did not leave (no connection to Telegram): safe to try again later


@dataclass(frozen=True)
class Skipped:
    reason: str  # not sent: unsubscribed or blocked by send time


Outcome = Sent | Blocked | Failed | Unknown | NotSent | Skipped
_OUTCOME_NAMES: dict[type, str] = {Sent: "sent", Blocked: "blocked", Failed: "failed", Unknown: "unknown",
                                   NotSent: "not_sent", Skipped: "skipped"}  # the metrics' labels
MAX_ATTEMPTS = 5  # tries of a recipient whose messages never left, before it is marked failed
BeforeSend = Callable[[], Awaitable[bool]]


class Deliverer(Protocol):
    async def deliver(self, user_id: int, text: str, before_send: BeforeSend) -> Outcome:
        """Send ``text``; await ``before_send()`` just before the network call and send only if it is True."""


@dataclass(frozen=True)
class Progress:
    broadcast: Broadcast
    counts: dict[str, int]
    rate: float  # messages sent per second over the last report interval
    final: bool

    @property
    def left(self) -> int:
        return self.counts["queued"] + self.counts["sending"]


class Reporter(Protocol):
    async def started(self, broadcast: Broadcast) -> None: ...

    async def progress(self, progress: Progress) -> None: ...


class LogReporter:
    """For broadcasts without an operator chat (the command line): progress goes to the log."""

    async def started(self, broadcast: Broadcast) -> None:
        log.info("broadcast %s: sending to %s recipients", broadcast.id, _count(broadcast.total))

    async def progress(self, progress: Progress) -> None:
        counts = ", ".join(f"{status} {_count(n)}" for status, n in progress.counts.items())
        log.info("broadcast %s: %s, %.1f msg/s%s", progress.broadcast.id, counts, progress.rate,
                 " (final)" if progress.final else "")


def _count(n: int) -> str:
    """1,000,000: grouped, which an operator reads at a glance, and which the log masking does not take for a
    one-time code (six digits in a row)."""
    return f"{n:,}"


class BroadcastService:
    def __init__(self, db: Database, repo: BroadcastRepository, subscriptions: SubscriptionRepository,
                 staff: StaffService, clock: Clock, settings: Settings, metrics: Metrics | None = None) -> None:
        self._db = db
        self._metrics = metrics or Metrics()
        self._repo = repo
        self._subs = subscriptions
        self._staff = staff
        self._clock = clock
        self._settings = settings
        self._cancelled: set[int] = set()
        self._not_sent = 0  # in the current pass: messages that could not leave (retried on the next pass)
        self.retry_pause = 1.0  # seconds before the first retry pass; doubles up to a minute
        self._held: Held | None = None  # this process is the broadcast sender while it holds this
        self.resumed_at: float | None = None  # monotonic time the worker resumed an interrupted broadcast
        self._resuming = False  # the hold was just taken: a broadcast found now was interrupted
        self._deliverer: Deliverer | None = None
        self._reporter_for: Callable[[Broadcast], Reporter] | None = None
        # The worker's job (bot/core/worker.py); it runs once the channel has given its deliverer (deliver_with).
        self.job = Job("broadcasts", self._pass, lambda: settings.broadcast_poll_seconds, finish=self._release,
                       grace=3.0)

    @property
    def repo(self) -> BroadcastRepository:
        return self._repo

    async def preview(self, audience: Audience) -> int:
        return await self._repo.count_audience(audience.kind, audience.value)

    async def includes(self, audience: Audience, user_id: int) -> bool:
        """Whether ``user_id`` (e.g. the operator sending it) is one of the audience's recipients: staff are
        citizens too, subscribed like anyone, so they receive (and are counted in) what they send."""
        return await self._repo.in_audience(audience.kind, audience.value, user_id)

    async def create(self, actor: int | str, text_kk: str | None, text_ru: str | None, audience: Audience,
                     report_chat_id: int | None = None) -> Broadcast:
        text_kk, text_ru = (text_kk or "").strip() or None, (text_ru or "").strip() or None
        if not text_kk and not text_ru:
            raise ValueError("a broadcast needs a text in at least one language")
        for text in (text_kk, text_ru):
            if text and len(text) > MAX_TEXT:
                raise ValueError(f"a broadcast text is limited to {MAX_TEXT} characters")
        async with self._db.unit("broadcast/create"):
            # A Telegram user must be staff; the command line (a string actor) is the deployer.
            if isinstance(actor, int) and not await self._staff.is_operator(actor):
                raise PermissionError("only operators create broadcasts")
            broadcast = await self._repo.create(str(actor), self._clock.now(), text_kk, text_ru, audience.code,
                                                audience.kind, audience.value, report_chat_id)
            await self._staff.audit(actor, "broadcast_create", details={
                "broadcast": broadcast.id, "audience": audience.code, "recipients": broadcast.total,
                "languages": [lang for lang, t in (("kk", text_kk), ("ru", text_ru)) if t]})
            await self._db.notify(WAKE_CHANNEL)  # the sender may be a worker in another process
        self.job.wake()
        return broadcast

    async def cancel(self, actor: int | str, broadcast_id: int) -> bool:
        async with self._db.unit("broadcast/cancel"):
            if isinstance(actor, int) and not await self._staff.is_operator(actor):
                return False
            cancelled = await self._repo.cancel(broadcast_id, self._clock.now())
            await self._staff.audit(actor, "broadcast_cancel", details={"broadcast": broadcast_id,
                                                                         "cancelled": cancelled})
            await self._db.notify(WAKE_CHANNEL)
        self._cancelled.add(broadcast_id)
        self.job.wake()
        return cancelled

    async def recent(self, limit: int = 20) -> list[Broadcast]:
        return await self._repo.recent(limit)

    async def get(self, broadcast_id: int) -> Broadcast | None:
        return await self._repo.get(broadcast_id)

    async def counts(self, broadcast_id: int) -> dict[str, int]:
        return await self._repo.counts(broadcast_id)

    async def set_progress_message(self, broadcast_id: int, message_id: int) -> None:
        """The operator's progress message, edited as the broadcast goes."""
        async with self._db.unit("broadcast/progress_message"):
            await self._repo.set_progress_message(broadcast_id, message_id)

    # The worker ---------------------------------------------------------------------------------------------

    @property
    def holding(self) -> bool:
        """This process is the one that sends broadcasts now (the others stand by)."""
        return self._held is not None and not self._held.lost

    def wake(self) -> None:
        self.job.wake()

    def deliver_with(self, deliverer: Deliverer, reporter_for: Callable[[Broadcast], Reporter]) -> None:
        """The channel that sends and reports (before the job starts, or while it is stopped)."""
        self._deliverer, self._reporter_for = deliverer, reporter_for

    async def _pass(self) -> float:
        """One process sends broadcasts at a time (the others stand by and take over if it dies): a recipient's
        'sending' mark then always belongs to the sender that recovers it, and the bulk pace is spent once. A
        pass takes the hold (or stands by), then sends the oldest broadcast in status 'sending' to the end."""
        poll = self._settings.broadcast_poll_seconds
        if self._held is not None and self._held.lost:
            if not self.job.stopping:
                log.warning("broadcast worker: the hold on sending broadcasts was lost (its database connection "
                            "ended); another process may take the broadcasts over")
            await self._release()
        if self._held is None:
            held = await self._db.try_hold("broadcast-sender")
            if held is None:
                return poll
            self._held, self._resuming = held, True
            try:
                async with self._db.unit("broadcast/recover"):
                    unknown = await self._repo.recover_interrupted(self._clock.now())
            except Exception:  # stand by again: the worker must outlive the database going away
                await self._release()
                raise
            if unknown:
                log.warning("%s broadcast messages were on their way when the bot stopped: reported as unknown, "
                            "not resent", unknown)
        try:
            broadcast = await self._repo.next_sending()
        except Exception:  # the database did not answer: the worker must outlive it, not end silently
            log.exception("broadcast worker: could not look for broadcasts to send; retrying shortly")
            return poll
        if broadcast is None:
            self._resuming = False
            return poll
        if self._resuming:
            self.resumed_at = time.monotonic()
            self._resuming = False
        assert self._deliverer is not None and self._reporter_for is not None, "deliver_with() first"
        try:
            await self._run(broadcast, self._deliverer, self._reporter_for(broadcast))
        except Exception:
            log.exception("broadcast %s: the worker failed; retrying shortly", broadcast.id)
            return poll
        return 0.0

    async def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            with contextlib.suppress(Exception):
                await held.release()

    async def _sleep_unless_stopped(self, broadcast_id: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop_sending(broadcast_id) and (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.2))

    def _stop_sending(self, broadcast_id: int) -> bool:
        return self.job.stopping or broadcast_id in self._cancelled or self._hold_lost()

    def _hold_lost(self) -> bool:
        """This process is no longer the one sender (its hold's connection ended): another one may have taken
        the broadcast over, with the recipients this one marked 'sending'. It stops taking recipients at once
        and reports nothing: going on beside the other would report twice."""
        return self._held is not None and self._held.lost

    async def _run(self, broadcast: Broadcast, deliverer: Deliverer, reporter: Reporter) -> None:
        with contextlib.suppress(Exception):  # a report that cannot be shown must not stop the delivery
            await reporter.started(broadcast)
        reporting = asyncio.create_task(self._report_every(broadcast, reporter))
        try:
            retries = 0
            while not self._stop_sending(broadcast.id):
                self._not_sent = 0
                done_any = await self._one_pass(broadcast, deliverer)
                if not done_any:
                    break
                if self._not_sent:  # Telegram unreachable for some: wait before the next pass tries them again
                    retries += 1
                    pause = backoff(retries, self.retry_pause, 60.0)
                    log.warning("broadcast %s: %s messages could not leave; trying them again in %.0f s",
                                broadcast.id, self._not_sent, pause)
                    await self._sleep_unless_stopped(broadcast.id, pause)
        finally:
            reporting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporting
        if self.job.stopping or self._hold_lost():
            return  # resumed on the next start, or by the process that holds the sending now
        if broadcast.id not in self._cancelled:
            async with self._db.unit("broadcast/finish"):
                await self._repo.finish(broadcast.id, self._clock.now())
        self._cancelled.discard(broadcast.id)
        final = await self._repo.get(broadcast.id)
        assert final is not None
        with contextlib.suppress(Exception):
            await reporter.progress(Progress(final, await self._repo.counts(broadcast.id), 0.0, final=True))

    async def _one_pass(self, broadcast: Broadcast, deliverer: Deliverer) -> bool:
        """Walk the queued recipients once, a few in flight at a time. True if any was attempted.

        A sender whose settle fails (the database did not answer) ends the pass: the others finish what they
        hold, the rest of the queue is drained unsent, and the error goes up to the worker, which tries again
        shortly. A sender never just dies: the walk would then wait forever for room in the queue."""
        queue: asyncio.Queue[Recipient | None] = asyncio.Queue(maxsize=self._settings.broadcast_concurrency * 2)
        attempted = 0
        failure: Exception | None = None

        async def sender() -> None:
            nonlocal attempted, failure
            while (recipient := await queue.get()) is not None:
                if failure is None and not self._stop_sending(broadcast.id):
                    attempted += 1
                    try:
                        await self._send_one(broadcast, recipient, deliverer)
                    except Exception as exc:
                        failure = failure or exc

        senders = [asyncio.create_task(sender()) for _ in range(self._settings.broadcast_concurrency)]
        try:
            after = 0
            while failure is None and not self._stop_sending(broadcast.id):
                page = await self._repo.queued_page(broadcast.id, after, self._settings.broadcast_page_size)
                if not page:
                    break
                for recipient in page:
                    if failure is not None or self._stop_sending(broadcast.id):
                        break
                    await queue.put(recipient)
                after = page[-1].user_id
            for _ in senders:
                await queue.put(None)
            await asyncio.gather(*senders)
        finally:
            for task in senders:
                task.cancel()
        if failure is not None:
            raise failure
        return attempted > 0

    async def _send_one(self, broadcast: Broadcast, recipient: Recipient, deliverer: Deliverer) -> None:
        repo, user_id, bid = self._repo, recipient.user_id, broadcast.id

        async def before_send() -> bool:
            async with self._db.unit("broadcast/claim"):
                return await repo.mark_sending(bid, user_id, self._clock.now())

        try:
            outcome = await deliverer.deliver(user_id, text_for(broadcast, recipient.lang), before_send)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an unexpected error: count it, go on with the others
            log.exception("broadcast %s: delivery raised", bid)
            outcome = Unknown(type(exc).__name__)
        # Most outcomes are one write, committed by itself (on PostgreSQL one round trip instead of three); a
        # refusal may take two (the person blocked the bot, a failure of a message that never left).
        async with self._db.unit("broadcast/settle"):
            await self._settle(bid, user_id, outcome)

    async def _settle(self, bid: int, user_id: int, outcome: object) -> None:
        repo, now = self._repo, self._clock.now()
        name = _OUTCOME_NAMES.get(type(outcome), "unknown")
        on_commit(self._db, lambda: self._metrics.broadcast_message(name))
        if isinstance(outcome, Sent):
            await repo.settle(bid, user_id, "sent", now, message_id=outcome.message_id)
        elif isinstance(outcome, Blocked):
            await repo.settle(bid, user_id, "blocked", now, error=outcome.reason)
            await self._subs.mark_blocked(user_id, now)
        elif isinstance(outcome, Failed):
            if not await repo.settle(bid, user_id, "failed", now, error=outcome.error):
                await repo.settle(bid, user_id, "failed", now, error=outcome.error, only_from="queued")
        elif isinstance(outcome, Skipped):
            await repo.settle(bid, user_id, "skipped", now, error=outcome.reason, only_from="queued")
        elif isinstance(outcome, NotSent):
            await repo.requeue(bid, user_id, now, outcome.error, MAX_ATTEMPTS)
            self._not_sent += 1
        else:
            assert isinstance(outcome, Unknown)
            await repo.settle(bid, user_id, "unknown", now, error=outcome.error)

    async def _report_every(self, broadcast: Broadcast, reporter: Reporter) -> None:
        interval = self._settings.broadcast_progress_seconds
        last_sent, last_at = None, time.monotonic()
        while True:
            await asyncio.sleep(interval)
            counts = await self._repo.counts(broadcast.id)
            now = time.monotonic()
            rate = 0.0 if last_sent is None else (counts["sent"] - last_sent) / max(now - last_at, 1e-6)
            if last_sent is None:
                rate = counts["sent"] / max(interval, 1e-6) if counts["sent"] else 0.0
            last_sent, last_at = counts["sent"], now
            with contextlib.suppress(Exception):
                await reporter.progress(Progress(broadcast, counts, rate, final=False))
