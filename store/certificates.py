"""Issued certificates (without their status), the checks made of them (migration 011), and their share links
(migration 013)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from store.db import Database, Row, from_iso, utc_iso

_COLUMNS = "number, iin, service, source_system, holder_name, issued_at, valid_until, revoked_at"
_SHARE_COLUMNS = "id, number, holder_iin, secret_hash, created_at, expires_at, revoked_at"


@dataclass(frozen=True)
class IssuedCertificate:
    """What is kept of a certificate: enough to check its code, nothing of what it says about health."""
    number: str
    iin: str
    service: str
    source_system: str
    holder_name: str  # masked
    issued_at: datetime
    valid_until: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Share:
    """A share link a holder made (its secret is never kept: ``secret_hash`` only)."""
    id: str
    number: str
    holder_iin: str
    secret_hash: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class Opening:
    """A successful check or opening of one of a person's certificates: when, how (code, seal, link)."""
    at: datetime
    number: str
    via: str
    share_id: str | None


def _moment(value: object) -> datetime | None:
    return from_iso(value) if value is not None else None  # type: ignore[arg-type]


def _share(row: Row) -> Share:
    return Share(row[0], row[1], row[2], row[3], from_iso(row[4]), from_iso(row[5]), _moment(row[6]))


class CertificateRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, certificate: IssuedCertificate) -> bool:
        """Record an issued certificate; False when its number was recorded already (the first issue stands)."""
        c = certificate
        return bool(await self._db.write(
            f"INSERT INTO certificates ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (number) DO NOTHING RETURNING 1",
            (c.number, c.iin, c.service, c.source_system, c.holder_name, utc_iso(c.issued_at),
             utc_iso(c.valid_until), None),
        ))

    async def get(self, number: str) -> IssuedCertificate | None:
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM certificates WHERE number = ?", (number,))
        if row is None:
            return None
        return IssuedCertificate(row[0], row[1], row[2], row[3], row[4], from_iso(row[5]), from_iso(row[6]),
                                 _moment(row[7]))

    async def revoke(self, number: str, at: datetime) -> bool:
        """Withdraw a certificate; False when there is none, or it was withdrawn already."""
        return await self._db.write_count(
            "UPDATE certificates SET revoked_at = ? WHERE number = ? AND revoked_at IS NULL",
            (utc_iso(at), number)) > 0

    # Checks ------------------------------------------------------------------------------------------------

    async def add_check(self, at: datetime, channel: str, client: str, number: str | None, outcome: str,
                        via: str = "code", share_id: str | None = None) -> None:
        await self._db.write(
            "INSERT INTO certificate_checks (id, at, channel, client, number, outcome, via, share_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (secrets.token_hex(12), utc_iso(at), channel, client, number, outcome, via, share_id),
        )

    async def checks_by_client(self, client: str, outcomes: tuple[str, ...], since: datetime) -> int:
        q = ", ".join("?" * len(outcomes))
        return int(await self._db.fetchval(
            f"SELECT count(*) FROM certificate_checks WHERE client = ? AND outcome IN ({q}) AND at > ?",
            (client, *outcomes, utc_iso(since)), 0))

    async def checks_of_number(self, number: str, outcomes: tuple[str, ...], since: datetime) -> int:
        q = ", ".join("?" * len(outcomes))
        return int(await self._db.fetchval(
            f"SELECT count(*) FROM certificate_checks WHERE number = ? AND outcome IN ({q}) AND at > ?",
            (number, *outcomes, utc_iso(since)), 0))

    async def openings(self, iin: str, outcomes: tuple[str, ...], since: datetime, limit: int = 20) -> list[Opening]:
        """The latest checks with ``outcomes`` of the certificates about ``iin`` or received by ``iin``."""
        q = ", ".join("?" * len(outcomes))
        rows = await self._db.fetchall(
            "SELECT k.at, k.number, COALESCE(k.via, 'code'), k.share_id FROM certificate_checks k "
            "JOIN certificates c ON c.number = k.number JOIN applications a ON a.number = k.number "
            f"WHERE (c.iin = ? OR a.requester_iin = ?) AND k.outcome IN ({q}) AND k.at > ? "
            "ORDER BY k.at DESC LIMIT ?",
            (iin, iin, *outcomes, utc_iso(since), limit))
        return [Opening(from_iso(r[0]), r[1], r[2], r[3]) for r in rows]

    # Share links ----------------------------------------------------------------------------------------------

    async def add_share(self, share: Share) -> None:
        s = share
        await self._db.write(
            f"INSERT INTO certificate_shares ({_SHARE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (s.id, s.number, s.holder_iin, s.secret_hash, utc_iso(s.created_at), utc_iso(s.expires_at), None))

    async def share(self, share_id: str) -> Share | None:
        row = await self._db.fetchone(f"SELECT {_SHARE_COLUMNS} FROM certificate_shares WHERE id = ?", (share_id,))
        return _share(row) if row is not None else None

    async def shares_of(self, holder_iin: str, since: datetime, limit: int = 20) -> list[tuple[Share, int]]:
        """The person's share links that had not expired at ``since``, newest first, each with its openings."""
        columns = ", ".join(f"s.{c.strip()}" for c in _SHARE_COLUMNS.split(","))
        rows = await self._db.fetchall(
            f"SELECT {columns}, (SELECT count(*) FROM certificate_checks k WHERE k.share_id = s.id "
            "AND k.outcome = 'valid') FROM certificate_shares s WHERE s.holder_iin = ? AND s.expires_at > ? "
            "ORDER BY s.created_at DESC LIMIT ?", (holder_iin, utc_iso(since), limit))
        return [(_share(r[:7]), int(r[7])) for r in rows]

    async def revoke_share(self, share_id: str, holder_iin: str, at: datetime) -> bool:
        """Withdraw a link of ``holder_iin``'s; False when it is not theirs or was withdrawn already."""
        return await self._db.write_count(
            "UPDATE certificate_shares SET revoked_at = ? WHERE id = ? AND holder_iin = ? AND revoked_at IS NULL",
            (utc_iso(at), share_id, holder_iin)) > 0

    async def openings_of_share_since(self, share_id: str, since: datetime) -> int:
        return int(await self._db.fetchval(
            "SELECT count(*) FROM certificate_checks WHERE share_id = ? AND outcome = 'valid' AND at > ?",
            (share_id, utc_iso(since)), 0))

    async def in_force_for(self, iin: str, now: datetime, limit: int = 10) -> list[IssuedCertificate]:
        """Certificates still in force about ``iin`` or received by ``iin`` (a consented request), newest first."""
        rows = await self._db.fetchall(
            f"SELECT {', '.join('c.' + c.strip() for c in _COLUMNS.split(','))} FROM certificates c "
            "JOIN applications a ON a.number = c.number "
            "WHERE (c.iin = ? OR a.requester_iin = ?) AND c.valid_until > ? AND c.revoked_at IS NULL "
            "ORDER BY c.issued_at DESC LIMIT ?", (iin, iin, utc_iso(now), limit))
        return [IssuedCertificate(r[0], r[1], r[2], r[3], r[4], from_iso(r[5]), from_iso(r[6]), _moment(r[7]))
                for r in rows]
