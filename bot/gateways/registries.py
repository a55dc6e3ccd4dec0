"""The registries (TB, psychiatry, narcology): is a person observed, and which information system says so.

``EmbeddedRegistries`` reads the tables ``qyzmet seed`` loads (store/citizens.py); ``HttpRegistries`` asks
``GET {QYZMET_REGISTRY_URL}/registers/{register}/{iin}`` → 200 ``{"iin", "register", "observed": true|false,
"source_system": "…"|null}``; 404 means not observed. An answer must match the question: one about another IIN
or another register, or whose ``observed`` is not a JSON boolean, is not used (StateSystemUnavailable, so the
question waits in the queue as when the registry is down): a faulty registry's answer about someone else would
otherwise be printed under the asked person's name and vouched for by the certificate's code.
"""

from __future__ import annotations

from typing import Any

from bot.domain.iin import mask_iin
from bot.gateways.state_http import NotAsked, StateHttpClient
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
            return _answer(iin, register, answer.json())
        except NotAsked as exc:
            raise self._client.not_asked(iin, register, exc) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise self._client.malformed(type(exc).__name__) from None


def _answer(iin: str, register: str, data: Any) -> RegistryAnswer:
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    if not isinstance(data["iin"], str) or not isinstance(data["register"], str):
        raise TypeError("iin and register must be strings")
    if data["iin"] != iin:
        raise NotAsked(f"an answer about another IIN ({mask_iin(data['iin'])})")
    if data["register"] != register:
        raise NotAsked("an answer from another register")  # its name not echoed: it may hold anything
    if not isinstance(data["observed"], bool):
        raise TypeError("observed must be true or false")
    source = data["source_system"]
    if source is not None and not isinstance(source, str):
        raise TypeError("source_system must be a string or null")
    return RegistryAnswer(data["observed"], source.strip() if source and source.strip() else None)
