"""The periodic sweep: work that is due by the clock rather than by a commit, and must survive restarts —
consents that expired unanswered (each refusal and what it owes the requester is one unit of work; the Telegram
outbox delivers it), and the marks of updates answered long ago. A job of the worker (bot/core/worker.py), run
every QYZMET_SWEEP_INTERVAL_SECONDS by the processes that run the workers."""

from __future__ import annotations

from bot.config import Settings
from bot.core.consent import ConsentService
from bot.core.conversation import ConversationService
from bot.core.worker import Job


class Sweep:
    def __init__(self, consents: ConsentService, conversation: ConversationService, settings: Settings) -> None:
        self._consents = consents
        self._conversation = conversation
        self._s = settings
        self.job = Job("sweep", self._pass, lambda: self._s.sweep_interval_seconds)

    async def run(self) -> None:
        """One sweep."""
        await self._consents.expire_due()
        await self._conversation.forget_old_updates()

    async def _pass(self) -> float:
        await self.run()
        return self._s.sweep_interval_seconds
