"""Operators and admins: the Telegram users with a role, kept in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from store.db import from_iso, utc_iso


@dataclass(frozen=True)
class StaffMember:
    user_id: int
    role: str
    added_at: datetime
    added_by: str


class StaffRepository:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def role(self, user_id: int) -> str | None:
        async with self._conn.execute("SELECT role FROM staff WHERE user_id = ?", (user_id,)) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def put(self, user_id: int, role: str, added_by: str, now: datetime) -> None:
        """Add the person or change their role (added_at/added_by stay those of the first addition)."""
        await self._conn.execute(
            "INSERT INTO staff (user_id, role, added_at, added_by) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET role = excluded.role",
            (user_id, role, utc_iso(now), added_by),
        )
        await self._conn.commit()

    async def add_if_absent(self, user_id: int, role: str, added_by: str, now: datetime) -> bool:
        cur = await self._conn.execute(
            "INSERT OR IGNORE INTO staff (user_id, role, added_at, added_by) VALUES (?, ?, ?, ?)",
            (user_id, role, utc_iso(now), added_by),
        )
        await self._conn.commit()
        return cur.rowcount == 1

    async def config_operators(self, added_by: str) -> list[int]:
        """Operators (not admins) that the configuration added."""
        rows = await self._conn.execute_fetchall(
            "SELECT user_id FROM staff WHERE added_by = ? AND role = 'operator' ORDER BY user_id", (added_by,))
        return [row[0] for row in rows]

    async def remove(self, user_id: int) -> bool:
        cur = await self._conn.execute("DELETE FROM staff WHERE user_id = ?", (user_id,))
        await self._conn.commit()
        return cur.rowcount == 1

    async def all(self) -> list[StaffMember]:
        async with self._conn.execute("SELECT user_id, role, added_at, added_by FROM staff ORDER BY user_id") as cur:
            return [StaffMember(r[0], r[1], from_iso(r[2]), r[3]) for r in await cur.fetchall()]
