"""The SMS outbox: every message is written here before any attempt to send it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from store.db import utc_iso


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    to_phone: str
    text: str
    kind: str
    status: str
    attempts: int


_COLUMNS = "id, to_phone, text, kind, status, attempts"


class SmsOutboxRepository:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def add(self, message_id: str, to_phone: str, text: str, kind: str, now: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO sms_outbox (id, to_phone, text, kind, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'queued', ?, ?)",
            (message_id, to_phone, text, kind, utc_iso(now), utc_iso(now)),
        )
        await self._conn.commit()

    async def mark(self, message_id: str, status: str, now: datetime, error: str | None = None,
                   gateway_id: str | None = None) -> None:
        await self._conn.execute(
            "UPDATE sms_outbox SET status = ?, updated_at = ?, attempts = attempts + 1, last_error = ?, "
            "gateway_id = coalesce(?, gateway_id) WHERE id = ?",
            (status, utc_iso(now), error, gateway_id, message_id),
        )
        await self._conn.commit()

    async def get(self, message_id: str) -> OutboxMessage | None:
        async with self._conn.execute(f"SELECT {_COLUMNS} FROM sms_outbox WHERE id = ?", (message_id,)) as cur:
            row = await cur.fetchone()
        return OutboxMessage(*row) if row else None

    async def to_phone(self, phone: str) -> list[OutboxMessage]:
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM sms_outbox WHERE to_phone = ? ORDER BY created_at, rowid", (phone,)
        ) as cur:
            return [OutboxMessage(*r) for r in await cur.fetchall()]

    async def queued(self, limit: int = 100) -> list[OutboxMessage]:
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM sms_outbox WHERE status = 'queued' "
            "ORDER BY kind = 'notice', created_at LIMIT ?",
            (limit,),
        ) as cur:
            return [OutboxMessage(*r) for r in await cur.fetchall()]
