"""Where a person's Telegram conversation stands, as far as the core must know it.

The conversation's states belong to the Telegram channel (handlers/telegram/); the core names the two it
changes itself, in the same unit of work as the decision that changes them: a requester who waits for a
consent code goes back to the menu when the consent is decided elsewhere (the subject's SMS or chat, expiry).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.clock import Clock
from bot.domain.model import ChatState, UserSnapshot
from store.db import Database
from store.telegram_updates import HandledUpdateRepository
from store.turn_close import EnvelopeWrite, StateWrite, TurnCloseRepository
from store.users import UserRepository

UPDATES_KEPT = timedelta(days=1)  # far longer than Telegram keeps or retries an update

MENU = "menu"
AWAITING_CONSENT_CODE = "tp_code"


class ConversationService:
    def __init__(self, db: Database, users: UserRepository, updates: HandledUpdateRepository,
                 closing: TurnCloseRepository, clock: Clock) -> None:
        self._db = db
        self._users = users
        self._updates = updates
        self._closing = closing
        self._clock = clock

    async def handled(self, update_id: int) -> bool:
        """Whether an update's effects are already committed (it came again: act on it once)."""
        return await self._updates.handled(update_id)

    async def close_turn(self, update_id: int | None, state: StateWrite | None,
                         envelope: EnvelopeWrite | None) -> tuple[bool, int | None]:
        """Inside the update's unit of work, last: the update marked handled, the conversation's new state, the
        envelope of its replies. (False, None) when another attempt at the same update committed first."""
        return await self._closing.close(update_id, self._clock.now(), state, envelope)

    async def forget_old_updates(self) -> int:
        async with self._db.unit("conversation/forget_updates"):
            return await self._updates.forget_before(self._clock.now() - UPDATES_KEPT)

    async def snapshot(self, user_id: int, update_id: int | None = None) -> UserSnapshot:
        return await self._users.snapshot(user_id, update_id)

    async def state(self, user_id: int) -> ChatState:
        return await self._users.state(user_id)

    async def language(self, user_id: int) -> str | None:
        return await self._users.language(user_id)

    async def set_state(self, user_id: int, state: str, data: dict[str, Any] | None = None) -> None:
        async with self._db.unit("conversation/state"):
            await self._users.set_state(user_id, state, data, self._clock.now())

    async def set_language(self, user_id: int, lang: str) -> None:
        async with self._db.unit("conversation/language"):
            await self._users.set_language(user_id, lang, self._clock.now())

    async def stop_waiting_for_code(self, user_id: int, number: str) -> None:
        """The requester no longer waits for the code of ``number`` (inside the deciding unit)."""
        state = await self._users.state(user_id)
        if state.state == AWAITING_CONSENT_CODE and state.data.get("number") == number:
            await self._users.set_state(user_id, MENU, None, self._clock.now())
