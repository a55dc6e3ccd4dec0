"""What the SMS channel remembers: inbound gateway ids already acted on, and per-phone preferences."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from store.db import Database, utc_iso


class InboundIdRepository:
    """Gateway message ids, so that a gateway retrying the same message does not make us act twice.

    The id is claimed in the same unit of work as the message's effects: a crash before the commit leaves
    it unclaimed, and the gateway's retry is handled then, not dropped."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def handled(self, gateway_id: str) -> bool:
        """Whether the id was claimed already (read before the message's unit writes anything)."""
        return await self._db.fetchone("SELECT 1 FROM sms_inbound WHERE id = ?", (gateway_id,)) is not None

    async def claim(self, gateway_id: str, now: datetime) -> bool:
        """Record the id; False when it was already there (a repeat: acknowledge, do nothing)."""
        return bool(await self._db.write(
            "INSERT INTO sms_inbound (id, received_at) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING 1",
            (gateway_id, utc_iso(now))))


class SmsPhoneRepository:
    """Per-phone STOP / START and the language a phone last wrote in."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def set_opted_out(self, phone: str, opted_out: bool, now: datetime) -> None:
        stamp = utc_iso(now)
        await self._db.write(
            "INSERT INTO sms_phones (phone, opted_out_at, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (phone) DO UPDATE SET opted_out_at = excluded.opted_out_at, updated_at = excluded.updated_at",
            (phone, stamp if opted_out else None, stamp),
        )

    async def opted_out(self, phone: str) -> bool:
        return await self._db.fetchval("SELECT opted_out_at FROM sms_phones WHERE phone = ?", (phone,)) is not None

    async def set_language(self, phone: str, lang: str, now: datetime) -> None:
        await self._db.write(
            "INSERT INTO sms_phones (phone, lang, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (phone) DO UPDATE SET lang = excluded.lang, updated_at = excluded.updated_at",
            (phone, lang, utc_iso(now)),
        )

    async def language(self, phone: str) -> str | None:
        # fetchval() gives the driver's value, typed Any; the column's type is known from the schema.
        return cast("str | None", await self._db.fetchval("SELECT lang FROM sms_phones WHERE phone = ?", (phone,)))

    async def telegram_language(self, phone: str) -> str | None:
        """The bot language of the Telegram account linked to a person whose registered phone this is (the
        latest link first), or None."""
        return cast("str | None", await self._db.fetchval(  # the driver's value, typed Any
            "SELECT u.lang FROM citizens AS c JOIN telegram_links AS l ON l.iin = c.iin "
            "JOIN users AS u ON u.user_id = l.user_id WHERE c.phone = ? AND u.lang IS NOT NULL "
            "ORDER BY l.linked_at DESC LIMIT 1", (phone,)))
