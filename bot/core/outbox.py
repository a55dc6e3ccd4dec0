"""What a person must receive in Telegram, owed by a decision and written in the decision's unit of work.

The core names what is owed (a consent outcome for a requester, a consent offer for a data subject, a status
notice, a turn's replies); the Telegram channel renders and delivers it (handlers/telegram/delivery.py), with
the SMS fallback and the 403 handling in one place. Nothing medical is ever written here: a certificate is
named by its application number and rendered from the registry when it is delivered.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bot.clock import Clock
from store.db import Database
from store.telegram_outbox import TelegramOutboxRepository

# Envelope kinds (telegram_outbox.kind)
MESSAGES = "messages"                # a turn's replies, rendered already (no medical content)
NOTICE = "notice"                    # {key, params, iin}: rendered at delivery in the person's language
CONSENT_OUTCOME = "consent_outcome"  # {number, outcome}: result (certificate) or refusal for the requester
CONSENT_OFFER = "consent_offer"      # {number, service, requester_name, requester_iin}: the subject may decide


class TelegramOutbox:
    def __init__(self, db: Database, repo: TelegramOutboxRepository, clock: Clock) -> None:
        self._db = db
        self.repo = repo
        self._clock = clock
        self.wake = asyncio.Event()  # the delivery worker sleeps on it

    async def owe(self, chat_id: int, kind: str, payload: dict[str, Any], label: str | None = None) -> int:
        """Write an envelope in the current unit of work; the worker is woken once it has committed."""
        envelope_id = await self.repo.add(chat_id, kind, payload, self._clock.now(), label=label)
        unit = self._db.current_unit()
        assert unit is not None  # repo.add has raised NoUnitOfWork otherwise
        unit.after_commit(self.wake.set)
        return envelope_id
