"""Application numbers and tracking: a citizen sees their own applications, nobody else's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from bot.clock import Clock
from bot.domain.application_status import is_open
from bot.domain.calendar import WorkingCalendar
from bot.domain.deadlines import lateness
from bot.domain.model import Application, Event, Identity
from bot.domain.numbers import APPLICATIONS
from store.applications import ApplicationRepository


def format_number(day: str, serial: int) -> str:
    return APPLICATIONS.format(day, serial)


async def new_number(apps: ApplicationRepository, now: datetime) -> str:
    """A fresh number like QZ-261125-0482913 (bot/domain/numbers.py)."""
    return await APPLICATIONS.fresh(now, apps.exists)


def normalize_number(text: str) -> str | None:
    """The canonical form of one of our numbers as a person may type it ("qz 261125 0482913"), or the cleaned
    text for numbers from providers' systems, or None when the text cannot be a number."""
    ours = APPLICATIONS.parse(text)
    if ours is not None:
        return ours
    compact = re.sub(r"[\s\u00a0]", "", text).upper()
    if not compact or len(compact) > 40 or not re.fullmatch(r"[A-Z0-9\-/]+", compact, re.ASCII):
        return None
    return compact


def looks_like_number(text: str) -> bool:
    return APPLICATIONS.parse(text) is not None


def visible_to(app: Application, identity: Identity | None, user_id: int) -> bool:
    """Who may see an application: the one who filed it, and the person it is about when it is their own."""
    if app.requester_user_id == user_id:
        return True
    if identity is None:
        return False
    if app.requester_iin == identity.iin:
        return True
    return app.iin == identity.iin and not app.third_party


def visible_to_phone(app: Application, applicant_phone: str | None, phone: str) -> bool:
    """Who may ask about an application by SMS: only the phone the directory registers for its applicant
    (the requester of a third-party request, else the person it is about)."""
    return applicant_phone is not None and applicant_phone == phone


@dataclass(frozen=True)
class Card:
    """One application as a person sees it: its stages, and how late it is (None: not late)."""
    app: Application
    events: list[Event]
    late_by: int | None


class TrackingService:
    def __init__(self, apps: ApplicationRepository, calendar: WorkingCalendar, clock: Clock) -> None:
        self._apps = apps
        self._calendar = calendar
        self._clock = clock

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

    async def card(self, identity: Identity | None, user_id: int, text: str) -> Card | None:
        """``find`` with the lateness of the application (bot.domain.deadlines.lateness)."""
        found = await self.find(identity, user_id, text)
        if found is None:
            return None
        app, events = found
        return Card(app, events, lateness(app.due_at, self._clock.now(), is_open(app.status), self._calendar))
