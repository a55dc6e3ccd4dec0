"""Monitoring of service stages: ``POST {QYZMET_MONITORING_URL}/stages`` with ``{"key", "number", "service",
"status", "at", "ground"}``; any 2xx accepts it, and a repeated ``key`` is one stage (so the outbox may post
a stage again after a crash or a lost answer)."""

from __future__ import annotations

from typing import Any

from bot.gateways.state_http import StateHttpClient
from bot.gateways.state_systems import StateSystemRejected


class HttpMonitoring:
    def __init__(self, client: StateHttpClient) -> None:
        self._client = client

    async def post_stage(self, stage: dict[str, Any]) -> None:
        answer = await self._client.post("/stages", stage)
        if not 200 <= answer.status < 300:
            raise StateSystemRejected(f"HTTP {answer.status}")
