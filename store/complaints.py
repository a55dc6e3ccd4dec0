"""Complaints and the marks of their processing (migration 007)."""

from __future__ import annotations

from datetime import datetime

from bot.domain.model import Complaint, ComplaintEvent
from store.db import Database, Row, from_iso, utc_iso

_COLUMNS = ("number, user_id, iin, full_name, address, phone, addressee, app_number, provider_name, body, file_id, "
            "file_kind, state, filed_at, registered_at, forward_due_at, due_at, answer, updated_at, incoming_number")


def _opt(value: str | None) -> datetime | None:
    return from_iso(value) if value else None


def _complaint(r: Row) -> Complaint:
    return Complaint(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
                     from_iso(r[13]), _opt(r[14]), _opt(r[15]), from_iso(r[16]), r[17], from_iso(r[18]), r[19])


class ComplaintRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def exists(self, number: str) -> bool:
        return await self._db.fetchone("SELECT 1 FROM complaints WHERE number = ?", (number,)) is not None

    async def add(self, c: Complaint, actor: str) -> None:
        """The complaint and its first mark."""
        await self._db.write(
            f"INSERT INTO complaints ({_COLUMNS}) VALUES ({', '.join('?' * 20)})",
            (c.number, c.user_id, c.iin, c.full_name, c.address, c.phone, c.addressee, c.app_number,
             c.provider_name, c.body, c.file_id, c.file_kind, c.state, utc_iso(c.filed_at),
             utc_iso(c.registered_at) if c.registered_at else None,
             utc_iso(c.forward_due_at) if c.forward_due_at else None, utc_iso(c.due_at), c.answer,
             utc_iso(c.updated_at), c.incoming_number))
        await self._db.write("INSERT INTO complaint_events (number, state, at, actor) VALUES (?, ?, ?, ?)",
                             (c.number, c.state, utc_iso(c.filed_at), actor))

    async def get(self, number: str) -> Complaint | None:
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM complaints WHERE number = ?", (number,))
        return _complaint(row) if row else None

    async def for_iin(self, iin: str, limit: int = 20) -> list[Complaint]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM complaints WHERE iin = ? ORDER BY filed_at DESC LIMIT ?", (iin, limit))
        return [_complaint(r) for r in rows]

    async def events(self, number: str) -> list[ComplaintEvent]:
        rows = await self._db.fetchall(
            "SELECT state, at, actor FROM complaint_events WHERE number = ? ORDER BY id", (number,))
        return [ComplaintEvent(r[0], from_iso(r[1]), r[2]) for r in rows]

    async def move(self, number: str, to: str, from_states: frozenset[str], now: datetime, actor: str, *,
                   answer: str | None = None, registered_at: datetime | None = None,
                   due_at: datetime | None = None, incoming_number: str | None = None) -> bool:
        """Move the complaint to ``to`` only if it is still in one of ``from_states`` (checked by the UPDATE
        itself, so two operators pressing at once cannot both move it). False when it was not moved."""
        if not from_states:
            return False
        q = ", ".join("?" * len(from_states))
        moved = await self._db.write(
            "UPDATE complaints SET state = ?, updated_at = ?, answer = coalesce(?, answer), "
            "registered_at = coalesce(?, registered_at), due_at = coalesce(?, due_at), "
            "incoming_number = coalesce(?, incoming_number) "
            f"WHERE number = ? AND state IN ({q}) RETURNING 1",
            (to, utc_iso(now), answer, utc_iso(registered_at) if registered_at else None,
             utc_iso(due_at) if due_at else None, incoming_number, number, *sorted(from_states)))
        if not moved:
            return False
        await self._db.write("INSERT INTO complaint_events (number, state, at, actor) VALUES (?, ?, ?, ?)",
                             (number, to, utc_iso(now), actor))
        return True

    async def open_by_due(self, final_states: frozenset[str], limit: int, offset: int = 0
                          ) -> tuple[int, list[Complaint]]:
        """Open complaints, the earliest deadline (the most overdue) first, with the total count."""
        q = ", ".join("?" * len(final_states))
        total = await self._db.fetchval(f"SELECT count(*) FROM complaints WHERE state NOT IN ({q})",
                                        tuple(final_states), 0)
        rows = await self._db.fetchall(
            # The nearer of the two deadlines: forwarding (while not forwarded yet) and review.
            f"SELECT {_COLUMNS} FROM complaints WHERE state NOT IN ({q}) ORDER BY CASE WHEN forward_due_at IS NOT "
            "NULL AND state IN ('delivered', 'registered') AND forward_due_at < due_at THEN forward_due_at "
            "ELSE due_at END, number LIMIT ? OFFSET ?",
            (*final_states, limit, offset))
        return total, [_complaint(r) for r in rows]
