"""A queue that workers claim with a lease: the one implementation of its mechanics, for every queue table (the
Telegram and SMS outboxes, the state systems' outbox, the registry questions).

A queue table has a key column, ``status`` ('queued', the claimed status, then the table's outcomes),
``attempts``, ``next_attempt_at``, ``lease_until`` and ``last_error``. Its times are unix epoch seconds (REAL),
on both engines, so that a sub-second pause compares exactly and every queue reads alike (migration 015).

- A row is *due* when it is queued and its next attempt has come, or when it is claimed and its lease ran out
  (its sender died): the next claim takes it over.
- A *claim* marks due rows claimed until ``now + lease``. On PostgreSQL several workers claim at once: the
  subquery locks the rows it picks and passes over rows another worker is taking (FOR UPDATE SKIP LOCKED);
  SQLite has one writer at a time. On SQLite a claim looks for the due keys outside the writer (``due_keys``, a
  read) and claims them by key (``claim_keys``): bounded by a key, the statement runs on the event loop.
- The lease's end, as the claim wrote it, is the claim's token: a sender *renews* its lease, or *gives* rows
  *back*, only while a row still carries it, so a sender held up past its lease learns that another one took
  the row over instead of sending it a second time. The value is compared exactly: it is the float the claim
  wrote (double precision on both engines).
- *Settling* and *retrying later* change only a row still claimed: a late sender whose lease ran out neither
  overwrites the outcome of the sender that took it over nor reopens it.

What each queue adds — its order, its extra conditions (a chat's head, a recipient's priority), its columns — is
the repository's, passed in as SQL fragments; the pause before a retry is bot/domain/retry.py's ``backoff``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from store.db import Database, Row


class LeasedQueue:
    """The lease mechanics of one table. ``claimed`` names the status of a claimed row ('sending', 'asking')."""

    def __init__(self, db: Database, table: str, key: str, claimed: str = "sending") -> None:
        self._db = db
        self.table, self.key, self.claimed = table, key, claimed
        self._skip_locked = " FOR UPDATE SKIP LOCKED" if db.engine == "postgresql" else ""
        # Two parameters: now, now.
        self.due = (f"((status = 'queued' AND coalesce(next_attempt_at, 0) <= ?) "
                    f"OR (status = '{claimed}' AND coalesce(lease_until, 0) <= ?))")

    # Claiming ----------------------------------------------------------------------------------------------

    async def claim(self, now_ts: float, lease_seconds: float, limit: int, *, order: str, returning: str,
                    where: str = "", where_params: Sequence[Any] = (), also: str = "",
                    also_params: Sequence[Any] = ()) -> tuple[float, list[Row]]:
        """Claim up to ``limit`` due rows, first by ``order`` (``where``: the queue's own condition on ``t``).
        Returns the lease's end (the claim's token) and the claimed rows' ``returning`` columns."""
        until = now_ts + lease_seconds
        rows = await self._db.write(
            f"UPDATE {self.table} SET status = '{self.claimed}', lease_until = ?{also} WHERE {self.key} IN ("
            f"SELECT {self.key} FROM {self.table} AS t WHERE {self.due}{self._and(where)} ORDER BY {order} "
            f"LIMIT ?{self._skip_locked}) RETURNING {returning}",
            (until, *also_params, now_ts, now_ts, *where_params, limit))
        return until, rows

    async def due_keys(self, now_ts: float, limit: int, *, order: str, where: str = "",
                       where_params: Sequence[Any] = ()) -> list[Any]:
        """The keys ``claim`` would take, read outside any unit (committed rows; on SQLite without the writer)."""
        rows = await self._db.fetchall(
            f"SELECT {self.key} FROM {self.table} AS t WHERE {self.due}{self._and(where)} ORDER BY {order} LIMIT ?",
            (now_ts, now_ts, *where_params, limit))
        return [r[0] for r in rows]

    async def claim_keys(self, keys: Sequence[Any], now_ts: float, lease_seconds: float, *, returning: str,
                         where: str = "", where_params: Sequence[Any] = (), also: str = "",
                         also_params: Sequence[Any] = ()) -> tuple[float, list[Row]]:
        """Claim those of ``keys`` that are still due (and meet ``where``): by key, a few rows."""
        until = now_ts + lease_seconds
        if not keys:
            return until, []
        marks = ", ".join("?" * len(keys))
        # The row is named t only for a condition of the queue's own that needs it: SQLite's plan then names
        # the alias, not the table, and its engine could not tell that the key is unique.
        alias = " AS t" if where else ""
        rows = await self._db.write(
            f"UPDATE {self.table}{alias} SET status = '{self.claimed}', lease_until = ?{also} "
            f"WHERE {self.key} IN ({marks}) AND {self.due}{self._and(where)} RETURNING {returning}",
            (until, *also_params, *keys, now_ts, now_ts, *where_params))
        return until, rows

    # Holding ----------------------------------------------------------------------------------------------

    async def renew(self, keys: Sequence[Any], held_until: float, until: float) -> set[Any]:
        """Extend to ``until`` the lease of those of ``keys`` still claimed under the lease ``held_until``;
        returns their keys. A row settled, back in the queue, or taken over by another sender is not among
        them."""
        if not keys:
            return set()
        marks = ", ".join("?" * len(keys))
        rows = await self._db.write(
            f"UPDATE {self.table} SET lease_until = ? WHERE status = '{self.claimed}' AND lease_until = ? "
            f"AND {self.key} IN ({marks}) RETURNING {self.key}",
            (until, held_until, *keys))
        return {r[0] for r in rows}

    async def give_back(self, keys: Sequence[Any], held_until: float) -> None:
        """Claimed rows back in the queue, due now (those of ``keys`` still held under the lease ``held_until``)."""
        if not keys:
            return
        marks = ", ".join("?" * len(keys))
        await self._db.write(
            f"UPDATE {self.table} SET status = 'queued', lease_until = NULL WHERE status = '{self.claimed}' "
            f"AND lease_until = ? AND {self.key} IN ({marks})",
            (held_until, *keys))

    # Ending an attempt ------------------------------------------------------------------------------------

    async def settle(self, key: Any, status: str, error: str | None = None, *, also: str = "",
                     also_params: Sequence[Any] = (), open_too: bool = False, attempted: bool = True) -> bool:
        """The row's outcome (ends the lease; ``attempted``: counts the attempt). Only a claimed row is settled
        (``open_too``: a queued one too); False: it was settled already, or another sender holds it."""
        states = f"('queued', '{self.claimed}')" if open_too else f"('{self.claimed}')"
        count = ", attempts = attempts + 1" if attempted else ""
        return await self._db.write_count(
            f"UPDATE {self.table} SET status = ?{count}, last_error = ?, lease_until = NULL"
            f"{also} WHERE {self.key} = ? AND status IN {states}",
            (status, error, *also_params, key)) > 0

    async def retry_later(self, key: Any, at_ts: float, error: str, *, also: str = "",
                          also_params: Sequence[Any] = ()) -> bool:
        """Back to the queue until ``at_ts`` (counts the attempt); not if the row is no longer claimed."""
        return await self._db.write_count(
            f"UPDATE {self.table} SET status = 'queued', attempts = attempts + 1, next_attempt_at = ?, "
            f"last_error = ?, lease_until = NULL{also} WHERE {self.key} = ? AND status = '{self.claimed}'",
            (at_ts, error[:200], *also_params, key)) > 0

    async def next_due_at(self) -> float | None:
        """When the earliest open row becomes due (its next attempt, or its sender's lease), or None."""
        value = await self._db.fetchval(
            f"SELECT min(CASE WHEN status = 'queued' THEN coalesce(next_attempt_at, 0) ELSE lease_until END) "
            f"FROM {self.table} WHERE status IN ('queued', '{self.claimed}')")
        return None if value is None else float(value)

    @staticmethod
    def _and(where: str) -> str:
        return f" AND {where}" if where else ""
