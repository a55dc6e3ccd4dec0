"""What a person in Telegram wants to receive (status notices, news broadcasts), and whether Telegram lets
the bot write to them at all (the blocked mark)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from store.db import Database
from store.subscriptions import SubscriptionRepository
from store.users import UserRepository


@dataclass(frozen=True)
class Preferences:
    status_notices: bool
    news: bool


class SubscriptionService:
    def __init__(self, db: Database, repo: SubscriptionRepository, users: UserRepository, clock: Clock) -> None:
        self._db = db
        self._repo = repo
        self._users = users
        self._clock = clock

    async def preferences(self, user_id: int) -> Preferences:
        prefs = await self._users.notice_preferences(user_id)
        return Preferences(prefs[1] if prefs is not None else True, await self._repo.subscribed(user_id))

    async def set_news(self, user_id: int, on: bool, lang: str | None) -> None:
        async with self._db.unit("subscription/news"):
            await self._repo.set_subscribed(user_id, on, lang, self._clock.now())

    async def set_status_notices(self, user_id: int, on: bool) -> None:
        async with self._db.unit("subscription/status_notices"):
            await self._users.set_status_notices(user_id, on, self._clock.now())

    async def mark_blocked(self, user_id: int) -> None:
        """Telegram said the person blocked the bot (or the account is gone): nothing more is sent to them."""
        async with self._db.unit("subscription/blocked"):
            await self._repo.mark_blocked(user_id, self._clock.now())

    async def clear_blocked(self, user_id: int) -> None:
        async with self._db.unit("subscription/unblocked"):
            await self._repo.clear_blocked(user_id)

    async def blocked(self, user_id: int) -> bool:
        return await self._repo.blocked(user_id)

    async def subscribed(self, user_id: int) -> bool:
        return await self._repo.subscribed(user_id)
