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

from store.db import Database, Row, utc_iso
from store.leased_queue import LeasedQueue


@dataclass(frozen=True)
class Envelope:
    id: int
    chat_id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    lease_until: float | None = None  # the lease this sender holds (unix seconds), as its claim wrote it


# Only the head of a chat's queue may be claimed: a chat's envelopes leave in order even when several workers
# claim at once (the second one waits until the first is settled).
# The probe runs on the open envelopes only (index telegram_outbox_open_chat, migration 014), not on every message
# the chat ever had.
_HEAD = ("NOT EXISTS (SELECT 1 FROM telegram_outbox AS e WHERE e.chat_id = t.chat_id AND e.id < t.id "
         "AND e.status IN ('queued', 'sending') LIMIT 1)")
_RETURNING = "id, chat_id, kind, payload, attempts"


def _envelopes(rows: list[Row], until: float) -> list[Envelope]:
    return sorted((Envelope(r[0], r[1], r[2], json.loads(r[3] or "{}"), r[4], until) for r in rows),
                  key=lambda e: e.id)


class TelegramOutboxRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue = LeasedQueue(db, "telegram_outbox", "id")

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
        until, rows = await self._queue.claim(now_ts, lease_seconds, limit, order="id", returning=_RETURNING,
                                              where=_HEAD)
        return _envelopes(rows, until)

    async def due_ids(self, now_ts: float, limit: int) -> list[int]:
        """The ids ``claim_due`` would take, read outside any unit (committed rows; on SQLite without the writer)."""
        return [int(k) for k in await self._queue.due_keys(now_ts, limit, order="id", where=_HEAD)]

    async def claim_ids(self, ids: list[int], now_ts: float, lease_seconds: float) -> list[Envelope]:
        """Claim those of ``ids`` that are still due and the head of their chat's queue (by key: a few rows)."""
        until, rows = await self._queue.claim_keys(ids, now_ts, lease_seconds, returning=_RETURNING, where=_HEAD)
        return _envelopes(rows, until)

    async def renew(self, ids: list[int], held_until: float, until: float) -> set[int]:
        """Extend to ``until`` the lease of those envelopes of ``ids`` still being sent under the lease
        ``held_until`` (the one value a claim gives its whole batch); returns their ids (store/leased_queue.py)."""
        return {int(k) for k in await self._queue.renew(ids, held_until, until)}

    async def give_back(self, ids: list[int], held_until: float) -> None:
        """Claimed envelopes back in the queue (those of ``ids`` still held under the lease ``held_until``)."""
        await self._queue.give_back(ids, held_until)

    async def settle(self, envelope_id: int, status: str, now: datetime, error: str | None = None) -> bool:
        """Final outcome: sent, by_sms, failed or off. The payload is not kept past delivery. Only an envelope
        being sent is settled: a sender whose lease ran out, late, neither overwrites the outcome of the sender
        that took it over nor reopens it. False: it was settled already."""
        return await self._queue.settle(envelope_id, status, error, also=", settled_at = ?, payload = NULL",
                                        also_params=(utc_iso(now),))

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
        await self._queue.retry_later(
            envelope_id, at_ts, error, also=", payload = coalesce(?, payload)",
            also_params=(json.dumps(payload, ensure_ascii=False) if payload is not None else None,))

    async def next_due_at(self) -> float | None:
        return await self._queue.next_due_at()

    async def statuses(self, chat_id: int, kind: str | None = None) -> list[tuple[str, str]]:
        """(label or kind, status) of a chat's envelopes, oldest first — for support and tests."""
        rows = await self._db.fetchall(
            "SELECT coalesce(label, kind), status FROM telegram_outbox WHERE chat_id = ? "
            "AND (CAST(? AS TEXT) IS NULL OR kind = ?) ORDER BY id",
            (chat_id, kind, kind))
        return [(r[0], r[1]) for r in rows]
