"""The Telegram notice queue: what to tell whom, until Telegram has accepted it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from store.db import UnitOfWorkConnection, utc_iso


@dataclass(frozen=True)
class QueuedNotice:
    id: int
    user_id: int
    iin: str | None
    key: str
    params: dict
    attempts: int


class NoticeRepository:
    def __init__(self, conn: UnitOfWorkConnection) -> None:
        self._conn = conn

    async def add(self, user_id: int, iin: str | None, key: str, params: dict, now: datetime) -> int:
        return await self._conn.insert(
            "INSERT INTO notices (user_id, iin, key, params, created_at) VALUES (?, ?, ?, ?, ?)",
            (user_id, iin, key, json.dumps(params, ensure_ascii=False), utc_iso(now)),
        )

    async def due(self, now_ts: float, limit: int = 50) -> list[QueuedNotice]:
        async with self._conn.execute(
            "SELECT id, user_id, iin, key, params, attempts FROM notices WHERE status = 'queued' "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id LIMIT ?",
            (now_ts, limit),
        ) as cur:
            return [QueuedNotice(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in await cur.fetchall()]

    async def next_due_at(self) -> float | None:
        async with self._conn.execute(
            "SELECT min(coalesce(next_attempt_at, 0)) FROM notices WHERE status = 'queued'"
        ) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def finish(self, notice_id: int, status: str, now: datetime, error: str | None = None) -> None:
        await self._conn.write(
            "UPDATE notices SET status = ?, sent_at = ?, last_error = ?, attempts = attempts + 1 WHERE id = ?",
            (status, utc_iso(now), error, notice_id),
        )

    async def retry_later(self, notice_id: int, at_ts: float, error: str) -> None:
        await self._conn.write(
            "UPDATE notices SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
            (at_ts, error, notice_id),
        )

    async def statuses(self, user_id: int) -> list[tuple[str, str]]:
        """(key, status) of a person's notices, oldest first — for tests and support."""
        async with self._conn.execute("SELECT key, status FROM notices WHERE user_id = ? ORDER BY id",
                                      (user_id,)) as cur:
            return [(r[0], r[1]) for r in await cur.fetchall()]
