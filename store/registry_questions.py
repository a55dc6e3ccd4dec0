"""Registry questions waiting for an answer (migration 012): one row per accepted application whose registry (or
directory) could not answer when it was accepted. States: queued → asking (claimed with a lease) → answered |
closed (the application was decided otherwise). Nothing of an answer is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from store.db import Database, utc_iso
from store.leased_queue import LeasedQueue


@dataclass(frozen=True)
class Question:
    number: str
    attempts: int


class RegistryQuestionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue = LeasedQueue(db, "registry_questions", "number", claimed="asking")

    async def add(self, number: str, now: datetime, first_try_in: float) -> None:
        await self._db.write(
            "INSERT INTO registry_questions (number, next_attempt_at, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (number) DO NOTHING",
            (number, now.timestamp() + first_try_in, utc_iso(now)))

    async def claim_due(self, now_ts: float, lease_seconds: float, limit: int = 20) -> list[Question]:
        """Take the questions that are due (or whose asker's lease ran out), oldest first."""
        _, rows = await self._queue.claim(now_ts, lease_seconds, limit, order="next_attempt_at, number",
                                          returning="number, attempts")
        return sorted((Question(r[0], r[1]) for r in rows), key=lambda q: q.number)

    async def retry_later(self, number: str, at_ts: float, error: str) -> None:
        await self._queue.retry_later(number, at_ts, error)

    async def settle(self, number: str, status: str, now: datetime) -> bool:
        """answered / closed; False when it was settled already (another worker answered it)."""
        return await self._queue.settle(number, status, also=", settled_at = ?", also_params=(utc_iso(now),),
                                        open_too=True)

    async def late_untold(self, now: datetime, limit: int = 50) -> list[str]:
        """Open questions whose application is past its due time, and whose requester was not told yet."""
        rows = await self._db.fetchall(
            "SELECT q.number FROM registry_questions q JOIN applications a ON a.number = q.number "
            "WHERE q.status IN ('queued', 'asking') AND q.late_told_at IS NULL AND a.due_at < ? "
            "ORDER BY a.due_at LIMIT ?",
            (utc_iso(now), limit))
        return [r[0] for r in rows]

    async def mark_late_told(self, number: str, now: datetime) -> bool:
        return bool(await self._db.write(
            "UPDATE registry_questions SET late_told_at = ? WHERE number = ? AND late_told_at IS NULL "
            "AND status IN ('queued', 'asking') RETURNING 1",
            (utc_iso(now), number)))

    async def status(self, number: str) -> str | None:
        # fetchval() gives the driver's value, typed Any; the column's type is known from the schema.
        return cast("str | None",
                    await self._db.fetchval("SELECT status FROM registry_questions WHERE number = ?", (number,)))

    async def next_due_at(self) -> float | None:
        """When the earliest open question is due again (its next try, or its asker's lease)."""
        return await self._queue.next_due_at()

    async def next_due_time(self) -> datetime | None:
        """The earliest due time of an application whose question is still open and late not told."""
        value = await self._db.fetchval(
            "SELECT min(a.due_at) FROM registry_questions q JOIN applications a ON a.number = q.number "
            "WHERE q.status IN ('queued', 'asking') AND q.late_told_at IS NULL")
        return datetime.fromisoformat(value) if value else None



