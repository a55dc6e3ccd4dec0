"""People in Telegram: language, verified identity and where their conversation stands."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from bot.domain.model import ChatState, Identity, UserSnapshot
from store.db import Database, from_iso, utc_iso

# More chats than this linked to one IIN is not a person: the first ones are offered and told.
MAX_LINKED_CHATS = 20


class UserRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def language(self, user_id: int) -> str | None:
        # fetchval() gives the driver's value, typed Any; the column's type is known from the schema.
        return cast("str | None", await self._db.fetchval("SELECT lang FROM users WHERE user_id = ?", (user_id,)))

    async def set_language(self, user_id: int, lang: str, now: datetime) -> None:
        await self._db.write(
            "INSERT INTO users (user_id, lang, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET lang = excluded.lang",
            (user_id, lang, utc_iso(now)),
        )

    async def snapshot(self, user_id: int, update_id: int | None = None) -> UserSnapshot:
        """What an update needs about its sender, and whether that update was handled already — one trip
        instead of five (language, state, identity, role, the update's mark)."""
        row = await self._db.fetchone(
            "SELECT u.lang, s.state, s.data, i.iin, i.phone, i.verified_at, i.last_seen_at, u.blocked_at, f.role, "
            "EXISTS (SELECT 1 FROM telegram_updates WHERE update_id = k.update_id) "
            "FROM (SELECT CAST(? AS BIGINT) AS user_id, CAST(? AS BIGINT) AS update_id) AS k "
            "LEFT JOIN users AS u ON u.user_id = k.user_id "
            "LEFT JOIN chat_states AS s ON s.user_id = k.user_id "
            "LEFT JOIN identities AS i ON i.user_id = k.user_id "
            "LEFT JOIN staff AS f ON f.user_id = k.user_id", (user_id, update_id))
        assert row is not None
        lang, state, data, iin, phone, verified_at, last_seen_at, blocked_at, role, handled = row
        return UserSnapshot(
            lang,
            ChatState(state, json.loads(data)) if state is not None else ChatState("menu", {}),
            Identity(user_id, iin, phone, from_iso(verified_at), from_iso(last_seen_at)) if iin is not None else None,
            blocked_at is not None, role, bool(handled),
        )

    async def state(self, user_id: int) -> ChatState:
        row = await self._db.fetchone("SELECT state, data FROM chat_states WHERE user_id = ?", (user_id,))
        return ChatState(row[0], json.loads(row[1])) if row else ChatState("menu", {})

    async def set_state(self, user_id: int, state: str, data: dict[str, Any] | None, now: datetime) -> None:
        await self._db.write(
            "INSERT INTO chat_states (user_id, state, data, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, data = excluded.data, "
            "updated_at = excluded.updated_at",
            (user_id, state, json.dumps(data or {}, ensure_ascii=False), utc_iso(now)),
        )

    async def identity(self, user_id: int) -> Identity | None:
        row = await self._db.fetchone(
            "SELECT user_id, iin, phone, verified_at, last_seen_at FROM identities WHERE user_id = ?", (user_id,))
        if not row:
            return None
        return Identity(row[0], row[1], row[2], from_iso(row[3]), from_iso(row[4]))

    async def save_identity(self, user_id: int, iin: str, phone: str, now: datetime) -> None:
        await self._db.write(
            "INSERT INTO identities (user_id, iin, phone, verified_at, last_seen_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET iin = excluded.iin, phone = excluded.phone, "
            "verified_at = excluded.verified_at, last_seen_at = excluded.last_seen_at",
            (user_id, iin, phone, utc_iso(now), utc_iso(now)),
        )
        await self._db.write(
            "INSERT INTO telegram_links (iin, user_id, linked_at) VALUES (?, ?, ?) "
            "ON CONFLICT (iin) DO UPDATE SET user_id = excluded.user_id, linked_at = excluded.linked_at",
            (iin, user_id, utc_iso(now)),
        )

    async def touch_identity(self, user_id: int, now: datetime) -> None:
        await self._db.write("UPDATE identities SET last_seen_at = ? WHERE user_id = ?", (utc_iso(now), user_id))

    async def drop_identity(self, user_id: int) -> None:
        await self._db.write("DELETE FROM identities WHERE user_id = ?", (user_id,))

    async def linked_chats(self, iin: str) -> list[int]:
        """Every Telegram chat linked to this IIN: the one that last verified it (the link outlives the
        identity's lapse and /logout) and any chat verified as it right now."""
        rows = await self._db.fetchall(
            "SELECT user_id FROM telegram_links WHERE iin = ? UNION SELECT user_id FROM identities WHERE iin = ? "
            "ORDER BY user_id LIMIT ?", (iin, iin, MAX_LINKED_CHATS))
        return [row[0] for row in rows]

    async def linked_user(self, iin: str) -> int | None:
        """The Telegram user who last verified this IIN (kept after the identity lapses), for notices."""
        # the driver's value, typed Any
        return cast("int | None", await self._db.fetchval("SELECT user_id FROM telegram_links WHERE iin = ?", (iin,)))

    async def notice_preferences(self, user_id: int) -> tuple[str | None, bool, bool] | None:
        """(language, status notices on, blocked) of a known user, or None for a user never seen."""
        row = await self._db.fetchone(
            "SELECT lang, status_notices, blocked_at IS NOT NULL FROM users WHERE user_id = ?", (user_id,))
        return (row[0], bool(row[1]), bool(row[2])) if row else None

    async def set_status_notices(self, user_id: int, on: bool, now: datetime) -> None:
        await self._db.write(
            "INSERT INTO users (user_id, status_notices, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET status_notices = excluded.status_notices",
            (user_id, int(on), utc_iso(now)),
        )
