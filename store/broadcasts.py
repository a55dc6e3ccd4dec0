"""Broadcasts and their delivery ledger (one row per recipient).

The ledger is filled in SQL (INSERT … SELECT from the audience query) and read back in keyset pages, so a
broadcast to a million subscribers never holds more than one page in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.application_status import FINAL_STATUSES
from store.db import Database, Row, from_iso, utc_iso

RECIPIENT_STATUSES = ("queued", "sending", "sent", "failed", "blocked", "skipped", "unknown")


@dataclass(frozen=True)
class Broadcast:
    id: int
    created_by: str
    created_at: datetime
    text_kk: str | None
    text_ru: str | None
    audience: str
    status: str
    total: int
    finished_at: datetime | None
    report_chat_id: int | None
    progress_message_id: int | None


@dataclass(frozen=True)
class Recipient:
    user_id: int
    lang: str | None


_COLUMNS = ("id, created_by, created_at, text_kk, text_ru, audience, status, total, finished_at, report_chat_id, "
            "progress_message_id")


def _broadcast(r: Row) -> Broadcast:
    return Broadcast(r[0], r[1], from_iso(r[2]), r[3], r[4], r[5], r[6], r[7], from_iso(r[8]) if r[8] else None,
                     r[9], r[10])


def audience_query(kind: str, value: str | None) -> tuple[str, tuple[str | None, ...]]:
    """SELECT user_id of the subscribers (not blocked) in an audience: all, one language, or people with an
    open application of one service (who filed it in the bot, or who is linked to the IIN it is about)."""
    base = "SELECT u.user_id FROM users u WHERE u.subscribed = 1 AND u.blocked_at IS NULL"
    if kind == "all":
        return base, ()
    if kind == "lang":
        return base + " AND u.lang = ?", (value,)
    if kind == "service":
        final = ", ".join("?" * len(FINAL_STATUSES))
        return (base + " AND u.user_id IN ("
                "SELECT a.requester_user_id FROM applications a WHERE a.service = ? "
                f"AND a.status NOT IN ({final}) AND a.requester_user_id IS NOT NULL "
                "UNION SELECT l.user_id FROM applications a JOIN telegram_links l ON l.iin = a.iin "
                f"WHERE a.service = ? AND a.status NOT IN ({final}))",
                (value, *FINAL_STATUSES, value, *FINAL_STATUSES))
    raise ValueError(f"unknown audience kind {kind!r}")


class BroadcastRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def count_audience(self, kind: str, value: str | None) -> int:
        sql, params = audience_query(kind, value)
        return int(await self._db.fetchval(f"SELECT count(*) FROM ({sql}) AS audience", params, 0))

    async def in_audience(self, kind: str, value: str | None, user_id: int) -> bool:
        sql, params = audience_query(kind, value)
        return await self._db.fetchval(f"SELECT 1 FROM ({sql}) AS audience WHERE audience.user_id = ?",
                                       (*params, user_id)) is not None

    async def create(self, created_by: str, now: datetime, text_kk: str | None, text_ru: str | None,
                     audience: str, kind: str, value: str | None, report_chat_id: int | None) -> Broadcast:
        """The broadcast and its ledger (in the caller's unit: either both exist or neither does)."""
        sql, params = audience_query(kind, value)
        at = utc_iso(now)
        rows = await self._db.write(
            "INSERT INTO broadcasts (created_by, created_at, text_kk, text_ru, audience, status, report_chat_id) "
            "VALUES (?, ?, ?, ?, ?, 'sending', ?) RETURNING id",
            (created_by, at, text_kk, text_ru, audience, report_chat_id),
        )
        broadcast_id = int(rows[0][0])
        total = await self._db.write_count(
            "INSERT INTO broadcast_recipients (broadcast_id, user_id, status, updated_at) "
            f"SELECT ?, user_id, 'queued', ? FROM ({sql}) AS audience",
            (broadcast_id, at, *params),
        )
        await self._db.write("UPDATE broadcasts SET total = ? WHERE id = ?", (total, broadcast_id))
        found = await self.get(broadcast_id)
        assert found is not None
        return found

    async def get(self, broadcast_id: int) -> Broadcast | None:
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM broadcasts WHERE id = ?", (broadcast_id,))
        return _broadcast(row) if row else None

    async def recent(self, limit: int = 20) -> list[Broadcast]:
        rows = await self._db.fetchall(f"SELECT {_COLUMNS} FROM broadcasts ORDER BY id DESC LIMIT ?", (limit,))
        return [_broadcast(row) for row in rows]

    async def next_sending(self) -> Broadcast | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM broadcasts WHERE status = 'sending' ORDER BY id LIMIT 1")
        return _broadcast(row) if row else None

    async def set_progress_message(self, broadcast_id: int, message_id: int) -> None:
        await self._db.write("UPDATE broadcasts SET progress_message_id = ? WHERE id = ?",
                             (message_id, broadcast_id))

    async def queued_page(self, broadcast_id: int, after_user_id: int, limit: int) -> list[Recipient]:
        """The next recipients still queued, by user id (keyset pagination: no OFFSET, no full scan)."""
        rows = await self._db.fetchall(
            "SELECT r.user_id, u.lang FROM broadcast_recipients r LEFT JOIN users u ON u.user_id = r.user_id "
            "WHERE r.broadcast_id = ? AND r.status = 'queued' AND r.user_id > ? ORDER BY r.user_id LIMIT ?",
            (broadcast_id, after_user_id, limit),
        )
        return [Recipient(r[0], r[1]) for r in rows]

    async def mark_sending(self, broadcast_id: int, user_id: int, now: datetime) -> bool:
        """queued -> sending, only if the person is still subscribed and not blocked (checked at send time)."""
        return bool(await self._db.write(
            "UPDATE broadcast_recipients SET status = 'sending', attempts = attempts + 1, updated_at = ? "
            "WHERE broadcast_id = ? AND user_id = ? AND status = 'queued' AND EXISTS ("
            "SELECT 1 FROM users u WHERE u.user_id = ? AND u.subscribed = 1 AND u.blocked_at IS NULL) RETURNING 1",
            (utc_iso(now), broadcast_id, user_id, user_id),
        ))

    async def settle(self, broadcast_id: int, user_id: int, status: str, now: datetime,
                     message_id: int | None = None, error: str | None = None, only_from: str = "sending") -> bool:
        """Move one recipient from ``only_from`` to its outcome."""
        return bool(await self._db.write(
            "UPDATE broadcast_recipients SET status = ?, message_id = coalesce(?, message_id), error = ?, "
            "updated_at = ? WHERE broadcast_id = ? AND user_id = ? AND status = ? RETURNING 1",
            (status, message_id, error, utc_iso(now), broadcast_id, user_id, only_from),
        ))

    async def requeue(self, broadcast_id: int, user_id: int, now: datetime, error: str, max_attempts: int) -> None:
        """sending -> queued again: the message certainly did not leave. After ``max_attempts`` tries: failed."""
        await self._db.write(
            "UPDATE broadcast_recipients SET status = CASE WHEN attempts >= ? THEN 'failed' ELSE 'queued' END, "
            "error = ?, updated_at = ? WHERE broadcast_id = ? AND user_id = ? AND status = 'sending'",
            (max_attempts, error, utc_iso(now), broadcast_id, user_id),
        )

    async def counts(self, broadcast_id: int) -> dict[str, int]:
        rows = await self._db.fetchall(
            "SELECT status, count(*) FROM broadcast_recipients WHERE broadcast_id = ? GROUP BY status",
            (broadcast_id,))
        found = {r[0]: r[1] for r in rows}
        return {status: found.get(status, 0) for status in RECIPIENT_STATUSES}

    async def recover_interrupted(self, now: datetime) -> int:
        """After a stop or a crash: rows left 'sending' may or may not have reached Telegram. They become
        'unknown' and are never sent again (a person must not get the same broadcast twice)."""
        return await self._db.write_count(
            "UPDATE broadcast_recipients SET status = 'unknown', error = 'interrupted', updated_at = ? "
            "WHERE status = 'sending'",
            (utc_iso(now),),
        )

    async def cancel(self, broadcast_id: int, now: datetime) -> bool:
        """Stop a broadcast: recipients not reached yet are skipped. False if it was no longer sending."""
        at = utc_iso(now)
        stopped = await self._db.write(
            "UPDATE broadcasts SET status = 'cancelled', finished_at = ? WHERE id = ? AND status = 'sending' "
            "RETURNING 1",
            (at, broadcast_id),
        )
        if stopped:
            await self._db.write(
                "UPDATE broadcast_recipients SET status = 'skipped', error = 'cancelled', updated_at = ? "
                "WHERE broadcast_id = ? AND status = 'queued'",
                (at, broadcast_id),
            )
        return bool(stopped)

    async def finish(self, broadcast_id: int, now: datetime) -> bool:
        return bool(await self._db.write(
            "UPDATE broadcasts SET status = 'done', finished_at = ? WHERE id = ? AND status = 'sending' RETURNING 1",
            (utc_iso(now), broadcast_id),
        ))

    async def recipient(self, broadcast_id: int, user_id: int) -> tuple[str, int, int | None] | None:
        """(status, attempts, message_id) of one recipient."""
        row = await self._db.fetchone(
            "SELECT status, attempts, message_id FROM broadcast_recipients WHERE broadcast_id = ? AND user_id = ?",
            (broadcast_id, user_id))
        return (row[0], row[1], row[2]) if row else None
