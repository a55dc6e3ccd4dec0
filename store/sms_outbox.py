"""The SMS outbox: every message is written here, in the transaction that owes it, before any attempt.

States: queued → sending (claimed by one sender, with a lease) → sent (the gateway accepted it) → delivered /
failed (from receipts). A message the gateway refused, that ran out of retries or of time, or a notice to a
phone that sent STOP, is failed with a reason. A 'sending' row whose lease ran out (its sender died) is due
again: it is posted with the same id, which the gateway contract makes an idempotency key. Worker times
(next attempt, last attempt, lease, expiry) are unix epoch seconds so that sub-second backoff compares exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from store.db import Database, utc_iso
from store.leased_queue import LeasedQueue


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    to_phone: str
    text: str
    kind: str
    status: str
    attempts: int
    last_error: str | None = None
    expires_at: float | None = None


_COLUMNS = "id, to_phone, text, kind, status, attempts, last_error, expires_at"
# Interactive messages (codes, replies) before notices; oldest first within each kind.
_PRIORITY = "ORDER BY kind = 'notice', created_at, {order}"  # {order}: insertion order, per engine


class SmsOutboxRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Insertion order breaks ties within a second: SQLite's rowid, PostgreSQL's identity column.
        self._order = "rowid" if db.engine == "sqlite" else "seq"
        self._priority = _PRIORITY.format(order=self._order)
        self._queue = LeasedQueue(db, "sms_outbox", "id")

    async def add(self, message_id: str, to_phone: str, text: str, kind: str, now: datetime,
                  status: str = "queued", error: str | None = None, expires_at: float | None = None) -> None:
        await self._db.write(
            "INSERT INTO sms_outbox (id, to_phone, text, kind, status, created_at, updated_at, last_error, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (message_id, to_phone, text, kind, status, utc_iso(now), utc_iso(now), error, expires_at),
        )

    async def claim(self, message_id: str, now_ts: float, lease_seconds: float) -> bool:
        """Take a due message for one send attempt; False if someone else holds it (or it is done)."""
        _, rows = await self._queue.claim_keys([message_id], now_ts, lease_seconds, returning="1",
                                               also=", last_attempt_at = ?", also_params=(now_ts,))
        return bool(rows)

    async def settle(self, message_id: str, status: str, now: datetime, error: str | None = None,
                     gateway_id: str | None = None) -> bool:
        """The outcome of the attempt this sender holds: sent (the gateway's id) or failed."""
        return await self._queue.settle(message_id, status, error,
                                        also=", updated_at = ?, gateway_id = coalesce(?, gateway_id)",
                                        also_params=(utc_iso(now), gateway_id))

    async def retry_later(self, message_id: str, at_ts: float, error: str, now: datetime) -> bool:
        """Back in the queue until ``at_ts`` (the attempt is counted)."""
        return await self._queue.retry_later(message_id, at_ts, error, also=", updated_at = ?",
                                             also_params=(utc_iso(now),))

    async def expire(self, message_id: str, now: datetime) -> None:
        """A code or reply that nobody can use any more is not sent late."""
        await self._queue.settle(message_id, "failed", "expired before it could be sent", also=", updated_at = ?",
                                 also_params=(utc_iso(now),), open_too=True, attempted=False)

    async def apply_receipt(self, message_id: str, status: str, reason: str | None, now: datetime) -> bool | None:
        """Set delivered / failed from a receipt. None: unknown id; False: already final, nothing changed."""
        changed = await self._db.write(
            "UPDATE sms_outbox SET status = ?, last_error = coalesce(?, last_error), receipt_at = ?, updated_at = ? "
            "WHERE id = ? AND status IN ('queued', 'sending', 'sent') RETURNING 1",
            (status, reason, utc_iso(now), utc_iso(now), message_id),
        )
        if changed:
            return True
        return False if await self.get(message_id) else None

    async def get(self, message_id: str) -> OutboxMessage | None:
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM sms_outbox WHERE id = ?", (message_id,))
        return OutboxMessage(*row) if row else None

    async def to_phone(self, phone: str) -> list[OutboxMessage]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM sms_outbox WHERE to_phone = ? ORDER BY created_at, {self._order}", (phone,))
        return [OutboxMessage(*r) for r in rows]

    async def queued(self, limit: int = 100) -> list[OutboxMessage]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM sms_outbox WHERE status = 'queued' {self._priority} LIMIT ?", (limit,))
        return [OutboxMessage(*r) for r in rows]

    async def due(self, now_ts: float, limit: int = 100) -> list[OutboxMessage]:
        """Messages whose backoff has run out, or whose sender's lease did, interactive first."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM sms_outbox WHERE {self._queue.due} {self._priority} LIMIT ?",
            (now_ts, now_ts, limit))
        return [OutboxMessage(*r) for r in rows]

    async def interactive_since(self, phone: str, since: datetime, cap: int) -> int:
        """Interactive messages (codes, replies) written for one phone since ``since``, counted up to ``cap``."""
        return int(await self._db.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM sms_outbox WHERE to_phone = ? AND created_at >= ? "
            "AND kind != 'notice' LIMIT ?) AS s", (phone, utc_iso(since), cap), 0))

    async def next_due_at(self) -> float | None:
        """When the earliest message becomes due (0 = now), or None when nothing is waiting."""
        return await self._queue.next_due_at()

    async def attempts_since(self, since_ts: float, cap: int) -> tuple[int, float | None]:
        """How many messages had an attempt since `since_ts`, counted up to ``cap``, and the oldest such attempt."""
        row = await self._db.fetchone(
            "SELECT count(*), min(t) FROM (SELECT last_attempt_at AS t FROM sms_outbox WHERE last_attempt_at >= ? "
            "ORDER BY last_attempt_at LIMIT ?) AS a", (since_ts, cap))
        assert row is not None
        return int(row[0]), (float(row[1]) if row[1] is not None else None)
