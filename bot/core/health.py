"""Whether the bot can do its work (readiness) and what its outboxes still owe: the operating side of the core.

Readiness is a set of named checks. The database's is asked here (a real read of the schema, within a short
timeout: a database that hangs is as unready as one that fails); the process's own checks (updates being
fetched, the outbox workers alive) are handed in by whoever runs the process (bot/app/runner.py), since only it
knows which of them it started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from bot.clock import Clock
from bot.metrics import OutboxDepth
from store.db import Database
from store.outbox_depth import OutboxDepthRepository

log = logging.getLogger(__name__)

DATABASE = "database"

Check = Callable[[], bool]


class HealthService:
    def __init__(self, db: Database, depths: OutboxDepthRepository, clock: Clock) -> None:
        self._db = db
        self._depths = depths
        self._clock = clock

    async def database_answers(self, timeout: float) -> bool:
        """A read on the connection every read outside a unit uses, answered within ``timeout`` seconds. It
        reads a table (not ``SELECT 1``, which SQLite answers without opening the file)."""
        try:
            await asyncio.wait_for(self._db.fetchval("SELECT count(*) FROM schema_migrations"), timeout)
        except TimeoutError:
            log.warning("readiness: the database did not answer within %.1f s", timeout)
            return False
        except Exception as exc:
            log.warning("readiness: the database did not answer (%s)", type(exc).__name__)
            return False
        return True

    async def readiness(self, process_checks: Mapping[str, Check], db_timeout: float) -> dict[str, bool]:
        """Every check by name: True when it holds."""
        results = {DATABASE: await self.database_answers(db_timeout)}
        for name, check in process_checks.items():
            try:
                results[name] = bool(check())
            except Exception:  # a check that cannot tell says "not ready", not a 500
                log.exception("readiness check %s failed", name)
                results[name] = False
        return results

    async def outbox_depths(self) -> list[OutboxDepth]:
        """Rows still owed by each outbox and state, with the age of the oldest due one."""
        now = self._clock.now()
        return [OutboxDepth(rows.outbox, rows.state, rows.count,
                            (now - rows.oldest_due_created_at).total_seconds() if rows.oldest_due_created_at else 0.0)
                for rows in await self._depths.pending(now.timestamp())]
