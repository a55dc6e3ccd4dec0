"""Status events from providers' systems and operators, applied to applications in one unit of work.

The claim of an event's identity (number, status, at), the read of the application, the decision and the
writes happen inside one unit (store/db.py UnitOfWorkConnection): no other task writes in between, so two
deliveries of one event, or two events of one number, cannot interleave. A rejected event is rolled back:
nothing of it stays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncio

import aiosqlite

from store.applications import _APP_COLUMNS, Application, _app
from store.db import from_iso, utc_iso


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
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def apply(self, number: str, status: str, at: datetime, note: str | None, source: str,
                    now: datetime, decide: Decide) -> Decision:
        """Claim the event, let ``decide(app, last_at, duplicate)`` rule on it, and write what it says."""
        conn = self._conn
        app = None
        try:
            # The first write opens the unit: from here on no other task writes until commit / rollback.
            cur = await conn.execute(
                "INSERT OR IGNORE INTO status_events (number, status, at, source, received_at) "
                "SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM applications WHERE number = ?)",
                (number, status, utc_iso(at), source, utc_iso(now), number))
            claimed = cur.rowcount == 1
            async with conn.execute(f"SELECT {_APP_COLUMNS} FROM applications WHERE number = ?", (number,)) as c:
                row = await c.fetchone()
            app = _app(row) if row else None
            # With the application there, the claim is only ignored when the same event is already stored.
            duplicate = app is not None and not claimed
            last_at = None
            if app is not None:
                async with conn.execute("SELECT max(at) FROM application_events WHERE number = ?", (number,)) as c:
                    value = (await c.fetchone())[0]
                last_at = from_iso(value) if value else None
            decision = decide(app, last_at, duplicate)
            if decision.outcome in ("rejected", "duplicate"):
                await conn.rollback()
                return decision
            if decision.create is not None:
                new = decision.create
                stamp = utc_iso(new.submitted_at)
                await conn.execute(
                    f"INSERT INTO applications ({_APP_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (new.number, new.service, new.iin, new.requester_iin, new.requester_user_id, new.channel, stamp,
                     utc_iso(new.due_at), new.status, new.refusal_ground, stamp))
                await conn.execute(
                    "INSERT INTO status_events (number, status, at, source, received_at) VALUES (?, ?, ?, ?, ?)",
                    (number, status, utc_iso(at), source, utc_iso(now)))
            elif decision.new_status is not None:
                await conn.execute("UPDATE applications SET status = ?, updated_at = ? WHERE number = ?",
                                   (decision.new_status, utc_iso(now), number))
            await conn.execute("INSERT INTO application_events (number, status, at, note) VALUES (?, ?, ?, ?)",
                               (number, status, utc_iso(at), note))
            await conn.commit()
            return decision
        except BaseException:
            if getattr(conn, "_owner", None) is asyncio.current_task():
                await conn.rollback()
            raise
