"""What we post to the state systems (migration 012): monitoring stages and complaints, until accepted.

A row is written in the transaction of what it reports; a worker claims due rows with a lease, posts them and
settles them (sent, or failed when the system refused it). A 'sending' row whose lease ran out (its sender
died) is due again and posted again with the same key: the contract makes the key an idempotency key. The
lease mechanics are store/leased_queue.py's; its times are unix epoch seconds (migration 015).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from store.db import Database, utc_iso
from store.leased_queue import LeasedQueue


@dataclass(frozen=True)
class StatePost:
    id: str
    target: str
    key: str
    payload: dict[str, Any]
    attempts: int


class StateOutboxRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue = LeasedQueue(db, "state_outbox", "id")

    async def add(self, target: str, key: str, payload: dict[str, Any], now: datetime) -> bool:
        """Queue a post, due now; False when the same key was queued already (a stage is reported once)."""
        return bool(await self._db.write(
            "INSERT INTO state_outbox (id, target, key, payload, next_attempt_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING 1",
            (f"{target}:{key}", target, key, json.dumps(payload, ensure_ascii=False), now.timestamp(),
             utc_iso(now))))

    async def claim_due(self, now_ts: float, lease_seconds: float, limit: int = 50) -> list[StatePost]:
        """Claim the posts that are due, oldest first."""
        _, rows = await self._queue.claim(now_ts, lease_seconds, limit, order="created_at, id",
                                          returning="id, target, key, payload, attempts, created_at")
        rows = sorted(rows, key=lambda r: (r[5], r[0]))
        return [StatePost(r[0], r[1], r[2], json.loads(r[3] or "{}"), r[4]) for r in rows]

    async def settle(self, post_id: str, status: str, now: datetime, error: str | None = None) -> bool:
        """sent or failed; only a post being sent (a late sender whose lease ran out changes nothing). False: it
        was settled already."""
        return await self._queue.settle(post_id, status, error, also=", settled_at = ?, payload = NULL",
                                        also_params=(utc_iso(now),))

    async def retry_later(self, post_id: str, at_ts: float, error: str) -> None:
        await self._queue.retry_later(post_id, at_ts, error)

    async def next_due_at(self) -> float | None:
        return await self._queue.next_due_at()

    async def statuses(self, target: str) -> list[tuple[str, str, int]]:
        """(key, status, attempts) of a target's posts, oldest first — for support and tests."""
        rows = await self._db.fetchall(
            "SELECT key, status, attempts FROM state_outbox WHERE target = ? ORDER BY created_at, id", (target,))
        return [(r[0], r[1], r[2]) for r in rows]
