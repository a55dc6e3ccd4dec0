"""Every stage of the bot's own applications — accepted, awaiting consent, result given, refused with its
ground — reported to the monitoring information system (``POST QYZMET_MONITORING_URL/stages``) through the
state outbox, in the unit of work of the stage. Off when QYZMET_MONITORING_URL is unset.

The key of a stage is ``<number>:<status>``: a status never repeats in an application's life
(bot/domain/application_status.can_move), so the key names one stage, and a repeat of it is one stage.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.state_outbox import MONITORING, StateOutbox
from bot.gateways.state_systems import Monitoring
from store.state_outbox import StatePost


def stage_key(number: str, status: str) -> str:
    return f"{number}:{status}"


class StageReports:
    def __init__(self, outbox: StateOutbox, monitoring: Monitoring | None) -> None:
        self._outbox = outbox
        self._monitoring = monitoring
        if monitoring is not None:
            outbox.serve(MONITORING, self._post)

    @property
    def on(self) -> bool:
        return self._monitoring is not None

    async def stage(self, number: str, service: str, status: str, at: datetime, ground: str | None = None) -> None:
        """Owe the report of one stage, in the caller's unit of work (nothing when monitoring is off)."""
        if self._monitoring is None:
            return
        key = stage_key(number, status)
        await self._outbox.owe(MONITORING, key, {
            "key": key, "number": number, "service": service, "status": status,
            "at": at.astimezone(UTC).isoformat(timespec="seconds"), "ground": ground})

    async def _post(self, post: StatePost) -> None:
        assert self._monitoring is not None
        await self._monitoring.post_stage(post.payload)
