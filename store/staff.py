"""Operators and admins: the Telegram users with a role, kept in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from store.db import Database, from_iso, utc_iso


@dataclass(frozen=True)
class StaffMember:
    user_id: int
    role: str
    added_at: datetime
    added_by: str


class StaffRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def role(self, user_id: int) -> str | None:
        # fetchval() gives the driver's value, typed Any; the column's type is known from the schema.
        return cast("str | None", await self._db.fetchval("SELECT role FROM staff WHERE user_id = ?", (user_id,)))

    async def put(self, user_id: int, role: str, added_by: str, now: datetime) -> None:
        """Add the person or change their role (added_at/added_by stay those of the first addition)."""
        await self._db.write(
            "INSERT INTO staff (user_id, role, added_at, added_by) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET role = excluded.role",
            (user_id, role, utc_iso(now), added_by),
        )

    async def add_if_absent(self, user_id: int, role: str, added_by: str, now: datetime) -> bool:
        return bool(await self._db.write(
            "INSERT INTO staff (user_id, role, added_at, added_by) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING 1",
            (user_id, role, utc_iso(now), added_by),
        ))

    async def config_operators(self, added_by: str) -> list[int]:
        """Operators (not admins) that the configuration added."""
        rows = await self._db.fetchall(
            "SELECT user_id FROM staff WHERE added_by = ? AND role = 'operator' ORDER BY user_id", (added_by,))
        return [row[0] for row in rows]

    async def remove(self, user_id: int) -> bool:
        return bool(await self._db.write("DELETE FROM staff WHERE user_id = ? RETURNING 1", (user_id,)))

    async def all(self) -> list[StaffMember]:
        rows = await self._db.fetchall("SELECT user_id, role, added_at, added_by FROM staff ORDER BY user_id")
        return [StaffMember(r[0], r[1], from_iso(r[2]), r[3]) for r in rows]
