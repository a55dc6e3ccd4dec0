"""What the state systems must receive from us — a stage for monitoring, a complaint for its addressee — written
in the unit of work of the stage or the filing, and posted by a worker at least once.

Why an outbox: the stage and its report commit together, so a report is never lost (a crash, the system down)
and never made for a stage that was rolled back. The worker claims rows with a lease, posts them, and settles
them; a system that cannot answer is tried again with growing pauses, without end (each row's key is the
contract's idempotency key, so a row posted again after a crash or a lost answer is one stage, one
complaint); a system that refuses a row (4xx) marks it failed, with the reason in the log. A target is off —
nothing is written — while its URL is unset.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot import faults
from bot.clock import Clock
from bot.config import Settings
from bot.core.worker import Job
from bot.domain.retry import backoff
from bot.gateways.state_systems import StateSystemRejected, StateSystemUnavailable
from store.db import Database
from store.state_outbox import StateOutboxRepository, StatePost

log = logging.getLogger(__name__)

MONITORING = "monitoring"
COMPLAINTS = "complaints"

Sender = Callable[[StatePost], Awaitable[None]]


class StateOutbox:
    def __init__(self, db: Database, repo: StateOutboxRepository, clock: Clock, settings: Settings) -> None:
        self._db = db
        self.repo = repo
        self._clock = clock
        self._s = settings
        self._senders: dict[str, Sender] = {}
        self.job = Job("state_outbox", self._pass, lambda: self._s.state_worker_idle_seconds)

    def serve(self, target: str, sender: Sender) -> None:
        """Turn ``target`` on: its rows are posted with ``sender`` (raises StateSystemUnavailable / Rejected)."""
        self._senders[target] = sender

    def serves(self, target: str) -> bool:
        return target in self._senders

    async def owe(self, target: str, key: str, payload: dict[str, Any]) -> bool:
        """Write a post in the current unit of work (nothing when the target is off, or the key is there)."""
        if target not in self._senders:
            return False
        added = await self.repo.add(target, key, payload, self._clock.now())
        unit = self._db.current_unit()
        assert unit is not None  # repo.add has raised NoUnitOfWork otherwise
        unit.after_commit(self.job.wake)
        return added

    # The worker --------------------------------------------------------------------------------------------

    async def process_due(self) -> tuple[int, float]:
        """Post every row that is due. Returns how many were tried and seconds until one may be due again."""
        tried = 0
        while not self.job.stopping:
            async with self._db.unit("state/claim"):
                batch = await self.repo.claim_due(self._clock.now().timestamp(), self._lease_seconds())
            if not batch:
                break
            for post in batch:
                await self._post(post)
                tried += 1
        return tried, await self._idle_wait()

    async def _post(self, post: StatePost) -> None:
        sender = self._senders.get(post.target)
        try:
            if sender is None:  # its URL was unset since the row was written: kept, never dropped silently
                raise StateSystemUnavailable(post.target, "off (its URL is not set)")
            await sender(post)
        except StateSystemRejected as exc:
            log.error("%s refused %s: %s; not posted again", post.target, post.key, exc)
            await self._settle(post, "failed", str(exc))
            return
        except StateSystemUnavailable as exc:
            await self._retry(post, exc.reason)
            return
        except Exception as exc:  # a bug must not stop the queue: the row waits, the log says why
            log.exception("posting %s to %s failed", post.key, post.target)
            await self._retry(post, type(exc).__name__)
            return
        faults.point("before_settle", ("state", post.target))
        await self._settle(post, "sent")

    async def _settle(self, post: StatePost, status: str, error: str | None = None) -> None:
        async with self._db.unit("state/settle"):
            await self.repo.settle(post.id, status, self._clock.now(), error)

    async def _retry(self, post: StatePost, reason: str) -> None:
        delay = self.backoff(post.attempts + 1)
        async with self._db.unit("state/retry"):
            await self.repo.retry_later(post.id, self._clock.now().timestamp() + delay, reason)
        log.warning("%s not posted to %s yet (%s); next try in %.0f s", post.key, post.target, reason, delay)

    def backoff(self, attempts: int) -> float:
        return backoff(attempts, self._s.state_retry_base_seconds, self._s.state_retry_max_seconds)

    def _lease_seconds(self) -> float:
        """Long enough for one post to end one way or the other (its timeout), with a margin."""
        return self._s.state_timeout_seconds * 2 + 5

    async def _idle_wait(self) -> float:
        due = await self.repo.next_due_at()
        idle = self._s.state_worker_idle_seconds
        if due is None:
            return idle
        return min(max(due - self._clock.now().timestamp(), 0.05), idle)

    # The worker's job (bot/core/worker.py) -------------------------------------------------------------------

    @property
    def serving(self) -> bool:
        """Some state system is configured: the job has something to post (none runs otherwise)."""
        return bool(self._senders)

    def wake(self) -> None:
        self.job.wake()

    async def _pass(self) -> float:
        return (await self.process_due())[1]
