"""How long to wait before trying again: one formula for every queue (SMS, Telegram, the state systems' posts,
the registry questions), so that their pauses grow alike and are read alike in the logs."""

from __future__ import annotations

# Past this many doublings the pause is the maximum anyway; the cap keeps 2 ** n a small float for any n.
_MAX_DOUBLINGS = 32


def backoff(attempts: int, base: float, maximum: float) -> float:
    """The pause after the ``attempts``-th failed try (1 for the first): base, 2·base, 4·base, … up to
    ``maximum``."""
    doublings = min(max(attempts - 1, 0), _MAX_DOUBLINGS)
    return min(maximum, base * 2.0 ** doublings)
