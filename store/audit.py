"""The audit log: who did what, when, on which application. Append-only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from store.db import Database, from_iso, utc_iso


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    number: str | None
    details: dict[str, Any]  # a JSON object


class AuditRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, at: datetime, actor: str, action: str, number: str | None,
                  details: dict[str, Any] | None) -> None:
        await self._db.write(
            "INSERT INTO audit_log (at, actor, action, number, details) VALUES (?, ?, ?, ?, ?)",
            (utc_iso(at), actor, action, number,
             json.dumps(details, ensure_ascii=False, sort_keys=True) if details else None),
        )

    async def recent(self, limit: int = 100, actor: str | None = None, number: str | None = None
                     ) -> list[AuditEntry]:
        """Newest first, optionally only one actor's or one application's entries."""
        where, params = [], []
        if actor is not None:
            where.append("actor = ?")
            params.append(actor)
        if number is not None:
            where.append("number = ?")
            params.append(number)
        sql = ("SELECT id, at, actor, action, number, details FROM audit_log"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?")
        rows = await self._db.fetchall(sql, (*params, limit))
        return [AuditEntry(r[0], from_iso(r[1]), r[2], r[3], r[4], json.loads(r[5]) if r[5] else {}) for r in rows]
