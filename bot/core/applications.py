"""Application numbers and tracking: a citizen sees their own applications, nobody else's."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from bot.domain.calendar import ALMATY
from bot.domain.model import Application, Event, Identity
from store.applications import ApplicationRepository

_NUMBER = re.compile(r"QZ-?([0-9]{6})-?([0-9]{7})")


def format_number(day: str, serial: int) -> str:
    return f"QZ-{day}-{serial:07d}"


async def new_number(apps: ApplicationRepository, now: datetime) -> str:
    """A fresh number like QZ-261125-0482913: the date, then a random serial nobody can guess."""
    day = now.astimezone(ALMATY).strftime("%y%m%d")
    while True:
        number = format_number(day, secrets.randbelow(10_000_000))
        if not await apps.exists(number):
            return number


def normalize_number(text: str) -> str | None:
    """The canonical form of a number as a person may type it ("qz 261125 0482913"), or the cleaned
    text for numbers from providers' systems, or None when the text cannot be a number."""
    compact = re.sub(r"[\s\u00a0]", "", text).upper()
    if not compact or len(compact) > 40 or not re.fullmatch(r"[A-Z0-9\-/]+", compact, re.ASCII):
        return None
    match = _NUMBER.fullmatch(compact)
    return format_number(match.group(1), int(match.group(2))) if match else compact


def looks_like_number(text: str) -> bool:
    return _NUMBER.fullmatch(re.sub(r"[\s\u00a0]", "", text).upper()) is not None


def visible_to(app: Application, identity: Identity | None, user_id: int) -> bool:
    """Who may see an application: the one who filed it, and the person it is about when it is their own."""
    if app.requester_user_id == user_id:
        return True
    if identity is None:
        return False
    if app.requester_iin == identity.iin:
        return True
    return app.iin == identity.iin and not app.third_party


class TrackingService:
    def __init__(self, apps: ApplicationRepository) -> None:
        self._apps = apps

    async def mine(self, identity: Identity | None, user_id: int) -> list[Application]:
        return await self._apps.for_person(identity.iin if identity else None, user_id)

    async def find(self, identity: Identity | None, user_id: int, text: str
                   ) -> tuple[Application, list[Event]] | None:
        """The application and its history, or None — the same for "not yours" as for "no such number"."""
        number = normalize_number(text)
        if number is None:
            return None
        app = await self._apps.get(number)
        if app is None or not visible_to(app, identity, user_id):
            return None
        return app, await self._apps.events(number)
