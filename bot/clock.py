"""Time, injectable so that tests can move it forward (consent expiry, identity timeouts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ShiftedClock(Clock):
    """The real clock plus an offset that tests can advance."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def advance(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset
