"""One-time passwords as rows: only the HMAC of a code is stored, so a restart loses nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from store.db import UnitOfWorkConnection, from_iso, utc_iso


@dataclass(frozen=True)
class OtpRow:
    id: int
    purpose: str
    ref: str
    phone: str
    code_hash: str
    created_at: datetime
    expires_at: datetime
    attempts: int
    consumed_at: datetime | None


def _row(row: aiosqlite.Row) -> OtpRow:
    return OtpRow(
        row[0], row[1], row[2], row[3], row[4], from_iso(row[5]), from_iso(row[6]), row[7],
        from_iso(row[8]) if row[8] else None,
    )


_COLUMNS = "id, purpose, ref, phone, code_hash, created_at, expires_at, attempts, consumed_at"


class OtpRepository:
    def __init__(self, conn: UnitOfWorkConnection) -> None:
        self._conn = conn

    async def add(self, purpose: str, ref: str, phone: str, code_hash: str, now: datetime,
                  expires_at: datetime) -> int:
        return await self._conn.insert(
            "INSERT INTO otps (purpose, ref, phone, code_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (purpose, ref, phone, code_hash, utc_iso(now), utc_iso(expires_at)),
        )

    async def latest(self, purpose: str, ref: str) -> OtpRow | None:
        rows = await self._conn.execute_fetchall(
            f"SELECT {_COLUMNS} FROM otps WHERE purpose = ? AND ref = ? ORDER BY id DESC LIMIT 1", (purpose, ref))
        row = next(iter(rows), None)
        return _row(row) if row else None

    async def sends_since(self, phone: str, since: datetime) -> int:
        rows = await self._conn.execute_fetchall(
            "SELECT count(*) FROM otps WHERE phone = ? AND created_at >= ?", (phone, utc_iso(since)))
        return next(iter(rows))[0]

    async def sends_for_ref_since(self, purpose: str, ref: str, since: datetime) -> int:
        rows = await self._conn.execute_fetchall(
            "SELECT count(*) FROM otps WHERE purpose = ? AND ref = ? AND created_at >= ?",
            (purpose, ref, utc_iso(since)))
        return next(iter(rows))[0]

    async def attempts_for_ref(self, purpose: str, ref: str) -> int:
        rows = await self._conn.execute_fetchall(
            "SELECT coalesce(sum(attempts), 0) FROM otps WHERE purpose = ? AND ref = ?", (purpose, ref))
        return next(iter(rows))[0]

    async def add_attempt(self, otp_id: int) -> None:
        await self._conn.write("UPDATE otps SET attempts = attempts + 1 WHERE id = ?", (otp_id,))

    async def consume(self, otp_id: int, now: datetime) -> bool:
        """Mark a code used; False if it was used already (single use even under a race)."""
        changed = await self._conn.write(
            "UPDATE otps SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL", (utc_iso(now), otp_id)
        )
        return changed == 1
