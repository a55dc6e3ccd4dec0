"""The registries (TB, psychiatry, narcology): is a person observed, and which information system says so.

``EmbeddedRegistries`` reads the tables ``qyzmet seed`` loads (store/citizens.py); ``HttpRegistries`` asks
``GET {QYZMET_REGISTRY_URL}/registers/{register}/{iin}`` → 200 ``{"observed": true|false, "source_system":
"…"}``; 404 means not observed. An answer whose ``observed`` is not a JSON boolean is not used: a
certificate is never written from a guess.
"""

from __future__ import annotations

from typing import Any

from bot.gateways.state_http import StateHttpClient
from bot.gateways.state_systems import NOT_OBSERVED, RegistryAnswer
from store.citizens import CitizenRepository

REGISTERS = ("tb", "psychiatry", "narcology")


class EmbeddedRegistries:
    def __init__(self, citizens: CitizenRepository) -> None:
        self._citizens = citizens

    async def lookup(self, iin: str, register: str) -> RegistryAnswer:
        record = await self._citizens.record(iin, register)
        return RegistryAnswer(record.observed, record.source_system) if record else NOT_OBSERVED


class HttpRegistries:
    def __init__(self, client: StateHttpClient) -> None:
        self._client = client

    async def lookup(self, iin: str, register: str) -> RegistryAnswer:
        if register not in REGISTERS:
            raise ValueError(f"unknown register {register!r}")
        answer = await self._client.get(f"/registers/{register}/{iin}")
        if answer.status == 404:
            return NOT_OBSERVED
        if answer.status != 200:
            raise self._client.malformed(f"HTTP {answer.status}")
        try:
            return _answer(answer.json())
        except (ValueError, TypeError, KeyError) as exc:
            raise self._client.malformed(type(exc).__name__) from None


def _answer(data: Any) -> RegistryAnswer:
    if not isinstance(data, dict) or not isinstance(data["observed"], bool):
        raise TypeError("observed must be true or false")
    source = data.get("source_system")
    if source is not None and not isinstance(source, str):
        raise TypeError("source_system must be a string")
    return RegistryAnswer(data["observed"], source.strip() if source and source.strip() else None)
