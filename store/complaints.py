"""Complaints and the marks of their processing (migration 007)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from store.db import from_iso, utc_iso


@dataclass(frozen=True)
class Complaint:
    number: str
    user_id: int
    iin: str
    full_name: str
    address: str
    phone: str | None
    addressee: str
    app_number: str | None
    provider_name: str | None
    body: str
    file_id: str | None
    file_kind: str | None
    state: str
    filed_at: datetime
    registered_at: datetime | None
    forward_due_at: datetime | None
    due_at: datetime
    answer: str | None
    updated_at: datetime


@dataclass(frozen=True)
class ComplaintEvent:
    state: str
    at: datetime
    actor: str


_COLUMNS = ("number, user_id, iin, full_name, address, phone, addressee, app_number, provider_name, body, file_id, "
            "file_kind, state, filed_at, registered_at, forward_due_at, due_at, answer, updated_at")


def _opt(value: str | None) -> datetime | None:
    return from_iso(value) if value else None


def _complaint(r: aiosqlite.Row) -> Complaint:
    return Complaint(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
                     from_iso(r[13]), _opt(r[14]), _opt(r[15]), from_iso(r[16]), r[17], from_iso(r[18]))


class ComplaintRepository:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def exists(self, number: str) -> bool:
        async with self._conn.execute("SELECT 1 FROM complaints WHERE number = ?", (number,)) as cur:
            return await cur.fetchone() is not None

    async def add(self, c: Complaint, actor: str) -> None:
        """The complaint and its first mark, in one commit."""
        await self._conn.execute(
            f"INSERT INTO complaints ({_COLUMNS}) VALUES ({', '.join('?' * 19)})",
            (c.number, c.user_id, c.iin, c.full_name, c.address, c.phone, c.addressee, c.app_number,
             c.provider_name, c.body, c.file_id, c.file_kind, c.state, utc_iso(c.filed_at),
             utc_iso(c.registered_at) if c.registered_at else None,
             utc_iso(c.forward_due_at) if c.forward_due_at else None, utc_iso(c.due_at), c.answer,
             utc_iso(c.updated_at)))
        await self._conn.execute("INSERT INTO complaint_events (number, state, at, actor) VALUES (?, ?, ?, ?)",
                                 (c.number, c.state, utc_iso(c.filed_at), actor))
        await self._conn.commit()

    async def get(self, number: str) -> Complaint | None:
        async with self._conn.execute(f"SELECT {_COLUMNS} FROM complaints WHERE number = ?", (number,)) as cur:
            row = await cur.fetchone()
        return _complaint(row) if row else None

    async def for_iin(self, iin: str, limit: int = 20) -> list[Complaint]:
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM complaints WHERE iin = ? ORDER BY filed_at DESC LIMIT ?", (iin, limit)
        ) as cur:
            return [_complaint(r) for r in await cur.fetchall()]

    async def events(self, number: str) -> list[ComplaintEvent]:
        async with self._conn.execute(
            "SELECT state, at, actor FROM complaint_events WHERE number = ? ORDER BY id", (number,)
        ) as cur:
            return [ComplaintEvent(r[0], from_iso(r[1]), r[2]) for r in await cur.fetchall()]

    async def move(self, number: str, to: str, from_states: frozenset[str], now: datetime, actor: str, *,
                   answer: str | None = None, registered_at: datetime | None = None,
                   due_at: datetime | None = None) -> bool:
        """Move the complaint to ``to`` only if it is still in one of ``from_states`` (checked by the UPDATE
        itself, so two operators pressing at once cannot both move it). False when it was not moved."""
        if not from_states:
            return False
        q = ", ".join("?" * len(from_states))
        cur = await self._conn.execute(
            "UPDATE complaints SET state = ?, updated_at = ?, answer = coalesce(?, answer), "
            "registered_at = coalesce(?, registered_at), due_at = coalesce(?, due_at) "
            f"WHERE number = ? AND state IN ({q})",
            (to, utc_iso(now), answer, utc_iso(registered_at) if registered_at else None,
             utc_iso(due_at) if due_at else None, number, *sorted(from_states)))
        if cur.rowcount != 1:
            await self._conn.commit()  # ends the unit of work; nothing was written
            return False
        await self._conn.execute("INSERT INTO complaint_events (number, state, at, actor) VALUES (?, ?, ?, ?)",
                                 (number, to, utc_iso(now), actor))
        await self._conn.commit()
        return True

    async def open_by_due(self, final_states: frozenset[str], limit: int, offset: int = 0
                          ) -> tuple[int, list[Complaint]]:
        """Open complaints, the earliest deadline (the most overdue) first, with the total count."""
        q = ", ".join("?" * len(final_states))
        async with self._conn.execute(f"SELECT count(*) FROM complaints WHERE state NOT IN ({q})",
                                      tuple(final_states)) as cur:
            total = (await cur.fetchone())[0]  # type: ignore[index]
        async with self._conn.execute(
            # The nearer of the two deadlines: forwarding (while not forwarded yet) and review.
            f"SELECT {_COLUMNS} FROM complaints WHERE state NOT IN ({q}) ORDER BY CASE WHEN forward_due_at IS NOT "
            "NULL AND state IN ('delivered', 'registered') AND forward_due_at < due_at THEN forward_due_at "
            "ELSE due_at END, number LIMIT ? OFFSET ?",
            (*final_states, limit, offset)
        ) as cur:
            return total, [_complaint(r) for r in await cur.fetchall()]
