"""The addressee's complaints system: ``POST {QYZMET_COMPLAINTS_URL}/complaints`` with the complaint's mandatory
fields and our number; any 2xx accepts it. The addressee answers later on our ``POST
/api/v1/complaints/events`` (handlers/http/complaints.py). Our number is the idempotency key: a complaint posted
again (after a crash or a lost answer) is the same complaint."""

from __future__ import annotations

from typing import Any

from bot.gateways.state_http import StateHttpClient
from bot.gateways.state_systems import StateSystemRejected


class HttpComplaintsIntake:
    def __init__(self, client: StateHttpClient) -> None:
        self._client = client

    async def deliver(self, complaint: dict[str, Any]) -> None:
        answer = await self._client.post("/complaints", complaint)
        if not 200 <= answer.status < 300:
            raise StateSystemRejected(f"HTTP {answer.status}")
