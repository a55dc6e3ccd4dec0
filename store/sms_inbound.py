"""What the SMS channel remembers: inbound gateway ids already acted on, and per-phone preferences."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from store.db import utc_iso


class InboundIdRepository:
    """Gateway message ids, so that a gateway retrying the same message does not make us act twice."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def claim(self, gateway_id: str, now: datetime) -> bool:
        """Record the id; False when it was already there (a repeat: acknowledge, do nothing)."""
        cur = await self._conn.execute(
            "INSERT OR IGNORE INTO sms_inbound (id, received_at) VALUES (?, ?)", (gateway_id, utc_iso(now)))
        await self._conn.commit()
        return cur.rowcount == 1

    async def forget(self, gateway_id: str) -> None:
        """Handling failed: let the gateway's retry through."""
        await self._conn.execute("DELETE FROM sms_inbound WHERE id = ?", (gateway_id,))
        await self._conn.commit()


class SmsPhoneRepository:
    """Per-phone STOP / START and the language a phone last wrote in."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def set_opted_out(self, phone: str, opted_out: bool, now: datetime) -> None:
        stamp = utc_iso(now)
        await self._conn.execute(
            "INSERT INTO sms_phones (phone, opted_out_at, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (phone) DO UPDATE SET opted_out_at = excluded.opted_out_at, updated_at = excluded.updated_at",
            (phone, stamp if opted_out else None, stamp),
        )
        await self._conn.commit()

    async def opted_out(self, phone: str) -> bool:
        async with self._conn.execute("SELECT opted_out_at FROM sms_phones WHERE phone = ?", (phone,)) as cur:
            row = await cur.fetchone()
        return row is not None and row[0] is not None

    async def set_language(self, phone: str, lang: str, now: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO sms_phones (phone, lang, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (phone) DO UPDATE SET lang = excluded.lang, updated_at = excluded.updated_at",
            (phone, lang, utc_iso(now)),
        )
        await self._conn.commit()

    async def language(self, phone: str) -> str | None:
        async with self._conn.execute("SELECT lang FROM sms_phones WHERE phone = ?", (phone,)) as cur:
            row = await cur.fetchone()
        return row[0] if row else None
