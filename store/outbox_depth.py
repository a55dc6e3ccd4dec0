"""How much the outboxes still owe: rows by state, and the oldest row that is due (for GET /metrics).

A read outside any unit of work, on the read-only connection: a scrape never waits for a writer. Due means
what the workers mean by it, the one rule of store/leased_queue.py: a queued row whose backoff has run out, or a
row being sent whose sender's lease ran out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from store.db import Database, from_iso
from store.leased_queue import LeasedQueue

_TABLES = {"sms": "sms_outbox", "telegram": "telegram_outbox"}


@dataclass(frozen=True)
class OutboxRows:
    outbox: str
    state: str
    count: int
    oldest_due_created_at: datetime | None


class OutboxDepthRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._due = {outbox: LeasedQueue(db, table, "id").due for outbox, table in _TABLES.items()}

    async def pending(self, now_ts: float) -> list[OutboxRows]:
        """Rows still owed (queued or sending) in each outbox, by state; states with none are left out."""
        found: list[OutboxRows] = []
        for outbox, table in _TABLES.items():
            rows = await self._db.fetchall(
                f"SELECT status, count(*), min(CASE WHEN {self._due[outbox]} THEN created_at END) FROM {table} "
                "WHERE status IN ('queued', 'sending') GROUP BY status",
                (now_ts, now_ts))
            found.extend(OutboxRows(outbox, r[0], int(r[1]), from_iso(r[2]) if r[2] else None) for r in rows)
        return found
