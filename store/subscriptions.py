"""Whether a person in Telegram receives operators' broadcasts: their own switch (users.subscribed) and
Telegram's verdict (users.blocked_at, set on 403 "blocked by the user" / "user is deactivated")."""

from __future__ import annotations

from datetime import datetime

from store.db import Database, utc_iso


class SubscriptionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def set_subscribed(self, user_id: int, subscribed: bool, lang: str | None, now: datetime) -> None:
        await self._db.write(
            "INSERT INTO users (user_id, lang, subscribed, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET subscribed = excluded.subscribed",
            (user_id, lang, int(subscribed), utc_iso(now)),
        )

    async def subscribed(self, user_id: int) -> bool:
        return bool(await self._db.fetchval("SELECT subscribed FROM users WHERE user_id = ?", (user_id,), 0))

    async def mark_blocked(self, user_id: int, now: datetime) -> None:
        await self._db.write("UPDATE users SET blocked_at = coalesce(blocked_at, ?) WHERE user_id = ?",
                             (utc_iso(now), user_id))

    async def clear_blocked(self, user_id: int) -> None:
        await self._db.write("UPDATE users SET blocked_at = NULL WHERE user_id = ? AND blocked_at IS NOT NULL",
                             (user_id,))

    async def blocked(self, user_id: int) -> bool:
        return bool(await self._db.fetchval("SELECT blocked_at FROM users WHERE user_id = ?", (user_id,)))
