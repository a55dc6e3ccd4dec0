"""Times of the queues that workers claim with a lease (registry questions, the state outbox), as ISO UTC text.

Stored to the second (store.db.utc_iso), so a moment is rounded *up*: a row asked to wait 0.3 s must not be
due at once because its time was cut to the second before.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from store.db import utc_iso


def not_before(moment: datetime) -> str:
    """``moment`` as stored ISO text, rounded up to the next whole second."""
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return utc_iso(moment)


def later(now: datetime, seconds: float) -> str:
    return not_before(now + timedelta(seconds=seconds))
