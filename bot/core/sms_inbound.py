"""What a person can do by SMS: answer a consent request, ask for an application's status, STOP / START.

These are the same rules the Telegram channel uses, reached from another door: a consent code is checked
only by ``OtpService.verify`` (HMAC, attempts, expiry), consent is recorded only by
``ConsentService.give_consent`` / ``decline``, application numbers are parsed by
``normalize_number``. Nothing here knows about keywords or languages (that is handlers/sms_commands.py).

One inbound SMS is one unit of work (``received``), and the outside systems it needs are asked before that unit
writes anything: ``status`` (the directory: whose phone may see a number) and ``ask_for_reply`` (for a right
consent code: the registry and the directory) come first, the writes after them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from bot.clock import Clock
from bot.core import otp as otp_
from bot.core.applications import normalize_number, visible_to_phone
from bot.core.complaints import normalize_number as normalize_complaint_number
from bot.core.consent import NOT_ASKED, ConsentService
from bot.core.otp import OtpService
from bot.core.registry_info import CONSENT, Accepted, Asked, Delivered, Refused
from bot.domain.model import Application, Complaint, Consent
from bot.gateways.state_systems import CitizenDirectory, StateSystemUnavailable
from store.applications import ApplicationRepository
from store.complaints import ComplaintRepository
from store.db import Database
from store.sms_inbound import InboundIdRepository, SmsPhoneRepository

Answer = Literal["yes", "no"]

# The IIN asked of the directory for a number that does not exist: no person has it (its birth date, 00.00.00,
# is no date), so the directory answers "unknown", or that it cannot answer now.
NOBODY = "000000000000"


@dataclass(frozen=True)
class NoPending:
    """The phone has no open consent request: nothing to answer."""


@dataclass(frozen=True)
class CodeNeeded:
    """The reply must name its request by the code: a bare yes is never guessed (`pending` requests open)."""
    pending: int


@dataclass(frozen=True)
class Provided:
    """What the reply to a consenting SMS tells the subject: to whom (masked) and when their data was given."""
    requester_name: str
    requester_iin: str
    service: str
    at: datetime


@dataclass(frozen=True)
class Decided:
    """Consent given (Delivered, or Accepted: the result follows when the registry answers) or declined
    (Refused) for exactly one request. ``provided``: the consent was given and the reply, not a separate notice,
    tells the subject to whom and when."""
    result: Delivered | Accepted | Refused
    provided: Provided | None = None


@dataclass(frozen=True)
class WrongCode:
    """The code matched no open request. `ended`: requests refused now because of too many wrong codes."""
    attempts_left: int | None
    ended: list[Refused] = field(default_factory=list)


@dataclass(frozen=True)
class CodeExpired:
    """The code is right in form but its time ran out; the requester can have a new one sent."""


ConsentReplyResult = NoPending | CodeNeeded | Decided | WrongCode | CodeExpired


@dataclass(frozen=True)
class ReplyAsked:
    """What the outside systems said for the one open request a consenting reply's code is right for."""
    number: str
    asked: Asked


@dataclass
class Received:
    """An inbound SMS being handled: ``fresh`` is False for a repeat of one handled already (acknowledge it, do
    nothing), and becomes False when another attempt at the same message committed while this one ran."""
    fresh: bool


@dataclass(frozen=True)
class StatusFound:
    app: Application


@dataclass(frozen=True)
class ComplaintFound:
    complaint: Complaint


@dataclass(frozen=True)
class CannotCheckNow:
    """The citizen directory cannot say now whose phone may see the number: try again later."""


StatusAnswer = StatusFound | ComplaintFound | CannotCheckNow


class SmsInboundService:
    def __init__(self, db: Database, apps: ApplicationRepository, directory: CitizenDirectory, otps: OtpService,
                 consents: ConsentService, phones: SmsPhoneRepository, inbound_ids: InboundIdRepository,
                 clock: Clock, complaints: ComplaintRepository) -> None:
        self._db = db
        self._ids = inbound_ids
        self._apps = apps
        self._complaints = complaints
        self._directory = directory
        self._otps = otps
        self._consents = consents
        self._phones = phones
        self._clock = clock

    @asynccontextmanager
    async def received(self, gateway_id: str | None) -> AsyncIterator[Received]:
        """One inbound SMS as one unit of work: its gateway id is marked handled in the same transaction as
        its effects (and the replies it owes), so a retry after a crash is handled, and a repeat is not. The
        mark is written last (as a Telegram update's is): what the message asks of outside systems is asked
        before the unit writes anything. A message handled meanwhile by another attempt is rolled back."""
        async with self._db.unit("sms/inbound") as unit:
            message = Received(gateway_id is None or not await self._ids.handled(gateway_id))
            yield message
            if message.fresh and gateway_id is not None and not unit.failed \
                    and not await self._ids.claim(gateway_id, self._clock.now()):
                message.fresh = False
                unit.fail()

    # Consent by reply -------------------------------------------------------------------------------------

    async def _open_requests(self, phone: str) -> list[Consent]:
        now = self._clock.now()
        return [c for c in await self._apps.pending_consents_for_phone(phone) if c.expires_at > now]

    async def ask_for_reply(self, phone: str, answer: Answer, code: str | None) -> ReplyAsked | None:
        """Before the message's unit writes anything: for a consenting reply whose code is right for an open
        request (checked read only), what the outside systems say for it (ConsentService.ask)."""
        if answer != "yes" or code is None:
            return None
        for consent in await self._open_requests(phone):
            if await self._otps.matches(CONSENT, consent.number, code):
                return ReplyAsked(consent.number, await self._consents.ask(consent))
        return None

    async def consent_reply(self, phone: str, answer: Answer, code: str | None,
                            reply_tells: bool = False, asked: ReplyAsked | None = None) -> ConsentReplyResult:
        """A reply to a consent SMS: "482913" / "ДА 482913" (yes), "НЕТ" / "НЕТ 482913" (no).

        Consent must be bound to its code, so a bare yes always asks for the code. A bare no is taken
        only when exactly one request is open (declining shares nothing, so no harm if it is the one).
        ``reply_tells``: the answer to this SMS will be sent, and it says to whom and when the data was given
        (Decided.provided) — then no separate "your data was provided" notice goes to the same phone. A reply
        to the person's own SMS is not a notice: STOP does not hold it back. ``asked``: ask_for_reply's answer,
        asked before the unit began (without it a consent given is answered from the queue).
        """
        async with self._db.unit("sms/consent_reply"):
            pending = await self._open_requests(phone)
            if not pending:
                return NoPending()
            if code is None:
                if answer == "no" and len(pending) == 1:
                    refused = await self._consents.decline(pending[0].number, "sms")
                    return Decided(refused) if refused else NoPending()
                return CodeNeeded(len(pending))
            return await self._by_code(pending, answer, code, reply_tells, asked)

    async def _by_code(self, pending: list[Consent], answer: Answer, code: str,
                       reply_tells: bool, asked: ReplyAsked | None) -> ConsentReplyResult:
        # Each code is an HMAC bound to one application, so the request is found by verifying against each
        # open one. A wrong code thus counts as a wrong try on every open request of this phone — as it
        # should, since a guess has a chance against each of them.
        left: list[int] = []
        ended: list[Refused] = []
        expired = 0
        for consent in pending:
            checked = await self._otps.verify(CONSENT, consent.number, code)
            if isinstance(checked, otp_.Verified):
                if answer == "no":
                    refused = await self._consents.decline(consent.number, "sms")
                    return Decided(refused) if refused else NoPending()
                told = asked.asked if asked is not None and asked.number == consent.number else NOT_ASKED
                given = await self._consents.give_consent(consent.number, "sms", told, tell_subject=not reply_tells)
                if given is None:
                    return NoPending()
                if isinstance(given, Accepted) or not reply_tells:  # Accepted: the subject is told when it is given
                    return Decided(given)
                name, iin = told.requester
                return Decided(given, Provided(name, iin, consent.service, self._clock.now()))
            if isinstance(checked, otp_.WrongCode):
                left.append(checked.attempts_left)
            elif checked.reason == "locked":
                refused = await self._consents.end_after_wrong_codes(consent)
                if refused:
                    ended.append(refused)
            elif checked.reason == "expired":
                expired += 1
        if expired == len(pending):
            return CodeExpired()
        return WrongCode(min(left) if left else None, ended)

    # Status ------------------------------------------------------------------------------------------------

    async def status(self, phone: str, text: str) -> StatusFound | ComplaintFound | CannotCheckNow | None:
        """An application's status, only to the phone the directory registers for its applicant; a
        complaint's state, only to the phone of its filer (the one on the complaint, or the registered one).

        "Not yours" and "no such number" give the same None, so the SMS channel cannot be used to probe
        which numbers exist. The directory is asked for every number, one that exists or not (``_not_found``):
        while it cannot answer, "try later" is the answer for both, from the first message on.
        """
        try:
            return await self._status(phone, text)
        except StateSystemUnavailable:
            return CannotCheckNow()

    async def _status(self, phone: str, text: str) -> StatusFound | ComplaintFound | CannotCheckNow | None:
        complaint_number = normalize_complaint_number(text)
        if complaint_number is not None:
            complaint = await self._complaints.get(complaint_number)
            if complaint is None:
                await self._not_found()
                return None
            if phone == complaint.phone:
                return ComplaintFound(complaint)
            filer = await self._directory.person(complaint.iin)
            if phone not in {complaint.phone, filer.phone if filer else None} - {None}:
                return None
            return ComplaintFound(complaint)
        number = normalize_number(text)
        if number is None:
            return None
        app = await self._apps.get(number)
        if app is None:
            await self._not_found()
            return None
        applicant = await self._directory.person(app.requester_iin or app.iin)
        if not visible_to_phone(app, applicant.phone if applicant else None, phone):
            return None
        return StatusFound(app)

    async def _not_found(self) -> None:
        """No such number: the directory is asked all the same, about nobody (``NOBODY``), as it is asked about
        the applicant of a number that exists — so that while it cannot answer, an unknown number gets "try
        later" too (StateSystemUnavailable), and the answer takes as long either way."""
        await self._directory.person(NOBODY)

    # Notices on / off, and the phone's language ------------------------------------------------------------

    async def stop(self, phone: str) -> None:
        async with self._db.unit("sms/stop"):
            await self._phones.set_opted_out(phone, True, self._clock.now())

    async def start(self, phone: str) -> None:
        async with self._db.unit("sms/start"):
            await self._phones.set_opted_out(phone, False, self._clock.now())

    async def opted_out(self, phone: str) -> bool:
        return await self._phones.opted_out(phone)

    async def remember_language(self, phone: str, lang: str) -> None:
        async with self._db.unit("sms/language"):
            await self._phones.set_language(phone, lang, self._clock.now())

    async def language(self, phone: str, hint: str | None = None) -> str | None:
        """The language to answer an SMS that names none (a bare number or code, a word both languages
        share): the one the phone last wrote a keyword in, else ``hint`` (the channel's guess from the
        message's own script), else the bot language of the Telegram account of the person whose registered
        phone it is, else None."""
        return (await self._phones.language(phone) or hint
                or await self._phones.telegram_language(phone))
