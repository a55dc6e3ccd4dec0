"""One-time passwords as rows: only the HMAC of a code is stored, so a restart loses nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from store.db import from_iso, utc_iso


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
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def add(self, purpose: str, ref: str, phone: str, code_hash: str, now: datetime,
                  expires_at: datetime) -> int:
        cur = await self._conn.execute(
            "INSERT INTO otps (purpose, ref, phone, code_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (purpose, ref, phone, code_hash, utc_iso(now), utc_iso(expires_at)),
        )
        await self._conn.commit()
        return cur.lastrowid

    async def latest(self, purpose: str, ref: str) -> OtpRow | None:
        async with self._conn.execute(
            f"SELECT {_COLUMNS} FROM otps WHERE purpose = ? AND ref = ? ORDER BY id DESC LIMIT 1", (purpose, ref)
        ) as cur:
            row = await cur.fetchone()
        return _row(row) if row else None

    async def sends_since(self, phone: str, since: datetime) -> int:
        async with self._conn.execute(
            "SELECT count(*) FROM otps WHERE phone = ? AND created_at >= ?", (phone, utc_iso(since))
        ) as cur:
            return (await cur.fetchone())[0]

    async def sends_for_ref_since(self, purpose: str, ref: str, since: datetime) -> int:
        async with self._conn.execute(
            "SELECT count(*) FROM otps WHERE purpose = ? AND ref = ? AND created_at >= ?",
            (purpose, ref, utc_iso(since)),
        ) as cur:
            return (await cur.fetchone())[0]

    async def attempts_for_ref(self, purpose: str, ref: str) -> int:
        async with self._conn.execute(
            "SELECT coalesce(sum(attempts), 0) FROM otps WHERE purpose = ? AND ref = ?", (purpose, ref)
        ) as cur:
            return (await cur.fetchone())[0]

    async def add_attempt(self, otp_id: int) -> None:
        await self._conn.execute("UPDATE otps SET attempts = attempts + 1 WHERE id = ?", (otp_id,))
        await self._conn.commit()

    async def consume(self, otp_id: int, now: datetime) -> bool:
        """Mark a code used; False if it was used already (single use even under a race)."""
        cur = await self._conn.execute(
            "UPDATE otps SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL", (utc_iso(now), otp_id)
        )
        await self._conn.commit()
        return cur.rowcount == 1
