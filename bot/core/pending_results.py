"""Registry questions that could not be answered when a request was accepted, asked again until they are.

A request is never lost because a state system is down: the application is accepted, its question written
to ``registry_questions`` in the same unit (bot/core/registry_results.py), and this worker claims due questions with
a lease, asks again (outside any unit: no lock is held while a system is slow), and on an answer gives the
result in one unit — status, delivery record, the subject's SMS, the envelope for the requester's chat (the
certificate is rendered when it is delivered). A question still open when its application's due time passes
makes the requester be told, once; the application is then in operators' ``/overdue`` like any late one.
Pauses between tries grow from QYZMET_STATE_RETRY_BASE_SECONDS to …_MAX_SECONDS; a question is never given
up on its own (an application decided otherwise closes it).
"""

from __future__ import annotations

import logging

from bot.clock import Clock
from bot.config import Settings
from bot.core.registry_results import ResultDelivery
from bot.core.worker import Job
from bot.domain.retry import backoff
from bot.gateways.state_systems import StateSystemUnavailable
from store.db import Database
from store.registry_questions import Question, RegistryQuestionRepository

log = logging.getLogger(__name__)


class PendingResults:
    def __init__(self, db: Database, repo: RegistryQuestionRepository, results: ResultDelivery,
                 clock: Clock, settings: Settings) -> None:
        self._db = db
        self.repo = repo
        self._info = results
        self._clock = clock
        self._s = settings
        self.job = Job("registry_questions", self._pass, lambda: self._s.state_worker_idle_seconds)

    async def process_due(self) -> tuple[int, float]:
        """One pass: ask every due question, tell the requesters of late ones. Returns the questions asked
        and the seconds until something may be due again."""
        asked = 0
        while not self.job.stopping:
            async with self._db.unit("registry/claim"):
                batch = await self.repo.claim_due(self._clock.now().timestamp(), self._lease_seconds())
            if not batch:
                break
            for question in batch:
                await self._ask(question)
                asked += 1
        for number in await self.repo.late_untold(self._clock.now()):
            try:
                await self._info.tell_late(number)
            except StateSystemUnavailable as exc:  # no chat, and no phone to be had now: told on a later pass
                log.warning("lateness of %s not told yet: %s", number, exc)
        return asked, await self._idle_wait()

    async def _ask(self, question: Question) -> None:
        try:
            outcome = await self._info.answer_pending(question.number)
        except StateSystemUnavailable as exc:
            delay = self.backoff(question.attempts + 1)
            async with self._db.unit("registry/retry"):
                await self.repo.retry_later(question.number, self._clock.now().timestamp() + delay, exc.reason)
            log.info("registry question %s still unanswered (%s); next try in %.0f s", question.number,
                     exc.reason, delay)
            return
        log.info("registry question %s %s", question.number, outcome)

    def backoff(self, attempts: int) -> float:
        return backoff(attempts, self._s.state_retry_base_seconds, self._s.state_retry_max_seconds)

    def _lease_seconds(self) -> float:
        """Long enough for the directory and the registry to answer or time out, tries included."""
        return self._s.state_timeout_seconds * self._s.state_attempts * 2 + 5

    async def _idle_wait(self) -> float:
        """Until the next question is due, or the next due time passes (a lateness to tell), at most idle."""
        now = self._clock.now()
        waits = [self._s.state_worker_idle_seconds]
        due = await self.repo.next_due_at()
        if due is not None:
            waits.append(max(due - now.timestamp(), 0.05))
        late = await self.repo.next_due_time()
        if late is not None and late > now:  # one already past was tried this pass: no busy loop on it
            waits.append((late - now).total_seconds() + 0.05)
        return min(waits)

    # The worker's job (bot/core/worker.py) -------------------------------------------------------------------

    def wake(self) -> None:
        self.job.wake()

    async def _pass(self) -> float:
        return (await self.process_due())[1]
