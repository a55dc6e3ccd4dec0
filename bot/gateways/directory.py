"""The citizen directory: IIN → full name, birth date, address and registered phone.

``EmbeddedDirectory`` reads the tables ``qyzmet seed`` loads (store/citizens.py); ``HttpDirectory`` asks the
directory of the contract: ``GET {QYZMET_DIRECTORY_URL}/citizens/{iin}`` → 200 ``{"iin", "full_name",
"birth_date", "address", "phone"}`` (phone may be null) or 404. An answer about another IIN than the one
asked, or one whose fields are not the contract's, is not used (StateSystemUnavailable).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.domain.iin import mask_iin
from bot.domain.model import Citizen
from bot.domain.phone import InvalidPhone, normalize_phone
from bot.gateways.state_http import NotAsked, StateHttpClient
from store.citizens import CitizenRepository


class EmbeddedDirectory:
    def __init__(self, citizens: CitizenRepository) -> None:
        self._citizens = citizens

    async def person(self, iin: str) -> Citizen | None:
        return await self._citizens.get(iin)

    def reachable(self) -> bool:
        return True


class HttpDirectory:
    def __init__(self, client: StateHttpClient) -> None:
        self._client = client

    async def person(self, iin: str) -> Citizen | None:
        answer = await self._client.get(f"/citizens/{iin}")
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise self._client.malformed(f"HTTP {answer.status}")
        try:
            return _citizen(iin, answer.json())
        except NotAsked as exc:
            raise self._client.not_asked(iin, "", exc) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise self._client.malformed(type(exc).__name__) from None

    def reachable(self) -> bool:
        return self._client.reachable()


def _citizen(iin: str, data: Any) -> Citizen:
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    if not isinstance(data["iin"], str):
        raise TypeError("iin must be a string")
    if data["iin"] != iin:
        raise NotAsked(f"an answer about another IIN ({mask_iin(data['iin'])})")
    name, born, address, phone = data["full_name"], data["birth_date"], data["address"], data.get("phone")
    if not isinstance(name, str) or not name.strip() or not isinstance(address, str) or not isinstance(born, str):
        raise TypeError("full_name, birth_date and address must be strings")
    date.fromisoformat(born)
    if phone is not None and not isinstance(phone, str):
        raise TypeError("phone must be a string or null")
    try:
        registered = normalize_phone(phone) if phone else None
    except InvalidPhone:
        registered = None  # not a Kazakhstan mobile: no code or notice can be sent to it
    return Citizen(iin, name.strip(), born, address.strip(), registered)
