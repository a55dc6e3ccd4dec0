"""Applications with their history, the consents they wait for, and to whom results were delivered."""

from __future__ import annotations

from datetime import datetime

from bot.domain.model import Application, Consent, Event
from store.db import Database, Row, from_iso, utc_iso

APP_COLUMNS = ("number, service, iin, requester_iin, requester_user_id, channel, submitted_at, due_at, status, "
               "refusal_ground")
_CONSENT_COLUMNS = "number, requester_iin, subject_iin, subject_phone, service, status, created_at, expires_at"


def app_from_row(row: Row) -> Application:
    return Application(row[0], row[1], row[2], row[3], row[4], row[5], from_iso(row[6]), from_iso(row[7]),
                       row[8], row[9])


def _consent(row: Row) -> Consent:
    return Consent(row[0], row[1], row[2], row[3], row[4], row[5], from_iso(row[6]), from_iso(row[7]))


# Consent requests one phone may have open at once that an SMS reply is matched against (oldest first).
MAX_PENDING_FOR_PHONE = 20


class ApplicationRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def exists(self, number: str) -> bool:
        return await self._db.fetchone("SELECT 1 FROM applications WHERE number = ?", (number,)) is not None

    async def add(self, app: Application, note: str | None = None) -> None:
        """The application and its first stage."""
        now = utc_iso(app.submitted_at)
        await self._db.write(
            f"INSERT INTO applications ({APP_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (app.number, app.service, app.iin, app.requester_iin, app.requester_user_id, app.channel, now,
             utc_iso(app.due_at), app.status, app.refusal_ground, now),
        )
        await self.add_event(app.number, app.status, app.submitted_at, note)

    async def get(self, number: str) -> Application | None:
        row = await self._db.fetchone(f"SELECT {APP_COLUMNS} FROM applications WHERE number = ?", (number,))
        return app_from_row(row) if row else None

    async def set_status(self, number: str, status: str, at: datetime, note: str | None = None,
                         refusal_ground: str | None = None) -> None:
        """Only bot.domain.application_status.can_move decides whether a move is allowed (the core asks it)."""
        await self._db.write(
            "UPDATE applications SET status = ?, refusal_ground = coalesce(?, refusal_ground), updated_at = ? "
            "WHERE number = ?",
            (status, refusal_ground, utc_iso(at), number),
        )
        await self.add_event(number, status, at, note)

    async def add_event(self, number: str, status: str, at: datetime, note: str | None) -> None:
        await self._db.write(
            "INSERT INTO application_events (number, status, at, note) VALUES (?, ?, ?, ?)",
            (number, status, utc_iso(at), note),
        )

    async def events(self, number: str) -> list[Event]:
        rows = await self._db.fetchall(
            "SELECT status, at, note FROM application_events WHERE number = ? ORDER BY at, id", (number,))
        return [Event(r[0], from_iso(r[1]), r[2]) for r in rows]

    async def last_event_at(self, number: str) -> datetime | None:
        value = await self._db.fetchval("SELECT max(at) FROM application_events WHERE number = ?", (number,))
        return from_iso(value) if value else None

    async def for_person(self, iin: str | None, user_id: int, limit: int = 20) -> list[Application]:
        """A person's applications (the rule is bot.core.applications.visible_to, in SQL): the ones they filed
        in this chat, their own ones (about their IIN, filed by themselves), and the ones they filed as a
        requester — newest first."""
        rows = await self._db.fetchall(
            f"SELECT {APP_COLUMNS} FROM applications WHERE requester_user_id = ? "
            f"UNION SELECT {APP_COLUMNS} FROM applications WHERE iin = ? AND coalesce(requester_iin, iin) = iin "
            f"UNION SELECT {APP_COLUMNS} FROM applications WHERE requester_iin = ? "
            "ORDER BY submitted_at DESC LIMIT ?",
            (user_id, iin or "", iin or "", limit),
        )
        return [app_from_row(r) for r in rows]

    async def overdue(self, now: datetime, open_excluded: tuple[str, ...], limit: int, offset: int = 0
                      ) -> tuple[int, list[Application]]:
        """Open applications (status not in ``open_excluded``) past their due time, most overdue first,
        with the total count."""
        q = ", ".join("?" * len(open_excluded))
        where = f"FROM applications WHERE due_at < ? AND status NOT IN ({q})"
        params = (utc_iso(now), *open_excluded)
        total = await self._db.fetchval(f"SELECT count(*) {where}", params, 0)
        rows = await self._db.fetchall(f"SELECT {APP_COLUMNS} {where} ORDER BY due_at, number LIMIT ? OFFSET ?",
                                       (*params, limit, offset))
        return total, [app_from_row(r) for r in rows]

    # Consents ------------------------------------------------------------------------------------------

    async def add_consent(self, consent: Consent) -> None:
        await self._db.write(
            f"INSERT INTO consents ({_CONSENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (consent.number, consent.requester_iin, consent.subject_iin, consent.subject_phone, consent.service,
             consent.status, utc_iso(consent.created_at), utc_iso(consent.expires_at)),
        )

    async def consent(self, number: str) -> Consent | None:
        row = await self._db.fetchone(f"SELECT {_CONSENT_COLUMNS} FROM consents WHERE number = ?", (number,))
        return _consent(row) if row else None

    async def decide_consent(self, number: str, status: str, method: str | None, now: datetime) -> bool:
        """Close a pending consent; False if it was no longer pending (single use, first decision wins)."""
        return bool(await self._db.write(
            "UPDATE consents SET status = ?, method = ?, decided_at = ? WHERE number = ? AND status = 'pending' "
            "RETURNING 1",
            (status, method, utc_iso(now), number),
        ))

    async def expired_consents(self, now: datetime, limit: int = 100) -> list[Consent]:
        rows = await self._db.fetchall(
            f"SELECT {_CONSENT_COLUMNS} FROM consents WHERE status = 'pending' AND expires_at <= ? "
            "ORDER BY expires_at LIMIT ?",
            (utc_iso(now), limit),
        )
        return [_consent(r) for r in rows]

    async def pending_consents_for_phone(self, phone: str) -> list[Consent]:
        rows = await self._db.fetchall(
            f"SELECT {_CONSENT_COLUMNS} FROM consents WHERE subject_phone = ? AND status = 'pending' "
            "ORDER BY created_at LIMIT ?",
            (phone, MAX_PENDING_FOR_PHONE),
        )
        return [_consent(r) for r in rows]

    # Deliveries ----------------------------------------------------------------------------------------

    async def record_delivery(self, number: str, recipient_iin: str, user_id: int | None, now: datetime) -> None:
        await self._db.write(
            "INSERT INTO deliveries (number, recipient_iin, user_id, delivered_at) VALUES (?, ?, ?, ?)",
            (number, recipient_iin, user_id, utc_iso(now)),
        )
