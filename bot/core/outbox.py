"""What a person must receive in Telegram, owed by a decision and written in the decision's unit of work.

The core names what is owed (a consent outcome for a requester, a consent offer for a data subject, a status
notice, a turn's replies); the Telegram channel renders and delivers it (handlers/telegram/delivery.py), with
the SMS fallback and the 403 handling in one place; the worker's job that claims and holds the envelopes is
bot/core/outbox_worker.py. Nothing medical is ever written here: a certificate is named by its application
number and rendered from the registry when it is delivered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from bot.clock import Clock
from bot.domain.retry import backoff
from bot.metrics import Metrics, on_commit
from store.db import Database
from store.telegram_outbox import Envelope, TelegramOutboxRepository

# Other processes hear of a new envelope on this channel (store.db.Database.notify): the workers' wake-up.
WAKE_CHANNEL = "qyzmet_telegram_outbox"

# Envelope kinds (telegram_outbox.kind)
MESSAGES = "messages"                # a turn's replies, rendered already (no medical content)
NOTICE = "notice"                    # {key, params, iin}: rendered at delivery in the person's language
CONSENT_OUTCOME = "consent_outcome"  # {number, outcome}: result (certificate) or refusal for the requester
CONSENT_OFFER = "consent_offer"      # {number, service, requester_name, requester_iin}: the subject may decide
CERTIFICATE_PDF = "certificate_pdf"  # {number}: the certificate as a PDF, rendered from the registry at delivery
REGISTRY_RESULT = "registry_result"  # {number}: a result the registry gave late (certificate rendered at delivery)


class TelegramOutbox:
    def __init__(self, db: Database, repo: TelegramOutboxRepository, clock: Clock,
                 metrics: Metrics | None = None) -> None:
        self._db = db
        self.repo = repo
        self._clock = clock
        self._metrics = metrics or Metrics()
        self._wake_worker: Callable[[], None] = lambda: None

    def wakes(self, wake: Callable[[], None]) -> None:
        """What to call when an envelope may be due now (the worker's job, bot/core/outbox_worker.py)."""
        self._wake_worker = wake

    def wake(self) -> None:
        self._wake_worker()

    async def claim_due(self, lease_seconds: float, limit: int) -> list[Envelope]:
        now_ts = self._clock.now().timestamp()
        if self._db.engine == "sqlite":
            # One writer for every unit of the process: the due envelopes are looked for outside it (a read in the
            # reader's thread), and the unit only claims them by key, each still due and its chat's head. On
            # PostgreSQL the claim looks and locks in one statement (FOR UPDATE SKIP LOCKED), beside the others.
            ids = await self.repo.due_ids(now_ts, limit)
            if not ids:
                return []
            async with self._db.unit("telegram/claim"):
                return await self.repo.claim_ids(ids, now_ts, lease_seconds)
        async with self._db.unit("telegram/claim"):
            return await self.repo.claim_due(now_ts, lease_seconds, limit)

    async def renew(self, ids: list[int], held_until: float, lease_seconds: float) -> tuple[set[int], float]:
        """Renew this sender's lease on the envelopes ``ids`` (claimed together, under the lease ``held_until``):
        the ids it still holds, and the new end of their lease. The others are settled, back in the queue, or were
        taken over by another sender after the lease ran out — that sender sends them."""
        until = self._clock.now().timestamp() + lease_seconds
        async with self._db.unit("telegram/renew"):
            kept = await self.repo.renew(ids, held_until, until)
        return kept, until

    async def give_back(self, ids: list[int], held_until: float) -> None:
        """Put claimed envelopes that were not attempted back in the queue, due now (their sender stops)."""
        if not ids:
            return
        async with self._db.unit("telegram/give_back"):
            await self.repo.give_back(ids, held_until)
        self.wake()

    async def settle(self, envelope_id: int, status: str, error: str | None = None) -> bool:
        """The envelope's final outcome: sent, by_sms, failed or off (in the caller's unit, or one of its own).
        False: another sender settled it first (it took the envelope over when this one's lease ran out)."""
        async with self._db.unit("telegram/settle"):
            settled = await self.repo.settle(envelope_id, status, self._clock.now(), error)
            if settled:
                on_commit(self._db, lambda: self._metrics.telegram_envelope(status))
        return settled

    async def sent_part(self, envelope_id: int, left: dict[str, Any]) -> None:
        """Part of a claimed envelope has left: only ``left`` is still owed (what a sender that takes it over
        after a crash sends)."""
        async with self._db.unit("telegram/part"):
            await self.repo.keep_left(envelope_id, left)

    async def retry_later(self, envelope_id: int, delay: float, error: str,
                          left: dict[str, Any] | None = None) -> None:
        """Back to the queue for ``delay`` seconds (``left``: what has not been sent yet)."""
        async with self._db.unit("telegram/retry"):
            await self.repo.retry_later(envelope_id, self._clock.now().timestamp() + delay, error, left)
            on_commit(self._db, lambda: self._metrics.telegram_envelope("retry"))
        self.wake()

    async def owe(self, chat_id: int, kind: str, payload: dict[str, Any], label: str | None = None) -> int:
        """Write an envelope in the current unit of work; the worker is woken once it has committed."""
        envelope_id = await self.repo.add(chat_id, kind, payload, self._clock.now(), label=label)
        unit = self._db.current_unit()
        assert unit is not None  # repo.add has raised NoUnitOfWork otherwise
        unit.after_commit(self.wake)
        await self._db.notify(WAKE_CHANNEL)  # a worker in another process
        return envelope_id


# What to do when a channel could not deliver an envelope: one policy for every kind --------------------------

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Failure:
    """How a channel failed: ``rate_limited`` (wait ``retry_after``), ``network`` (may succeed later),
    ``blocked`` (the person blocked the bot or the account is gone), ``unreachable`` (the chat cannot be
    written to for another reason), ``source_down`` (the certificate could not be rendered: the directory or
    the registry cannot answer now)."""
    kind: Literal["rate_limited", "network", "blocked", "unreachable", "source_down"]
    retry_after: float = 0.0


@dataclass(frozen=True)
class Retry:
    delay: float


@dataclass(frozen=True)
class Fallback:
    """Send it another way (a notice: by SMS to the person's registered phone)."""


@dataclass(frozen=True)
class GiveUp:
    pass


def after_failure(kind: str, attempts: int, failure: Failure) -> Retry | Fallback | GiveUp:
    """The retry and fallback policy. ``attempts``: failed attempts before this one.

    A notice has a second way (SMS): it takes it when Telegram cannot reach the person, or keeps failing.
    Other envelopes (replies, results, offers) have none; a result is never sent by SMS. Telegram's own
    429 is waited out; network trouble is retried with growing pauses, up to MAX_ATTEMPTS; a certificate that
    cannot be rendered because a state system is down waits for it, without end.
    """
    if failure.kind == "rate_limited":
        return Retry(max(failure.retry_after, 0.05))
    if failure.kind in ("blocked", "unreachable"):
        return Fallback() if kind == NOTICE else GiveUp()
    if failure.kind == "source_down":  # a result owed is never given up because a state system is down
        return Retry(backoff(attempts + 1, 1.0, 300.0))
    if attempts + 1 >= MAX_ATTEMPTS:
        return Fallback() if kind == NOTICE else GiveUp()
    return Retry(backoff(attempts + 1, 1.0, 300.0))
