"""The Telegram outbox's job in the worker (bot/core/worker.py): claim the envelopes that are due, hold them under
a lease while the channel delivers them, and give back what was not attempted when the worker stops.

The channel (handlers/telegram/envelopes.py) renders and sends one envelope and settles it; this module knows no
Telegram. A few envelopes are claimed at a time, so that other workers take the rest meanwhile; their lease is
renewed in the background while they are delivered (``BatchLease``), so that one held up (behind the others of
its batch, by a 429, by a slow registry) is not taken over and sent twice. An envelope this worker no longer
holds is left to the sender that took it over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.clock import Clock
from bot.config import Settings
from bot.core.outbox import TelegramOutbox
from bot.core.worker import Job
from store.telegram_outbox import Envelope

log = logging.getLogger(__name__)

# Envelopes claimed at a time: each worker takes a few, so that several workers share a queue (and the last of a
# batch does not wait long behind the others).
CLAIM_BATCH = 10
# How long a stopping worker waits for the delivery on its way to finish (one message, or a 429's pause).
STOP_GRACE_SECONDS = 5.0

Deliver = Callable[[Envelope], Awaitable[None]]


class BatchLease:
    """The lease on a claimed batch, renewed every third of it while the batch is being delivered. ``holds``
    says whether an envelope may still be sent: this sender still has it, and its lease is not in its last third
    (which would mean the renewals fail: the database does not answer, and another sender may take it over)."""

    def __init__(self, outbox: TelegramOutbox, clock: Clock, batch: list[Envelope], lease_seconds: float) -> None:
        self._outbox, self._clock, self._lease = outbox, clock, lease_seconds
        self._ids = {envelope.id for envelope in batch}
        self._until = batch[0].lease_until or 0.0  # one value for the whole batch (its claim)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BatchLease:
        self._task = asyncio.create_task(self._renew_every(), name="telegram-outbox-lease")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def give_back(self, ids: list[int]) -> None:
        """Put envelopes of the batch that were not attempted back in the queue (this worker stops)."""
        held = [envelope_id for envelope_id in ids if envelope_id in self._ids]
        try:
            await self._outbox.give_back(held, self._until)
        except Exception:  # they wait for their lease to run out instead
            log.warning("claimed Telegram outbox envelopes could not be put back in the queue", exc_info=True)
        self._ids.difference_update(held)

    def holds(self, envelope_id: int) -> bool:
        left = self._until - self._clock.now().timestamp()
        return envelope_id in self._ids and left > self._lease / 3

    async def _renew_every(self) -> None:
        while self._ids:
            await asyncio.sleep(self._lease / 3)
            try:
                kept, until = await self._outbox.renew(sorted(self._ids), self._until, self._lease)
            except Exception:  # the lease runs on; ``holds`` stops the sends before it ends
                log.warning("the lease of a Telegram outbox batch could not be renewed", exc_info=True)
                continue
            self._ids &= kept  # settled, back in the queue, or taken over: no longer this sender's
            self._until = until


class OutboxWorker:
    """The job that delivers the Telegram outbox, once the channel has said how (``deliver_with``)."""

    def __init__(self, outbox: TelegramOutbox, clock: Clock, settings: Settings) -> None:
        self._outbox, self._clock, self._s = outbox, clock, settings
        self._deliver: Deliver | None = None
        self.job = Job("telegram", self._pass, lambda: settings.telegram_worker_idle_seconds,
                       grace=STOP_GRACE_SECONDS)
        outbox.wakes(self.job.wake)

    def deliver_with(self, deliver: Deliver) -> None:
        """How the channel renders, sends and settles one claimed envelope."""
        self._deliver = deliver

    def hold(self, batch: list[Envelope]) -> BatchLease:
        """The lease on ``batch`` (claimed by this process), renewed while it is delivered."""
        return BatchLease(self._outbox, self._clock, batch, self._s.telegram_lease_seconds)

    async def _pass(self) -> float:
        await self.process_due()
        return self._s.telegram_worker_idle_seconds

    async def process_due(self) -> int:
        """Deliver every envelope that is due. Returns how many were attempted."""
        assert self._deliver is not None, "deliver_with() first"
        lease = self._s.telegram_lease_seconds
        attempted = 0
        while not self.job.stopping:
            batch = await self._outbox.claim_due(lease, CLAIM_BATCH)
            if not batch:
                break
            async with self.hold(batch) as held:
                if self.job.stopping:  # back to the queue at once, for the other workers
                    await held.give_back([e.id for e in batch])
                    break
                # Each envelope of a claim is the head of its own chat's queue: different chats, delivered side by
                # side (a slow render, or one chat's 429, does not hold up the others; the pace is the limiter's).
                results = await asyncio.gather(*(self._deliver_held(held, e) for e in batch), return_exceptions=True)
                for envelope, result in zip(batch, results, strict=True):
                    if isinstance(result, BaseException):
                        log.error("delivering envelope %s failed", envelope.id, exc_info=result)
                    elif result:
                        attempted += 1
        return attempted

    async def _deliver_held(self, held: BatchLease, envelope: Envelope) -> bool:
        if not held.holds(envelope.id):
            log.warning("envelope %s is no longer held (its lease could not be renewed, or another sender took it "
                        "over): not sent here", envelope.id)
            return False
        assert self._deliver is not None
        await self._deliver(envelope)
        return True
