"""The SMS outbox: every message is written here before any attempt to send it.

States: queued → sending (claimed by one sender) → sent (the gateway accepted it) → delivered / failed
(from receipts). A message the gateway refused, or that ran out of retries, or a notice to a phone that
sent STOP, is failed with a reason. Worker times (next attempt, last attempt) are unix epoch seconds so
that sub-second backoff compares exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from store.db import UnitOfWorkConnection, utc_iso


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    to_phone: str
    text: str
    kind: str
    status: str
    attempts: int
    last_error: str | None = None


_COLUMNS = "id, to_phone, text, kind, status, attempts, last_error"
# Interactive messages (codes, replies) before notices; oldest first within each kind.
_PRIORITY = "ORDER BY kind = 'notice', created_at, rowid"


class SmsOutboxRepository:
    def __init__(self, conn: UnitOfWorkConnection) -> None:
        self._conn = conn

    async def add(self, message_id: str, to_phone: str, text: str, kind: str, now: datetime,
                  status: str = "queued", error: str | None = None) -> None:
        await self._conn.write(
            "INSERT INTO sms_outbox (id, to_phone, text, kind, status, created_at, updated_at, last_error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (message_id, to_phone, text, kind, status, utc_iso(now), utc_iso(now), error),
        )

    async def claim(self, message_id: str, now_ts: float) -> bool:
        """Take a queued message for one send attempt; False if someone else already has it."""
        changed = await self._conn.write(
            "UPDATE sms_outbox SET status = 'sending', last_attempt_at = ? WHERE id = ? AND status = 'queued'",
            (now_ts, message_id),
        )
        return changed == 1

    async def mark(self, message_id: str, status: str, now: datetime, error: str | None = None,
                   gateway_id: str | None = None, next_attempt_at: float | None = None) -> None:
        """Record the outcome of one attempt (counts it)."""
        await self._conn.write(
            "UPDATE sms_outbox SET status = ?, updated_at = ?, attempts = attempts + 1, last_error = ?, "
            "gateway_id = coalesce(?, gateway_id), next_attempt_at = ? WHERE id = ?",
            (status, utc_iso(now), error, gateway_id, next_attempt_at, message_id),
        )

    async def release(self, message_id: str) -> None:
        """Give a claimed message back to the queue without counting an attempt (the global cap was hit)."""
        await self._conn.write(
            "UPDATE sms_outbox SET status = 'queued' WHERE id = ? AND status = 'sending'", (message_id,))

    async def requeue_interrupted(self) -> int:
        """After a crash, a message caught mid-attempt goes back to the queue.

        The gateway may or may not have accepted it; it receives our message id, so it can recognise the
        rare repeat. Messages marked sent are never touched again.
        """
        changed = await self._conn.write("UPDATE sms_outbox SET status = 'queued' WHERE status = 'sending'")
        return changed

    async def apply_receipt(self, message_id: str, status: str, reason: str | None, now: datetime) -> bool | None:
        """Set delivered / failed from a receipt. None: unknown id; False: already final, nothing changed."""
        changed = await self._conn.write(
            "UPDATE sms_outbox SET status = ?, last_error = coalesce(?, last_error), receipt_at = ?, updated_at = ? "
            "WHERE id = ? AND status IN ('queued', 'sending', 'sent')",
            (status, reason, utc_iso(now), utc_iso(now), message_id),
        )
        if changed == 1:
            return True
        return False if await self.get(message_id) else None

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
            f"SELECT {_COLUMNS} FROM sms_outbox WHERE status = 'queued' {_PRIORITY} LIMIT ?", (limit,)
        ) as cur:
            return [OutboxMessage(*r) for r in await cur.fetchall()]

    async def due(self, now_ts: float, limit: int = 100) -> list[OutboxMessage]:
        """Queued messages whose backoff has run out, interactive first."""
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM sms_outbox WHERE status = 'queued' AND coalesce(next_attempt_at, 0) <= ? "
            f"{_PRIORITY} LIMIT ?",
            (now_ts, limit),
        ) as cur:
            return [OutboxMessage(*r) for r in await cur.fetchall()]

    async def interactive_since(self, phone: str, since: datetime) -> int:
        """Interactive messages (codes, replies) written for one phone since ``since``."""
        rows = await self._conn.execute_fetchall(
            "SELECT count(*) FROM sms_outbox WHERE to_phone = ? AND created_at >= ? AND kind != 'notice'",
            (phone, utc_iso(since)))
        return next(iter(rows))[0]

    async def interactive_waiting(self, now_ts: float) -> bool:
        async with self._conn.execute(
            "SELECT 1 FROM sms_outbox WHERE status = 'queued' AND kind != 'notice' "
            "AND coalesce(next_attempt_at, 0) <= ? LIMIT 1", (now_ts,)
        ) as cur:
            return await cur.fetchone() is not None

    async def next_due_at(self) -> float | None:
        """When the earliest queued message becomes due (0 = now), or None when nothing is queued."""
        async with self._conn.execute(
            "SELECT min(coalesce(next_attempt_at, 0)) FROM sms_outbox WHERE status = 'queued'") as cur:
            row = await cur.fetchone()
        return None if row is None or row[0] is None else float(row[0])

    async def attempts_since(self, since_ts: float) -> tuple[int, float | None]:
        """How many messages had an attempt since `since_ts`, and the oldest such attempt."""
        async with self._conn.execute(
            "SELECT count(*), min(last_attempt_at) FROM sms_outbox WHERE last_attempt_at >= ?", (since_ts,)
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]), (float(row[1]) if row[1] is not None else None)
