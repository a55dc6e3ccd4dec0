"""Telegram updates already handled (migration 009): an update that comes again is acted on once."""

from __future__ import annotations

from datetime import datetime

from store.db import Database, utc_iso


class HandledUpdateRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def handled(self, update_id: int) -> bool:
        return await self._db.fetchone("SELECT 1 FROM telegram_updates WHERE update_id = ?", (update_id,)) is not None

    async def mark(self, update_id: int, now: datetime) -> bool:
        """Mark the update handled (in its unit of work); False when it already was."""
        return bool(await self._db.write(
            "INSERT INTO telegram_updates (update_id, handled_at) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING 1",
            (update_id, utc_iso(now))))

    async def forget_before(self, moment: datetime) -> int:
        return await self._db.write_count("DELETE FROM telegram_updates WHERE handled_at < ?", (utc_iso(moment),))
