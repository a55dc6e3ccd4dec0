"""Proving who a citizen is: their own Telegram contact, their IIN, and a code sent to the IIN's phone."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.clock import Clock
from bot.config import Settings
from bot.core import otp as otp_
from bot.core.otp import OtpService
from bot.core.sms_sending import SmsService
from bot.domain.iin import InvalidIIN, mask_iin, parse_iin
from bot.domain.model import Identity
from bot.domain.phone import InvalidPhone, mask_phone, normalize_phone
from bot.gateways.state_systems import CitizenDirectory, StateSystemUnavailable
from bot.i18n import Lang, Texts
from store.db import Database
from store.users import UserRepository

log = logging.getLogger(__name__)

PURPOSE = "identify"


@dataclass(frozen=True)
class ContactRefused:
    reason: str  # 'not_own' | 'not_kz_mobile'


@dataclass(frozen=True)
class IinRefused:
    reason: str  # 'format' | 'non_ascii' | 'checksum' | 'no_match'


@dataclass(frozen=True)
class DirectoryDown:
    """The citizen directory cannot answer now: nothing was done (no code sent, none of the hourly sends
    spent); the person may try again in a while."""


@dataclass(frozen=True)
class CodeSent:
    iin: str
    masked_phone: str


def otp_ref(user_id: int, attempt: str) -> str:
    return f"{user_id}:{attempt}"


class IdentityService:
    def __init__(self, db: Database, users: UserRepository, directory: CitizenDirectory, otps: OtpService,
                 sms: SmsService, texts: Texts, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._users = users
        self._directory = directory
        self._otps = otps
        self._sms = sms
        self._texts = texts
        self._clock = clock
        self._s = settings

    async def current(self, user_id: int, later: list[Callable[[], Awaitable[None]]] | None = None
                      ) -> Identity | None:
        """The verified identity if it still holds (30 min idle, 24 h at most); each use extends it."""
        return await self.check(await self._users.identity(user_id), later)

    async def check(self, identity: Identity | None, later: list[Callable[[], Awaitable[None]]] | None = None
                    ) -> Identity | None:
        """`current` for an identity row already read (UserRepository.snapshot). ``later``: where to leave the
        write that extends it, for the caller to run at the end of its unit — a Telegram update writes it last,
        after the outside systems the update asks (handlers/telegram/turn.py); without it, it is written now. A
        lapse is written at once: the same update may verify the person afresh, which a late delete would undo."""
        if identity is None:
            return None
        now = self._clock.now()
        idle = now - identity.last_seen_at > timedelta(seconds=self._s.identity_idle_seconds)
        too_old = now - identity.verified_at > timedelta(seconds=self._s.identity_max_seconds)
        user_id = identity.user_id
        if idle or too_old:
            await self._write(None, "identity/lapse", lambda: self._users.drop_identity(user_id))
            return None
        # One write a minute is enough to keep a 30-minute idle limit: most updates then cost no commit.
        if now - identity.last_seen_at > timedelta(seconds=60):
            await self._write(later, "identity/touch", lambda: self._users.touch_identity(user_id, now))
        return identity

    async def _write(self, later: list[Callable[[], Awaitable[None]]] | None, name: str,
                     write: Callable[[], Awaitable[object]]) -> None:
        async def unit() -> None:
            async with self._db.unit(name):
                await write()

        if later is None:
            await unit()
        else:
            later.append(unit)

    @staticmethod
    def accept_contact(phone_number: str, contact_user_id: int | None, from_user_id: int) -> str | ContactRefused:
        """The E.164 phone of a shared contact, if it is the sender's own Kazakhstan mobile number."""
        if contact_user_id != from_user_id:
            return ContactRefused("not_own")
        try:
            return normalize_phone(phone_number)
        except InvalidPhone:
            return ContactRefused("not_kz_mobile")

    async def send_code(self, user_id: int, attempt: str, phone: str, iin_text: str, lang: Lang
                        ) -> CodeSent | IinRefused | DirectoryDown | otp_.TooSoon | otp_.TooMany:
        """Check the IIN against the directory and send a code to the phone registered for it."""
        try:
            iin = parse_iin(iin_text)
        except InvalidIIN as exc:
            return IinRefused(exc.reason)
        try:
            citizen = await self._directory.person(iin)
        except StateSystemUnavailable as exc:
            log.warning("identification of %s paused: %s", mask_iin(iin), exc)
            return DirectoryDown()
        # One answer for "unknown IIN" and "another phone": the bot must not reveal who is in the directory.
        if citizen is None or citizen.phone != phone:
            return IinRefused("no_match")
        async with self._db.unit("identity/code"):
            issued = await self._otps.issue(PURPOSE, otp_ref(user_id, attempt), phone)
            if not isinstance(issued, otp_.Issued):
                return issued
            await self._sms.send(phone, self._texts(lang, "sms.otp", code=issued.code), kind="interactive",
                                 expires_at=issued.expires_at.timestamp())
        return CodeSent(iin, mask_phone(phone))

    async def code_matches(self, user_id: int, attempt: str, code: str) -> bool:
        """Whether ``confirm`` would take ``code`` now, read only (OtpService.matches): what follows the
        identification in the same update may then ask outside systems before the update writes anything."""
        return await self._otps.matches(PURPOSE, otp_ref(user_id, attempt), code)

    async def confirm(self, user_id: int, attempt: str, phone: str, iin: str, code: str
                      ) -> Identity | otp_.WrongCode | otp_.NoValidCode:
        async with self._db.unit("identity/confirm"):
            result = await self._otps.verify(PURPOSE, otp_ref(user_id, attempt), code)
            if not isinstance(result, otp_.Verified):
                return result
            now = self._clock.now()
            await self._users.save_identity(user_id, iin, phone, now)
            return Identity(user_id, iin, phone, now, now)

    async def logout(self, user_id: int) -> None:
        async with self._db.unit("identity/logout"):
            await self._users.drop_identity(user_id)
