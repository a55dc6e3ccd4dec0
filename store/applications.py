"""Applications with their history, the consents they wait for, and to whom results were delivered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from store.db import from_iso, utc_iso


@dataclass(frozen=True)
class Application:
    number: str
    service: str
    iin: str
    requester_iin: str | None
    requester_user_id: int | None
    channel: str
    submitted_at: datetime
    due_at: datetime
    status: str
    refusal_ground: str | None

    @property
    def third_party(self) -> bool:
        return self.requester_iin is not None and self.requester_iin != self.iin


@dataclass(frozen=True)
class Event:
    status: str
    at: datetime
    note: str | None


@dataclass(frozen=True)
class Consent:
    number: str
    requester_iin: str
    subject_iin: str
    subject_phone: str
    service: str
    status: str
    created_at: datetime
    expires_at: datetime


_APP_COLUMNS = ("number, service, iin, requester_iin, requester_user_id, channel, submitted_at, due_at, status, "
                "refusal_ground")


def _app(row: aiosqlite.Row) -> Application:
    return Application(row[0], row[1], row[2], row[3], row[4], row[5], from_iso(row[6]), from_iso(row[7]),
                       row[8], row[9])


def _consent(row: aiosqlite.Row) -> Consent:
    return Consent(row[0], row[1], row[2], row[3], row[4], row[5], from_iso(row[6]), from_iso(row[7]))


_CONSENT_COLUMNS = "number, requester_iin, subject_iin, subject_phone, service, status, created_at, expires_at"


class ApplicationRepository:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def exists(self, number: str) -> bool:
        async with self._conn.execute("SELECT 1 FROM applications WHERE number = ?", (number,)) as cur:
            return await cur.fetchone() is not None

    async def add(self, app: Application, note: str | None = None) -> None:
        now = utc_iso(app.submitted_at)
        await self._conn.execute(
            f"INSERT INTO applications ({_APP_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (app.number, app.service, app.iin, app.requester_iin, app.requester_user_id, app.channel, now,
             utc_iso(app.due_at), app.status, app.refusal_ground, now),
        )
        await self._add_event(app.number, app.status, app.submitted_at, note)
        await self._conn.commit()

    async def get(self, number: str) -> Application | None:
        async with self._conn.execute(f"SELECT {_APP_COLUMNS} FROM applications WHERE number = ?", (number,)) as cur:
            row = await cur.fetchone()
        return _app(row) if row else None

    async def set_status(self, number: str, status: str, at: datetime, note: str | None = None,
                         refusal_ground: str | None = None) -> None:
        await self._conn.execute(
            "UPDATE applications SET status = ?, refusal_ground = coalesce(?, refusal_ground), updated_at = ? "
            "WHERE number = ?",
            (status, refusal_ground, utc_iso(at), number),
        )
        await self._add_event(number, status, at, note)
        await self._conn.commit()

    async def _add_event(self, number: str, status: str, at: datetime, note: str | None) -> None:
        await self._conn.execute(
            "INSERT INTO application_events (number, status, at, note) VALUES (?, ?, ?, ?)",
            (number, status, utc_iso(at), note),
        )

    async def events(self, number: str) -> list[Event]:
        async with self._conn.execute(
            "SELECT status, at, note FROM application_events WHERE number = ? ORDER BY at, id", (number,)
        ) as cur:
            return [Event(r[0], from_iso(r[1]), r[2]) for r in await cur.fetchall()]

    async def for_person(self, iin: str | None, user_id: int, limit: int = 20) -> list[Application]:
        """A person's applications: the ones they filed and the ones about them, newest first."""
        async with self._conn.execute(
            f"SELECT {_APP_COLUMNS} FROM applications WHERE requester_user_id = ? "
            f"UNION SELECT {_APP_COLUMNS} FROM applications WHERE iin = ? AND coalesce(requester_iin, iin) = iin "
            f"UNION SELECT {_APP_COLUMNS} FROM applications WHERE requester_iin = ? "
            "ORDER BY submitted_at DESC LIMIT ?",
            (user_id, iin or "", iin or "", limit),
        ) as cur:
            return [_app(r) for r in await cur.fetchall()]

    async def overdue(self, now: datetime, open_excluded: tuple[str, ...], limit: int, offset: int = 0
                      ) -> tuple[int, list[Application]]:
        """Open applications (status not in ``open_excluded``) past their due time, most overdue first,
        with the total count."""
        q = ", ".join("?" * len(open_excluded))
        where = f"FROM applications WHERE due_at < ? AND status NOT IN ({q})"
        params = (utc_iso(now), *open_excluded)
        async with self._conn.execute(f"SELECT count(*) {where}", params) as cur:
            total = (await cur.fetchone())[0]
        async with self._conn.execute(f"SELECT {_APP_COLUMNS} {where} ORDER BY due_at, number LIMIT ? OFFSET ?",
                                      (*params, limit, offset)) as cur:
            return total, [_app(r) for r in await cur.fetchall()]

    # Consents ------------------------------------------------------------------------------------------

    async def add_consent(self, consent: Consent) -> None:
        await self._conn.execute(
            f"INSERT INTO consents ({_CONSENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (consent.number, consent.requester_iin, consent.subject_iin, consent.subject_phone, consent.service,
             consent.status, utc_iso(consent.created_at), utc_iso(consent.expires_at)),
        )
        await self._conn.commit()

    async def consent(self, number: str) -> Consent | None:
        async with self._conn.execute(f"SELECT {_CONSENT_COLUMNS} FROM consents WHERE number = ?", (number,)) as cur:
            row = await cur.fetchone()
        return _consent(row) if row else None

    async def decide_consent(self, number: str, status: str, method: str | None, now: datetime) -> bool:
        """Close a pending consent; False if it was no longer pending (single use, first decision wins)."""
        cur = await self._conn.execute(
            "UPDATE consents SET status = ?, method = ?, decided_at = ? WHERE number = ? AND status = 'pending'",
            (status, method, utc_iso(now), number),
        )
        await self._conn.commit()
        return cur.rowcount == 1

    async def expired_consents(self, now: datetime, limit: int = 100) -> list[Consent]:
        async with self._conn.execute(
            f"SELECT {_CONSENT_COLUMNS} FROM consents WHERE status = 'pending' AND expires_at <= ? "
            "ORDER BY expires_at LIMIT ?",
            (utc_iso(now), limit),
        ) as cur:
            return [_consent(r) for r in await cur.fetchall()]

    async def pending_consents_for_phone(self, phone: str) -> list[Consent]:
        async with self._conn.execute(
            f"SELECT {_CONSENT_COLUMNS} FROM consents WHERE subject_phone = ? AND status = 'pending' "
            "ORDER BY created_at",
            (phone,),
        ) as cur:
            return [_consent(r) for r in await cur.fetchall()]

    # Deliveries ----------------------------------------------------------------------------------------

    async def record_delivery(self, number: str, recipient_iin: str, user_id: int | None, now: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO deliveries (number, recipient_iin, user_id, delivered_at) VALUES (?, ?, ?, ?)",
            (number, recipient_iin, user_id, utc_iso(now)),
        )
        await self._conn.commit()
