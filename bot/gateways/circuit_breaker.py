"""A circuit breaker: a system that keeps failing is not called for a while, so that a dead system costs each
conversation an immediate "unavailable" instead of a timeout.

Closed: every call goes through; ``failures`` failures in a row open it. Open: no call goes through for
``open_seconds``. Then half-open: one trial call goes through (the others still fail fast); its success
closes the breaker, its failure opens it again. Time is the services' clock, so tests can move it.
"""

from __future__ import annotations

import logging

from bot.clock import Clock

log = logging.getLogger(__name__)


class CircuitBreaker:
    def __init__(self, name: str, failures: int, open_seconds: float, clock: Clock) -> None:
        self.name = name
        self._limit = failures
        self._open_seconds = open_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False  # a half-open trial call is in flight

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._now() >= self._opened_at + self._open_seconds else "open"

    def allow(self) -> bool:
        """Whether a call may go out now (in half-open state, only the one trial)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial:
            self._trial = True
            return True
        return False

    def reachable(self) -> bool:
        """False while open: calls would not even be tried."""
        return self.state != "open"

    def abandon(self) -> None:
        """A call that ended neither way (cancelled): a half-open trial may be made again."""
        self._trial = False

    def success(self) -> None:
        if self._opened_at is not None:
            log.info("%s answers again; circuit closed", self.name)
        self._failures = 0
        self._opened_at = None
        self._trial = False

    def failure(self) -> None:
        self._failures += 1
        was_trial, self._trial = self._trial, False
        if was_trial or (self._opened_at is None and self._failures >= self._limit):
            if self._opened_at is None or was_trial:
                log.warning("%s: %d failures in a row; not called for %.0f s", self.name, self._failures,
                            self._open_seconds)
            self._opened_at = self._now()

    def _now(self) -> float:
        return self._clock.now().timestamp()
