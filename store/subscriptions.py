"""Whether a person in Telegram receives operators' broadcasts: their own switch (users.subscribed) and
Telegram's verdict (users.blocked_at, set on 403 "blocked by the user" / "user is deactivated")."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from store.db import utc_iso


class SubscriptionRepository:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def set_subscribed(self, user_id: int, subscribed: bool, lang: str | None, now: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO users (user_id, lang, subscribed, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET subscribed = excluded.subscribed",
            (user_id, lang, int(subscribed), utc_iso(now)),
        )
        await self._conn.commit()

    async def subscribed(self, user_id: int) -> bool:
        async with self._conn.execute("SELECT subscribed FROM users WHERE user_id = ?", (user_id,)) as cur:
            row = await cur.fetchone()
        return bool(row[0]) if row else False

    async def mark_blocked(self, user_id: int, now: datetime) -> None:
        await self._conn.execute("UPDATE users SET blocked_at = coalesce(blocked_at, ?) WHERE user_id = ?",
                                 (utc_iso(now), user_id))
        await self._conn.commit()

    async def clear_blocked(self, user_id: int) -> None:
        await self._conn.execute("UPDATE users SET blocked_at = NULL WHERE user_id = ? AND blocked_at IS NOT NULL",
                                 (user_id,))
        await self._conn.commit()

    async def blocked(self, user_id: int) -> bool:
        async with self._conn.execute("SELECT blocked_at FROM users WHERE user_id = ?", (user_id,)) as cur:
            row = await cur.fetchone()
        return bool(row and row[0])
