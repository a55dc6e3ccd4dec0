"""Issued certificates (without their status) and the checks made of them (migration 011)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from store.db import Database, from_iso, utc_iso

_COLUMNS = "number, iin, service, source_system, holder_name, issued_at, valid_until"


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


class CertificateRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, certificate: IssuedCertificate) -> bool:
        """Record an issued certificate; False when its number was recorded already (the first issue stands)."""
        c = certificate
        return bool(await self._db.write(
            f"INSERT INTO certificates ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (number) DO NOTHING RETURNING 1",
            (c.number, c.iin, c.service, c.source_system, c.holder_name, utc_iso(c.issued_at),
             utc_iso(c.valid_until)), quick=True,
        ))

    async def get(self, number: str) -> IssuedCertificate | None:
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM certificates WHERE number = ?", (number,), quick=True)
        if row is None:
            return None
        return IssuedCertificate(row[0], row[1], row[2], row[3], row[4], from_iso(row[5]), from_iso(row[6]))

    # Checks ------------------------------------------------------------------------------------------------

    async def add_check(self, at: datetime, channel: str, client: str, number: str | None, outcome: str) -> None:
        await self._db.write(
            "INSERT INTO certificate_checks (id, at, channel, client, number, outcome) VALUES (?, ?, ?, ?, ?, ?)",
            (secrets.token_hex(12), utc_iso(at), channel, client, number, outcome),
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
