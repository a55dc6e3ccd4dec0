"""Third-party requests about one person, as that person (the data subject) may see them: who asked, for what,
what became of the consent and when the result was given. Read only; the decisions are made elsewhere
(bot/core/registry_info.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from store.db import Database, from_iso


@dataclass(frozen=True)
class SubjectRequestRow:
    number: str
    service: str
    submitted_at: datetime
    app_status: str
    requester_iin: str
    requester_name: str | None    # as the directory knows the requester; None when it does not
    consent_status: str | None    # None: no consent was ever asked (the subject had no phone)
    consent_method: str | None    # otp, sms, cabinet
    decided_at: datetime | None
    expires_at: datetime | None
    delivered_at: datetime | None  # when the result was given to the requester


def _time(value: str | None) -> datetime | None:
    return from_iso(value) if value else None


class SubjectRequestRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def about(self, subject_iin: str, limit: int) -> list[SubjectRequestRow]:
        """The requests other people made about ``subject_iin``, newest first (own requests are not here)."""
        rows = await self._db.fetchall(
            "SELECT a.number, a.service, a.submitted_at, a.status, a.requester_iin, r.full_name, "
            "k.status, k.method, k.decided_at, k.expires_at, "
            "(SELECT min(d.delivered_at) FROM deliveries AS d "
            " WHERE d.number = a.number AND d.recipient_iin = a.requester_iin) "
            "FROM applications AS a "
            "LEFT JOIN consents AS k ON k.number = a.number "
            "LEFT JOIN citizens AS r ON r.iin = a.requester_iin "
            "WHERE a.iin = ? AND a.requester_iin IS NOT NULL AND a.requester_iin <> a.iin "
            "ORDER BY a.submitted_at DESC, a.number LIMIT ?",
            (subject_iin, limit))
        return [SubjectRequestRow(r[0], r[1], from_iso(r[2]), r[3], r[4], r[5], r[6], r[7], _time(r[8]),
                                  _time(r[9]), _time(r[10])) for r in rows]
