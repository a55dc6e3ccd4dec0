"""Registry information (S1–S3): a citizen's own, or another person's with that person's consent.

No registry information leaves the system unless the requester's identity is verified (own request) or the
subject consented to this very request (third party). Results are shown, never stored: the store keeps
only that a result was delivered, to whom and when; the certificate is rendered from the registry each time
it is delivered. Each public method is one unit of work: the decision and everything it owes a person (the
requester's result or refusal, the subject's SMS, the offers in the subject's chats) commit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.config import Settings
from bot.core import otp as otp_
from bot.core.applications import new_number
from bot.core.certificates import CertificateService
from bot.core.conversation import ConversationService
from bot.core.identity import IinRefused
from bot.core.otp import OtpService
from bot.core.outbox import CONSENT_OFFER, CONSENT_OUTCOME, NOTICE, TelegramOutbox
from bot.core.sms_sending import SmsService
from bot.domain import tags
from bot.domain.application_status import can_move
from bot.domain.calendar import WorkingCalendar
from bot.domain.catalog import get_service
from bot.domain.deadlines import due_at
from bot.domain.iin import InvalidIIN, mask_iin, parse_iin
from bot.domain.model import Application, Consent, Identity
from bot.domain.names import mask_name
from bot.domain.phone import mask_phone
from bot.domain.verification import CodeFields, valid_until
from bot.i18n import Lang, Texts, format_short
from bot.metrics import Metrics, on_commit
from store.applications import ApplicationRepository
from store.citizens import CitizenRepository
from store.db import Database
from store.users import UserRepository

CONSENT = "consent"
NO_CONSENT = "no_consent"  # the seeds' only refusal ground: absence of the subject's consent

# The information systems that answer for each register when a seed record does not name one.
DEFAULT_SOURCE_SYSTEM = {"tb": "Фтизиатрия", "psychiatry": "Психиатрия", "narcology": "Наркология"}

# Event notes the bot writes (rendered for people by the channel: history.note.<code with : as _>).
NOTE_NO_PHONE, NOTE_DECLINED, NOTE_EXPIRED, NOTE_WRONG_CODE = "no_phone", "declined", "expired", "wrong_code"


@dataclass(frozen=True)
class Certificate:
    """The "Сведения/Мәлімет" form of the seeds, rendered by the channel and never stored."""
    number: str
    service: str
    issued_at: datetime
    full_name: str
    birth_date: str
    address: str
    observed: bool
    source_system: str
    code: str = ""        # the verification code (bot/core/certificates.py): a keyed hash, never stored
    verify_url: str = ""  # the verification page with the number and code filled in

    @property
    def valid_until(self) -> datetime:
        return valid_until(self.issued_at)


@dataclass(frozen=True)
class ConsentRequested:
    app: Application
    masked_phone: str
    expires_at: datetime


@dataclass(frozen=True)
class OwnIin:
    """The requester typed their own IIN: that is an own request, not a third-party one."""


@dataclass(frozen=True)
class Refused:
    app: Application
    note: str  # 'no_phone', 'declined', 'expired', 'wrong_code'


@dataclass(frozen=True)
class Delivered:
    app: Application
    certificate: Certificate


@dataclass(frozen=True)
class NotPending:
    """The consent is no longer open (already given, refused or expired)."""
    app: Application | None


@dataclass(frozen=True)
class NotAllowed:
    """Only the identified data subject may decide; anyone else learns nothing about the request."""


class RegistryInfoService:
    def __init__(self, db: Database, apps: ApplicationRepository, citizens: CitizenRepository,
                 users: UserRepository, otps: OtpService, sms: SmsService, telegram: TelegramOutbox,
                 conversation: ConversationService, texts: Texts, clock: Clock, settings: Settings,
                 calendar: WorkingCalendar, certificates: CertificateService, metrics: Metrics | None = None
                 ) -> None:
        self._db = db
        self._metrics = metrics or Metrics()
        self._apps = apps
        self._citizens = citizens
        self._users = users
        self._otps = otps
        self._sms = sms
        self._telegram = telegram
        self._conversation = conversation
        self._texts = texts
        self._clock = clock
        self._s = settings
        self._calendar = calendar
        self._tag_key = settings.resolved_secret_key()
        self._certificates = certificates

    # Own request ----------------------------------------------------------------------------------------

    async def request_own(self, identity: Identity, user_id: int, service: str) -> Delivered:
        """Register the request and issue the result to its verified requester, in one unit."""
        get_service(service)
        async with self._db.unit("registry/own"):
            now = self._clock.now()
            app = Application(
                number=await new_number(self._apps, now), service=service, iin=identity.iin,
                requester_iin=identity.iin, requester_user_id=user_id, channel="telegram", submitted_at=now,
                due_at=due_at(service, now, self._calendar), status="accepted", refusal_ground=None,
            )
            await self._apps.add(app)
            return Delivered(app, await self._issue(app, identity.iin, user_id))

    async def _issue(self, app: Application, recipient_iin: str, user_id: int | None) -> Certificate:
        """Record that the result of an accepted application was delivered (inside the caller's unit)."""
        now = self._clock.now()
        await self._move(app.number, app.status, "result_ready")
        await self._apps.record_delivery(app.number, recipient_iin, user_id, now)
        certificate = await self.certificate(app, now)
        assert certificate is not None
        await self._certificates.record(app.number, app.iin, app.service, certificate.source_system,
                                        certificate.full_name, certificate.issued_at)
        return certificate

    async def certificate(self, app: Application, issued_at: datetime) -> Certificate | None:
        """The certificate of an application whose result was given, read from the registry now. Once it is
        recorded as issued, its issue time and source system are the recorded ones: its verification code
        (over those fields and the status) stays the same each time it is rendered."""
        register = get_service(app.service).register
        if register is None:
            return None
        citizen = await self._citizens.get(app.iin)
        record = await self._citizens.record(app.iin, register)
        issued = await self._certificates.issued(app.number)
        source_system = record.source_system if record else DEFAULT_SOURCE_SYSTEM[register]
        if issued is not None:
            issued_at, source_system = issued.issued_at, issued.source_system
        observed = bool(record and record.observed)
        code = self._certificates.code(CodeFields(app.number, app.iin, issued_at, observed, app.service,
                                                  source_system))
        return Certificate(
            number=app.number, service=app.service, issued_at=issued_at,
            full_name=citizen.full_name if citizen else "", birth_date=citizen.birth_date if citizen else "",
            address=citizen.address if citizen else "", observed=observed, source_system=source_system,
            code=code, verify_url=self._certificates.verify_url(app.number, code),
        )

    async def certificate_for(self, number: str) -> Certificate | None:
        """For a delivery after a restart (or a PDF): the certificate of ``number`` if its result was given."""
        app = await self._apps.get(number)
        if app is None or app.status != "result_ready":
            return None
        return await self.certificate(app, self._clock.now())

    async def _move(self, number: str, current: str, to: str, note: str | None = None,
                    refusal_ground: str | None = None) -> None:
        """Every status change of the bot's own applications goes through can_move, as the feed's do."""
        if not can_move(current, to):
            raise ValueError(f"{number}: status cannot go from {current} to {to}")
        await self._apps.set_status(number, to, self._clock.now(), note=note, refusal_ground=refusal_ground)

    # Third-party request --------------------------------------------------------------------------------

    async def submit_third_party(self, identity: Identity, user_id: int, service: str, subject_text: str,
                                 lang: Lang) -> ConsentRequested | Refused | IinRefused | OwnIin | otp_.TooMany:
        try:
            subject_iin = parse_iin(subject_text)
        except InvalidIIN as exc:
            return IinRefused(exc.reason)
        if subject_iin == identity.iin:
            return OwnIin()
        get_service(service)
        async with self._db.unit("consent/request"):
            now = self._clock.now()
            number = await new_number(self._apps, now)
            subject = await self._citizens.get(subject_iin)
            app = Application(
                number=number, service=service, iin=subject_iin, requester_iin=identity.iin,
                requester_user_id=user_id, channel="telegram", submitted_at=now,
                due_at=due_at(service, now, self._calendar), status="awaiting_consent", refusal_ground=None,
            )
            if subject is None or not subject.phone:
                # Consent cannot be asked for, so it is absent: the seeds' ground for refusal.
                refused = Application(**{**app.__dict__, "status": "refused", "refusal_ground": NO_CONSENT})
                await self._apps.add(refused, note=NOTE_NO_PHONE)
                on_commit(self._db, lambda: self._metrics.refusal(NO_CONSENT, NOTE_NO_PHONE))
                return Refused(refused, NOTE_NO_PHONE)
            issued = await self._otps.issue(CONSENT, number, subject.phone)
            if isinstance(issued, otp_.TooMany):
                return issued  # nothing was registered and nothing sent
            assert isinstance(issued, otp_.Issued)  # a fresh number cannot be "too soon"
            await self._apps.add(app)
            expires_at = now + timedelta(seconds=self._s.consent_ttl_seconds)
            consent = Consent(number, identity.iin, subject_iin, subject.phone, service, "pending", now, expires_at)
            await self._apps.add_consent(consent)
            await self._send_consent_request(app, consent, issued, lang)
            await self._offer_in_subject_chats(app, consent)
            return ConsentRequested(app, mask_phone(subject.phone), expires_at)

    async def requester_label(self, requester_iin: str) -> tuple[str, str]:
        """The requester as a data subject is told about them: masked name and masked IIN."""
        requester = await self._citizens.get(requester_iin)
        return (mask_name(requester.full_name) if requester else ""), mask_iin(requester_iin)

    async def _send_consent_request(self, app: Application, consent: Consent, issued: otp_.Issued,
                                    lang: Lang) -> None:
        name, iin = await self.requester_label(consent.requester_iin)
        sms_lang = await self._sms.language_for(consent.subject_phone, consent.subject_iin, lang)
        text = self._texts(
            sms_lang, "sms.consent_request", name=name, iin=iin,
            register=self._texts(sms_lang, f"sms.register.{get_service(app.service).register}"), code=issued.code,
        )
        await self._sms.send(consent.subject_phone, text, kind="interactive",
                             expires_at=issued.expires_at.timestamp())

    async def _offer_in_subject_chats(self, app: Application, consent: Consent) -> None:
        """The subject, if they use the bot, may also decide in their own chat (the seeds' personal cabinet):
        every chat linked to the subject's IIN is offered the request, verified right now or not (deciding
        asks for a fresh identity: decide_as_subject). Not the requester's own chat, even if it was once
        verified as the subject: the decision is the subject's."""
        name, iin = await self.requester_label(consent.requester_iin)
        for chat_id in await self._users.linked_chats(consent.subject_iin):
            if chat_id == app.requester_user_id:
                continue
            await self._telegram.owe(chat_id, CONSENT_OFFER, {
                "number": app.number, "service": app.service, "requester_name": name, "requester_iin": iin})

    def offer_tag(self, number: str, chat_id: int) -> str:
        """The tag the Consent / Decline buttons of an offer carry: it proves that this chat was offered this
        request (a chat that was not gets exactly the answer to a made-up button)."""
        return tags.tag(self._tag_key, "consent-offer", number, chat_id)

    def offered(self, number: str, chat_id: int, tag: str) -> bool:
        return bool(tag) and tags.valid(self._tag_key, tag, "consent-offer", number, chat_id)

    async def resend_consent_code(self, identity: Identity, user_id: int, number: str, lang: Lang
                                  ) -> ConsentRequested | NotPending | otp_.TooSoon | otp_.TooMany:
        async with self._db.unit("consent/resend"):
            consent, app = await self._open_consent(identity, user_id, number)
            if consent is None or app is None:
                return NotPending(app)
            issued = await self._otps.issue(CONSENT, number, consent.subject_phone)
            if not isinstance(issued, otp_.Issued):
                return issued
            await self._send_consent_request(app, consent, issued, lang)
            return ConsentRequested(app, mask_phone(consent.subject_phone), consent.expires_at)

    async def _open_consent(self, identity: Identity, user_id: int, number: str
                            ) -> tuple[Consent | None, Application | None]:
        app = await self._apps.get(number)
        if app is None or app.requester_user_id != user_id or app.requester_iin != identity.iin:
            return None, None
        consent = await self._apps.consent(number)
        if consent is None or consent.status != "pending" or consent.expires_at <= self._clock.now():
            return None, app
        return consent, app

    async def confirm_with_code(self, identity: Identity, user_id: int, number: str, code: str
                                ) -> Delivered | Refused | NotPending | otp_.WrongCode | otp_.NoValidCode:
        """The requester types the code the subject passed on (the result goes back in the same turn)."""
        async with self._db.unit("consent/code"):
            consent, app = await self._open_consent(identity, user_id, number)
            if consent is None or app is None:
                return NotPending(app)
            result = await self._otps.verify(CONSENT, number, code)
            if isinstance(result, otp_.WrongCode):
                return result
            if isinstance(result, otp_.NoValidCode):
                if result.reason == "locked":
                    return await self._refuse(consent, "failed", NOTE_WRONG_CODE, tell_requester=False,
                                              way="otp") or NotPending(app)
                return NotPending(app) if result.reason == "none" else result
            return await self._give(consent, "otp", tell_requester=False) or NotPending(app)

    async def give_consent(self, number: str, method: str, tell_subject: bool = True) -> Delivered | None:
        """The subject consented elsewhere than the requester's chat (``sms``, ``cabinet``): record it for this
        one request; the requester is owed the result in their chat. ``tell_subject=False``: the caller's own
        reply to the subject says to whom and when the data went (one SMS, not two overlapping ones)."""
        async with self._db.unit("consent/give"):
            consent = await self._apps.consent(number)
            if consent is None:
                return None
            return await self._give(consent, method, tell_requester=True, tell_subject=tell_subject)

    async def decide_as_subject(self, identity: Identity | None, number: str, consents: bool
                                ) -> Delivered | Refused | NotPending | NotAllowed:
        """The data subject pressed Consent / Decline in their own chat. Anyone but the identified subject
        gets NotAllowed, whether the request exists or not."""
        async with self._db.unit("consent/cabinet"):
            consent = await self._apps.consent(number) if identity is not None else None
            if identity is None or consent is None or consent.subject_iin != identity.iin:
                return NotAllowed()
            if consents:
                decided: Delivered | Refused | None = await self._give(consent, "cabinet", tell_requester=True)
            else:
                decided = await self._refuse(consent, "declined", NOTE_DECLINED, "cabinet", tell_requester=True)
            return decided or NotPending(await self._apps.get(number))

    async def _give(self, consent: Consent, method: str, tell_requester: bool, tell_subject: bool = True
                    ) -> Delivered | None:
        now = self._clock.now()
        if consent.expires_at <= now:
            return None
        if not await self._apps.decide_consent(consent.number, "given", method, now):
            return None
        await self._otps.invalidate(CONSENT, consent.number)
        await self._move(consent.number, "awaiting_consent", "accepted", note=f"consent:{method}")
        app = await self._apps.get(consent.number)
        assert app is not None
        certificate = await self._issue(app, consent.requester_iin, app.requester_user_id)
        app = await self._apps.get(consent.number)
        assert app is not None
        if tell_subject:
            await self._tell_subject_provided(app, consent, now)
        if tell_requester:
            await self._tell_requester(app, "given")
        on_commit(self._db, lambda: self._metrics.consent(method, "given"))
        return Delivered(app, certificate)

    async def _tell_subject_provided(self, app: Application, consent: Consent, now: datetime) -> None:
        name, iin = await self.requester_label(consent.requester_iin)
        requester_lang = (await self._users.language(app.requester_user_id)) if app.requester_user_id else None
        lang = await self._sms.language_for(consent.subject_phone, consent.subject_iin, requester_lang)
        text = self._texts(
            lang, "sms.data_provided",
            register=self._texts(lang, f"sms.register.{get_service(app.service).register}"),
            name=name, iin=iin, when=format_short(now),
        )
        await self._sms.send(consent.subject_phone, text, kind="notice")
        # And in the subject's own chats, when they use the bot (the SMS stays: it is the notice of record, so
        # the Telegram one has no SMS fallback of its own).
        params = {"number": app.number, "register": {"text": f"sms.register.{get_service(app.service).register}"},
                  "name": name, "iin": iin, "when": {"when": now.isoformat()}}
        for chat_id in await self._users.linked_chats(consent.subject_iin):
            await self._telegram.owe(chat_id, NOTICE, {"key": "subject.data_provided", "params": params, "iin": None},
                                     label="subject.data_provided")

    async def _tell_requester(self, app: Application, outcome: str) -> None:
        """The requester is owed the outcome in their chat, and no longer waits for a code."""
        if app.requester_user_id is None:
            return
        await self._telegram.owe(app.requester_user_id, CONSENT_OUTCOME, {"number": app.number, "outcome": outcome},
                                 label=f"consent_{outcome}")
        await self._conversation.stop_waiting_for_code(app.requester_user_id, app.number)

    async def end_after_wrong_codes(self, consent: Consent) -> Refused | None:
        """Too many wrong codes (typed by SMS) end the request; the requester is told in their chat."""
        async with self._db.unit("consent/locked"):
            return await self._refuse(consent, "failed", NOTE_WRONG_CODE, tell_requester=True, way="sms")

    async def decline(self, number: str, method: str) -> Refused | None:
        """The subject declined (``sms``): the requester is told in their chat."""
        async with self._db.unit("consent/decline"):
            consent = await self._apps.consent(number)
            if consent is None:
                return None
            return await self._refuse(consent, "declined", NOTE_DECLINED, method, tell_requester=True)

    async def expire_due(self) -> list[Refused]:
        """Refuse every request whose consent window ran out (run periodically; survives restarts)."""
        refused = []
        for consent in await self._apps.expired_consents(self._clock.now()):
            async with self._db.unit("consent/expire"):
                result = await self._refuse(consent, "expired", NOTE_EXPIRED, tell_requester=True, way="timeout")
            if result:
                refused.append(result)
        return refused

    async def _refuse(self, consent: Consent, consent_status: str, note: str, method: str | None = None, *,
                      tell_requester: bool, way: str | None = None) -> Refused | None:
        """``method``: how the subject decided (stored); ``way``: how the outcome came about when the subject did
        not decide (too many wrong codes typed in the bot or by SMS, the time ran out), for the metrics."""
        if not await self._apps.decide_consent(consent.number, consent_status, method, self._clock.now()):
            return None
        await self._otps.invalidate(CONSENT, consent.number)
        await self._move(consent.number, "awaiting_consent", "refused", note=note, refusal_ground=NO_CONSENT)
        app = await self._apps.get(consent.number)
        assert app is not None
        if tell_requester:
            await self._tell_requester(app, note)
        outcome_way = way or method or "other"

        def count() -> None:
            self._metrics.consent(outcome_way, consent_status)
            self._metrics.refusal(NO_CONSENT, note)

        on_commit(self._db, count)
        return Refused(app, note)
