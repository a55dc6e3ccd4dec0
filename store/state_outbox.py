"""What we post to the state systems (migration 012): monitoring stages and complaints, until accepted.

A row is written in the transaction of what it reports; a worker claims due rows with a lease, posts them and
settles them (sent, or failed when the system refused it). A 'sending' row whose lease ran out (its sender
died) is due again and posted again with the same key: the contract makes the key an idempotency key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from store.db import Database, utc_iso
from store.leases import later, skip_locked

_DUE = "((status = 'queued' AND next_attempt_at <= ?) OR (status = 'sending' AND lease_until <= ?))"


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
        self._skip_locked = skip_locked(db)

    async def add(self, target: str, key: str, payload: dict[str, Any], now: datetime) -> bool:
        """Queue a post; False when the same key was queued already (a stage is reported once)."""
        return bool(await self._db.write(
            "INSERT INTO state_outbox (id, target, key, payload, next_attempt_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING 1",
            (f"{target}:{key}", target, key, json.dumps(payload, ensure_ascii=False), utc_iso(now), utc_iso(now))))

    async def claim_due(self, now: datetime, lease_seconds: float, limit: int = 50) -> list[StatePost]:
        now_iso = utc_iso(now)
        rows = await self._db.write(
            "UPDATE state_outbox SET status = 'sending', lease_until = ? WHERE id IN ("
            f"SELECT id FROM state_outbox WHERE {_DUE} ORDER BY created_at, id "
            f"LIMIT ?{self._skip_locked}) "
            "RETURNING id, target, key, payload, attempts, created_at",
            (later(now, lease_seconds), now_iso, now_iso, limit))
        rows = sorted(rows, key=lambda r: (r[5], r[0]))
        return [StatePost(r[0], r[1], r[2], json.loads(r[3] or "{}"), r[4]) for r in rows]

    async def settle(self, post_id: str, status: str, now: datetime, error: str | None = None) -> bool:
        """sent or failed; only a post being sent (a late sender whose lease ran out changes nothing). False: it
        was settled already."""
        return await self._db.write_count(
            "UPDATE state_outbox SET status = ?, settled_at = ?, last_error = ?, attempts = attempts + 1, "
            "payload = NULL, lease_until = NULL WHERE id = ? AND status = 'sending'",
            (status, utc_iso(now), error, post_id)) > 0

    async def retry_later(self, post_id: str, now: datetime, delay: float, error: str) -> None:
        await self._db.write(
            "UPDATE state_outbox SET status = 'queued', attempts = attempts + 1, next_attempt_at = ?, "
            "lease_until = NULL, last_error = ? WHERE id = ? AND status = 'sending'",
            (later(now, delay), error[:200], post_id))

    async def next_due_at(self) -> datetime | None:
        value = await self._db.fetchval(
            "SELECT min(CASE WHEN status = 'queued' THEN next_attempt_at ELSE lease_until END) "
            "FROM state_outbox WHERE status IN ('queued', 'sending')")
        return datetime.fromisoformat(value) if value else None

    async def statuses(self, target: str) -> list[tuple[str, str, int]]:
        """(key, status, attempts) of a target's posts, oldest first — for support and tests."""
        rows = await self._db.fetchall(
            "SELECT key, status, attempts FROM state_outbox WHERE target = ? ORDER BY created_at, id", (target,))
        return [(r[0], r[1], r[2]) for r in rows]
