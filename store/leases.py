"""Queues that workers claim with a lease: how a claim locks its rows, and the times of the queues kept as ISO
UTC text (registry questions, the state outbox).

Times are stored to the second (store.db.utc_iso), so a moment is rounded *up*: a row asked to wait 0.3 s must
not be due at once because its time was cut to the second before.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from store.db import Database, utc_iso


def skip_locked(db: Database) -> str:
    """The end of a claim's ``SELECT … LIMIT n`` subquery. On PostgreSQL several workers claim at once: each
    locks the rows it picks and passes over rows another worker is taking (without it, two workers' subqueries
    pick the same rows and both send them). SQLite has one writer at a time: nothing to add."""
    return " FOR UPDATE SKIP LOCKED" if db.engine == "postgresql" else ""


def not_before(moment: datetime) -> str:
    """``moment`` as stored ISO text, rounded up to the next whole second."""
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return utc_iso(moment)


def later(now: datetime, seconds: float) -> str:
    return not_before(now + timedelta(seconds=seconds))
