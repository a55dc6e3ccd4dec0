"""Status events from providers' systems and operators, applied to applications.

``apply`` runs inside the caller's unit of work (bot/core/status_feed.py): the read of the application, the
duplicate check, the decision and the writes are one transaction, so two deliveries of one event, or two
events of one number, cannot interleave. A rejected or duplicate event writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.domain.model import Application
from store.applications import APP_COLUMNS, ApplicationRepository
from store.db import Database, utc_iso


@dataclass(frozen=True)
class Decision:
    """What to do with an event, decided by the core from the application as it is now."""
    outcome: str                      # 'created', 'updated', 'duplicate', 'rejected'
    reason: str | None = None         # why it was rejected (for the feed's 409 body)
    code: str | None = None           # the same, as a stable code (for localized answers)
    create: Application | None = None  # the application to create (first event of a number)
    new_status: str | None = None     # the status to set (None: history only)


Decide = Callable[[Application | None, datetime | None, bool], Decision]


class StatusEventRepository:
    def __init__(self, db: Database, apps: ApplicationRepository) -> None:
        self._db = db
        self._apps = apps

    async def apply(self, number: str, status: str, at: datetime, note: str | None, source: str,
                    now: datetime, decide: Decide) -> Decision:
        """Let ``decide(app, last_at, duplicate)`` rule on the event, and write what it says."""
        app = await self._apps.get(number)
        duplicate = app is not None and await self._db.fetchone(
            "SELECT 1 FROM status_events WHERE number = ? AND status = ? AND at = ?",
            (number, status, utc_iso(at))) is not None
        last_at = await self._apps.last_event_at(number) if app is not None else None
        decision = decide(app, last_at, duplicate)
        if decision.outcome in ("rejected", "duplicate"):
            return decision
        if decision.create is not None:
            new = decision.create
            stamp = utc_iso(new.submitted_at)
            await self._db.write(
                f"INSERT INTO applications ({APP_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (new.number, new.service, new.iin, new.requester_iin, new.requester_user_id, new.channel, stamp,
                 utc_iso(new.due_at), new.status, new.refusal_ground, stamp))
        elif decision.new_status is not None:
            await self._db.write("UPDATE applications SET status = ?, updated_at = ? WHERE number = ?",
                                 (decision.new_status, utc_iso(now), number))
        await self._db.write(
            "INSERT INTO status_events (number, status, at, source, received_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (number, status, utc_iso(at), source, utc_iso(now)))
        await self._apps.add_event(number, status, at, note)
        return decision
