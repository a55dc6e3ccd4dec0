"""Telling a person that something about their application or complaint has changed.

One path for every such notice, whatever caused it (the status feed, an operator, the bot itself):
- Telegram when the person uses the bot — the user who filed the matter, or the Telegram user who last
  verified the IIN (store.users.linked_user); the notice is an envelope of the Telegram outbox, written in the
  unit of work of the change and rendered at delivery in the person's current language;
- otherwise, or when Telegram refuses (the bot was blocked), an SMS to the person's registered phone, within
  its segment budget (the text key ``<key>.sms``); STOP suppresses it (SmsService).
A person who turned status notices off in the bot gets none, by either channel.

The registered phone comes from the citizen directory, an outside system: it is asked before the unit that owes
the notice begins (``reach``, passed to ``notify``), never inside it.

Parameters are plain values, or ``{"text": "<key>"}`` (a localized text, e.g. a status name),
``{"when": "<ISO datetime>"}`` or ``{"day": "<ISO date>"}`` (localized dates). Never medical data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from bot.core.outbox import NOTICE, TelegramOutbox
from bot.core.sms_sending import SmsService
from bot.gateways.state_systems import CitizenDirectory, StateSystemUnavailable
from bot.i18n import Lang, Texts, format_day, format_when
from store.db import Database
from store.users import UserRepository

log = logging.getLogger(__name__)

Route = Literal["telegram", "sms", "off", "nobody"]


@dataclass(frozen=True)
class Reach:
    """Where a notice to ``iin`` goes by SMS, asked of the directory before the unit that owes it began: the
    registered ``phone`` (None: none registered), or ``error`` when the directory could not say."""
    iin: str
    phone: str | None
    error: StateSystemUnavailable | None = None


class NoticeService:
    def __init__(self, db: Database, telegram: TelegramOutbox, users: UserRepository, directory: CitizenDirectory,
                 sms: SmsService, texts: Texts) -> None:
        self._db = db
        self._telegram = telegram
        self._users = users
        self._directory = directory
        self._sms = sms
        self._texts = texts

    async def reach(self, iin: str | None, user_id: int | None = None) -> Reach | None:
        """Before the caller's unit begins: the phone of ``iin`` when a notice to them would go by SMS as things
        stand (no Telegram chat that takes it); None when it would go by Telegram, or to nobody."""
        if not iin:
            return None
        target = user_id if user_id is not None else await self._users.linked_user(iin)
        prefs = await self._users.notice_preferences(target) if target is not None else None
        if prefs is not None and (not prefs[1] or not prefs[2]):
            return None  # off, or by Telegram
        return await self._phone(iin)

    async def _phone(self, iin: str) -> Reach:
        try:
            citizen = await self._directory.person(iin)
        except StateSystemUnavailable as exc:
            return Reach(iin, None, exc)
        return Reach(iin, citizen.phone if citizen else None)

    async def notify(self, key: str, params: dict[str, Any], *, iin: str | None = None,
                     user_id: int | None = None, reach: Reach | None = None) -> Route:
        """Owe a notice to the person ``iin`` (and/or the Telegram user ``user_id`` who filed the matter), in the
        caller's unit of work. ``reach``: ``self.reach``'s answer, asked before the unit began (without it, a
        notice that goes by SMS asks the directory here). Returns the way it will go, for the caller's log and
        tests."""
        target = user_id if user_id is not None else (await self._users.linked_user(iin) if iin else None)
        prefs = await self._users.notice_preferences(target) if target is not None else None
        if target is not None and prefs is not None:
            _, on, blocked = prefs
            if not on:
                return "off"
            if not blocked:
                await self._telegram.owe(target, NOTICE, {"key": key, "params": params, "iin": iin}, label=key)
                return "telegram"
        lang = prefs[0] if prefs is not None else None
        return "sms" if await self.by_sms(iin, key, params, lang, reach) else "nobody"

    async def by_sms(self, iin: str | None, key: str, params: dict[str, Any], lang: str | None = None,
                     reach: Reach | None = None) -> bool:
        """Send the SMS form of a notice to the registered phone of ``iin``; False when there is none.
        StateSystemUnavailable when the directory could not say the phone: the caller's unit then fails (a
        status feed event is answered 503 and sent again; a Telegram fallback is tried again later)."""
        if not iin:
            return False
        if reach is None or reach.iin != iin:
            reach = await self._phone(iin)
        if reach.error is not None:
            raise reach.error
        if not reach.phone:
            return False
        chosen = await self._sms.language_for(reach.phone, iin, lang)
        await self._sms.send(reach.phone, self.render(chosen, f"{key}.sms", params), kind="notice")
        return True

    async def instead_by_sms(self, envelope_id: int, iin: str | None, key: str, params: dict[str, Any], lang: str,
                             reason: str) -> Literal["by_sms", "no_phone", "settled_already"]:
        """Telegram could not take a notice: its SMS form goes instead, and the envelope is settled — one unit.
        "no_phone": there is no phone to send it to (the envelope fails); "settled_already": another sender took
        the envelope over after this one's lease ran out and settled it, so no SMS is owed.
        StateSystemUnavailable when the phone cannot be had now."""
        reach = await self._phone(iin) if iin else None  # before the unit begins
        async with self._db.unit("notice/by_sms") as unit:
            sent = await self.by_sms(iin, key, params, lang, reach)
            if not await self._telegram.settle(envelope_id, "by_sms" if sent else "failed", reason):
                unit.fail()  # the SMS written above is rolled back with it
                return "settled_already"
        return "by_sms" if sent else "no_phone"

    def render(self, lang: Lang, key: str, params: dict[str, Any]) -> str:
        return self._texts(lang, key, **{name: self._value(lang, value) for name, value in params.items()
                                         if not name.startswith("_")})

    def _value(self, lang: Lang, value: object) -> object:
        if isinstance(value, dict):
            if "text" in value:
                return self._texts(lang, str(value["text"]))
            if "when" in value:
                return format_when(datetime.fromisoformat(str(value["when"])), lang)
            if "day" in value:
                return format_day(date.fromisoformat(str(value["day"])), lang)
        return value
