"""Whether the current task holds the database's write lock (store/db.py sets it while its unit of work has
begun), so that a call to an outside system made then keeps it short: with SQLite every other writer waits for
that lock. bot/gateways/state_http.py gives such a call one short try; what it could not get goes to the queues
that already exist for a system that does not answer (the registry question, "try later")."""

from __future__ import annotations

from contextvars import ContextVar

HELD: ContextVar[bool] = ContextVar("qyzmet_write_lock_held", default=False)

# The most an outside call may take while the lock is held (one try, no retry).
SHORT_CALL_SECONDS = 1.0


def held() -> bool:
    return HELD.get()
