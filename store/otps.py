"""One-time passwords as rows: only the HMAC of a code is stored, so a restart loses nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from store.db import Database, Row, from_iso, utc_iso


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


def _row(row: Row) -> OtpRow:
    return OtpRow(
        row[0], row[1], row[2], row[3], row[4], from_iso(row[5]), from_iso(row[6]), row[7],
        from_iso(row[8]) if row[8] else None,
    )


_COLUMNS = "id, purpose, ref, phone, code_hash, created_at, expires_at, attempts, consumed_at"


# The codes of one request whose wrong tries count together (attempts_for_ref).
RECENT_CODES = 50


class OtpRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, purpose: str, ref: str, phone: str, code_hash: str, now: datetime,
                  expires_at: datetime) -> int:
        rows = await self._db.write(
            "INSERT INTO otps (purpose, ref, phone, code_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?) "
            "RETURNING id",
            (purpose, ref, phone, code_hash, utc_iso(now), utc_iso(expires_at)),
        )
        return int(rows[0][0])

    async def latest(self, purpose: str, ref: str) -> OtpRow | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM otps WHERE purpose = ? AND ref = ? ORDER BY created_at DESC, id DESC LIMIT 1",
            (purpose, ref))
        return _row(row) if row else None

    async def sends_since(self, phone: str, since: datetime, cap: int) -> int:
        """Codes sent to ``phone`` since ``since``, counted up to ``cap`` (the limit is all the caller asks)."""
        return int(await self._db.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM otps WHERE phone = ? AND created_at >= ? LIMIT ?) AS s",
            (phone, utc_iso(since), cap), 0))

    async def attempts_for_ref(self, purpose: str, ref: str) -> int:
        """Wrong tries over the latest codes of ``ref`` (RECENT_CODES: resends are a minute apart and capped an
        hour, so the tries that can still lock a request are among them)."""
        return int(await self._db.fetchval(
            "SELECT coalesce(sum(attempts), 0) FROM (SELECT attempts FROM otps WHERE purpose = ? AND ref = ? "
            "ORDER BY created_at DESC LIMIT ?) AS r", (purpose, ref, RECENT_CODES), 0))

    async def add_attempt(self, otp_id: int) -> None:
        await self._db.write("UPDATE otps SET attempts = attempts + 1 WHERE id = ?", (otp_id,))

    async def consume(self, otp_id: int, now: datetime) -> bool:
        """Mark a code used; False if it was used already (single use even under a race)."""
        return bool(await self._db.write(
            "UPDATE otps SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL RETURNING 1",
            (utc_iso(now), otp_id)))
