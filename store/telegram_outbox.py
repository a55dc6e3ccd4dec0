"""The Telegram outbox: what a person must receive in Telegram, until Telegram has accepted it.

A row is one envelope for one chat (see migration 009). Rows are written inside the unit of work that owes
them; the sender claims them with a lease (a turn delivering its own replies inserts its row already claimed),
delivers, and settles. A row whose lease ran out is due again (its sender died). The lease's end, as the claim
wrote it, is the claim's token: a sender renews its lease only while the row still carries it, so a sender that
was held up past its lease learns that another one has taken the row over (``renew``) instead of sending it a
second time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from store.db import Database, utc_iso
from store.leases import skip_locked


@dataclass(frozen=True)
class Envelope:
    id: int
    chat_id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    lease_until: float | None = None  # the lease this sender holds (unix seconds), as its claim wrote it


_DUE = ("((status = 'queued' AND coalesce(next_attempt_at, 0) <= ?) "
        "OR (status = 'sending' AND coalesce(lease_until, 0) <= ?))")
# Only the head of a chat's queue may be claimed: a chat's envelopes leave in order even when several workers
# claim at once (the second one waits until the first is settled).
# The probe runs on the open envelopes only (index telegram_outbox_open_chat, migration 014), not on every message
# the chat ever had.
_HEAD = ("NOT EXISTS (SELECT 1 FROM telegram_outbox AS e WHERE e.chat_id = t.chat_id AND e.id < t.id "
         "AND e.status IN ('queued', 'sending') LIMIT 1)")


class TelegramOutboxRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._skip_locked = skip_locked(db)

    async def add(self, chat_id: int, kind: str, payload: dict[str, Any], now: datetime,
                  lease_until: float | None = None, label: str | None = None) -> int:
        """Queue an envelope; with ``lease_until`` it is claimed by the caller from the start. ``label`` says
        what it is (a text key, an outcome) and stays after the payload is cleared."""
        rows = await self._db.write(
            "INSERT INTO telegram_outbox (chat_id, kind, label, payload, status, lease_until, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (chat_id, kind, label, json.dumps(payload, ensure_ascii=False), "sending" if lease_until else "queued",
             lease_until, utc_iso(now)),
        )
        return int(rows[0][0])

    async def claim_due(self, now_ts: float, lease_seconds: float, limit: int = 50) -> list[Envelope]:
        """Claim the envelopes that are due, oldest first, each the head of its chat's queue."""
        until = now_ts + lease_seconds
        rows = await self._db.write(
            "UPDATE telegram_outbox SET status = 'sending', lease_until = ? WHERE id IN ("
            f"SELECT id FROM telegram_outbox AS t WHERE {_DUE} AND {_HEAD} ORDER BY id "
            f"LIMIT ?{self._skip_locked}) "
            "RETURNING id, chat_id, kind, payload, attempts",
            (until, now_ts, now_ts, limit),
        )
        return sorted((Envelope(r[0], r[1], r[2], json.loads(r[3] or "{}"), r[4], until) for r in rows),
                      key=lambda e: e.id)

    async def due_ids(self, now_ts: float, limit: int) -> list[int]:
        """The ids ``claim_due`` would take, read outside any unit (committed rows; on SQLite without the writer)."""
        rows = await self._db.fetchall(
            f"SELECT id FROM telegram_outbox AS t WHERE {_DUE} AND {_HEAD} ORDER BY id LIMIT ?",
            (now_ts, now_ts, limit))
        return [int(r[0]) for r in rows]

    async def claim_ids(self, ids: list[int], now_ts: float, lease_seconds: float) -> list[Envelope]:
        """Claim those of ``ids`` that are still due and the head of their chat's queue (by key: a few rows)."""
        until = now_ts + lease_seconds
        marks = ", ".join("?" * len(ids))
        rows = await self._db.write(
            f"UPDATE telegram_outbox AS t SET status = 'sending', lease_until = ? WHERE id IN ({marks}) "
            f"AND {_DUE} AND {_HEAD} RETURNING id, chat_id, kind, payload, attempts",
            (until, *ids, now_ts, now_ts))
        return sorted((Envelope(r[0], r[1], r[2], json.loads(r[3] or "{}"), r[4], until) for r in rows),
                      key=lambda e: e.id)

    async def renew(self, ids: list[int], held_until: float, until: float) -> set[int]:
        """Extend to ``until`` the lease of those envelopes of ``ids`` still being sent under the lease
        ``held_until`` (the one value a claim gives its whole batch); returns their ids. An envelope settled,
        back in the queue, or taken over by another sender after its lease ran out is not among them. The value
        is compared exactly: it is the float the claim wrote (double precision on both engines)."""
        if not ids:
            return set()
        marks = ", ".join("?" * len(ids))
        rows = await self._db.write(
            "UPDATE telegram_outbox SET lease_until = ? WHERE status = 'sending' AND lease_until = ? "
            f"AND id IN ({marks}) RETURNING id",
            (until, held_until, *ids),
        )
        return {int(r[0]) for r in rows}

    async def give_back(self, ids: list[int], held_until: float) -> None:
        """Claimed envelopes back in the queue (those of ``ids`` still held under the lease ``held_until``)."""
        marks = ", ".join("?" * len(ids))
        await self._db.write(
            "UPDATE telegram_outbox SET status = 'queued', lease_until = NULL WHERE status = 'sending' "
            f"AND lease_until = ? AND id IN ({marks})",
            (held_until, *ids),
        )

    async def settle(self, envelope_id: int, status: str, now: datetime, error: str | None = None) -> bool:
        """Final outcome: sent, by_sms, failed or off. The payload is not kept past delivery. Only an envelope
        being sent is settled: a sender whose lease ran out, late, neither overwrites the outcome of the sender
        that took it over nor reopens it. False: it was settled already."""
        return await self._db.write_count(
            "UPDATE telegram_outbox SET status = ?, settled_at = ?, last_error = ?, attempts = attempts + 1, "
            "payload = NULL, lease_until = NULL WHERE id = ? AND status = 'sending'",
            (status, utc_iso(now), error, envelope_id),
        ) > 0

    async def keep_left(self, envelope_id: int, payload: dict[str, Any]) -> None:
        """An envelope being sent keeps only what has not left yet (``payload``)."""
        await self._db.write(
            "UPDATE telegram_outbox SET payload = ? WHERE id = ? AND status = 'sending'",
            (json.dumps(payload, ensure_ascii=False), envelope_id),
        )

    async def retry_later(self, envelope_id: int, at_ts: float, error: str, payload: dict[str, Any] | None = None
                          ) -> None:
        """Back to the queue until ``at_ts`` (``payload``: what is left to send, when part of it went); not if
        another sender has settled it meanwhile."""
        await self._db.write(
            "UPDATE telegram_outbox SET status = 'queued', attempts = attempts + 1, next_attempt_at = ?, "
            "last_error = ?, lease_until = NULL, payload = coalesce(?, payload) WHERE id = ? AND status = 'sending'",
            (at_ts, error, json.dumps(payload, ensure_ascii=False) if payload is not None else None, envelope_id),
        )

    async def next_due_at(self) -> float | None:
        value = await self._db.fetchval(
            "SELECT min(CASE WHEN status = 'queued' THEN coalesce(next_attempt_at, 0) ELSE lease_until END) "
            "FROM telegram_outbox WHERE status IN ('queued', 'sending')")
        return None if value is None else float(value)

    async def statuses(self, chat_id: int, kind: str | None = None) -> list[tuple[str, str]]:
        """(label or kind, status) of a chat's envelopes, oldest first — for support and tests."""
        rows = await self._db.fetchall(
            "SELECT coalesce(label, kind), status FROM telegram_outbox WHERE chat_id = ? "
            "AND (CAST(? AS TEXT) IS NULL OR kind = ?) ORDER BY id",
            (chat_id, kind, kind))
        return [(r[0], r[1]) for r in rows]
