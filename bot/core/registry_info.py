"""Registry information (S1–S3): a citizen's own, or another person's with that person's consent.

No registry information leaves the system unless the requester's identity is verified (own request) or the
subject consented to this very request (third party). Results are shown, never stored: the store keeps
only that a result was delivered, to whom and when; the certificate is rendered from the registry each time
it is delivered. Each public method is one unit of work: the decision and everything it owes a person (the
requester's result or refusal, the subject's SMS, the offers in the subject's chats) commit together.

The person's details come from the citizen directory and the observation from the registry
(bot/gateways/state_systems.py). When either cannot answer at the moment the result is due, the request is
accepted all the same, and the question waits in a durable queue (registry_questions, asked again by
bot/core/pending_results.py); its answer goes to the requester's chat when it comes, and the requester is told
when the due time passes first. Every stage is reported to monitoring (bot/core/stages.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.config import Settings
from bot.core import otp as otp_
from bot.core.applications import new_number
from bot.core.certificates import CertificateService
from bot.core.conversation import ConversationService
from bot.core.identity import DirectoryDown, IinRefused
from bot.core.notices import NoticeService
from bot.core.otp import OtpService
from bot.core.outbox import CONSENT_OFFER, CONSENT_OUTCOME, NOTICE, REGISTRY_RESULT, TelegramOutbox
from bot.core.sms_sending import SmsService
from bot.core.stages import StageReports
from bot.domain import tags
from bot.domain.application_status import can_move
from bot.domain.calendar import WorkingCalendar
from bot.domain.catalog import get_service
from bot.domain.certificate_seal import SealedCertificate
from bot.domain.deadlines import due_at
from bot.domain.iin import InvalidIIN, mask_iin, parse_iin
from bot.domain.model import Application, Citizen, Consent, Identity
from bot.domain.names import mask_name
from bot.domain.phone import mask_phone
from bot.domain.verification import CodeFields, valid_until
from bot.gateways.state_systems import CitizenDirectory, Registries, RegistryAnswer, StateSystemUnavailable
from bot.i18n import Lang, Texts, format_short
from bot.metrics import Metrics, on_commit
from store.applications import ApplicationRepository
from store.db import Database, utc_iso
from store.registry_questions import RegistryQuestionRepository
from store.users import UserRepository

log = logging.getLogger(__name__)

CONSENT = "consent"
NO_CONSENT = "no_consent"  # the seeds' only refusal ground: absence of the subject's consent

# The information systems that answer for each register when a seed record does not name one.
DEFAULT_SOURCE_SYSTEM = {"tb": "Фтизиатрия", "psychiatry": "Психиатрия", "narcology": "Наркология"}

# Event notes the bot writes (rendered for people by the channel: history.note.<code with : as _>).
NOTE_NO_PHONE, NOTE_DECLINED, NOTE_EXPIRED, NOTE_WRONG_CODE = "no_phone", "declined", "expired", "wrong_code"
LATE_NOTICE = "notice.registry_late"  # the due time passed and the registry has not answered yet


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
    seal_url: str = ""    # the verification page with the signed payload (the PDF's QR code): {base}/verify?p=…

    @property
    def valid_until(self) -> datetime:
        return valid_until(self.issued_at)

    def sealed(self) -> SealedCertificate:
        """The fields the page prints, as its QR code seals them: times to the second, as printed."""
        issued = self.issued_at.replace(microsecond=0)
        return SealedCertificate(number=self.number, service=self.service, issued_at=issued,
                                 valid_until=valid_until(issued), full_name=self.full_name,
                                 birth_date=self.birth_date, address=self.address, observed=self.observed,
                                 source_system=self.source_system)


@dataclass(frozen=True)
class Source:
    """What the directory and the registry answered for one certificate: used at once, never stored."""
    person: Citizen | None
    answer: RegistryAnswer


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
class Accepted:
    """The request is accepted, but the directory or the registry cannot answer now: the result goes to the
    requester's chat when they do (asked again from the queue), by the due time if they answer by then."""
    app: Application


@dataclass(frozen=True)
class NotPending:
    """The consent is no longer open (already given, refused or expired)."""
    app: Application | None


@dataclass(frozen=True)
class NotAllowed:
    """Only the identified data subject may decide; anyone else learns nothing about the request."""


class RegistryInfoService:
    def __init__(self, db: Database, apps: ApplicationRepository, directory: CitizenDirectory,
                 registries: Registries, users: UserRepository, otps: OtpService, sms: SmsService,
                 telegram: TelegramOutbox, conversation: ConversationService, texts: Texts, clock: Clock,
                 settings: Settings, calendar: WorkingCalendar, questions: RegistryQuestionRepository,
                 stages: StageReports, notices: NoticeService, certificates: CertificateService,
                 metrics: Metrics | None = None) -> None:
        self._db = db
        self._metrics = metrics or Metrics()
        self._certificates = certificates
        self._tag_key = settings.resolved_secret_key()
        self._apps = apps
        self._directory = directory
        self._registries = registries
        self._questions = questions
        self._stages = stages
        self._notices = notices
        self._users = users
        self._otps = otps
        self._sms = sms
        self._telegram = telegram
        self._conversation = conversation
        self._texts = texts
        self._clock = clock
        self._s = settings
        self._calendar = calendar

    # Own request ----------------------------------------------------------------------------------------

    async def request_own(self, identity: Identity, user_id: int, service: str) -> Delivered | Accepted:
        """Register the request and issue the result to its verified requester, in one unit; when the
        directory or the registry cannot answer now, the request is accepted and its question queued."""
        register = get_service(service).register
        assert register is not None, service
        source = await self._source_now(identity.iin, register)  # asked before the unit takes the write lock
        async with self._db.unit("registry/own"):
            now = self._clock.now()
            app = Application(
                number=await new_number(self._apps, now), service=service, iin=identity.iin,
                requester_iin=identity.iin, requester_user_id=user_id, channel="telegram", submitted_at=now,
                due_at=due_at(service, now, self._calendar), status="accepted", refusal_ground=None,
            )
            await self._add(app)
            if source is None:
                await self._ask_later(app.number)
                return Accepted(app)
            return Delivered(app, await self._give_result(app, source))

    async def _give_result(self, app: Application, source: Source) -> Certificate:
        """Record that the result of an accepted application was delivered to its requester (inside the
        caller's unit); the certificate is made from ``source`` for this one delivery."""
        now = self._clock.now()
        await self._move(app.number, app.status, "result_ready")
        await self._apps.record_delivery(app.number, app.requester_iin or app.iin, app.requester_user_id, now)
        certificate = await self._certificate(app, now, source)
        await self._certificates.record(app.number, app.iin, app.service, certificate.source_system,
                                        certificate.full_name, certificate.issued_at)
        return certificate

    async def _source(self, iin: str, register: str) -> Source:
        """The person and the observation, asked now; StateSystemUnavailable when either cannot answer."""
        return Source(await self._directory.person(iin), await self._registries.lookup(iin, register))

    async def _source_now(self, iin: str, register: str) -> Source | None:
        """``_source``, or None when it cannot be had now (the question then goes to the queue)."""
        try:
            return await self._source(iin, register)
        except StateSystemUnavailable as exc:
            log.warning("registry question for %s not answered now: %s", mask_iin(iin), exc)
            return None

    async def _certificate(self, app: Application, issued_at: datetime, source: Source) -> Certificate:
        """The certificate from ``source``. Once it is recorded as issued, its issue time and source system are
        the recorded ones: its verification code (over those fields and the status) stays the same each time
        it is rendered."""
        register = get_service(app.service).register
        assert register is not None, app.service
        person, answer = source.person, source.answer
        source_system = answer.source_system or DEFAULT_SOURCE_SYSTEM[register]
        issued = await self._certificates.issued(app.number)
        if issued is not None:
            issued_at, source_system = issued.issued_at, issued.source_system
        issued_at = issued_at.replace(microsecond=0)  # as recorded, signed and printed: to the second
        code = self._certificates.code(CodeFields(app.number, app.iin, issued_at, app.service, source_system))
        certificate = Certificate(
            number=app.number, service=app.service, issued_at=issued_at,
            full_name=person.full_name if person else "", birth_date=person.birth_date if person else "",
            address=person.address if person else "", observed=answer.observed, source_system=source_system,
            code=code, verify_url=self._certificates.verify_url(app.number, code),
        )
        seal = self._certificates.seal(certificate.sealed())
        return replace(certificate, seal_url=self._certificates.seal_url(seal))

    async def certificate(self, app: Application, issued_at: datetime) -> Certificate | None:
        """The certificate of an application whose result was given, read from the directory and the registry
        now (StateSystemUnavailable when they cannot answer: the delivery is tried again later)."""
        register = get_service(app.service).register
        if register is None:
            return None
        return await self._certificate(app, issued_at, await self._source(app.iin, register))

    async def certificate_for(self, number: str) -> Certificate | None:
        """For a delivery after a restart (or a PDF): the certificate of ``number`` if its result was given."""
        app = await self._apps.get(number)
        if app is None or app.status != "result_ready":
            return None
        return await self.certificate(app, self._clock.now())

    async def _add(self, app: Application, note: str | None = None) -> None:
        """A new application, its first stage and the stage's report, in the caller's unit."""
        await self._apps.add(app, note=note)
        await self._stages.stage(app.number, app.service, app.status, app.submitted_at, app.refusal_ground)

    async def _move(self, number: str, current: str, to: str, note: str | None = None,
                    refusal_ground: str | None = None) -> None:
        """Every status change of the bot's own applications goes through can_move, as the feed's do, and is
        reported to monitoring in the same unit."""
        if not can_move(current, to):
            raise ValueError(f"{number}: status cannot go from {current} to {to}")
        now = self._clock.now()
        await self._apps.set_status(number, to, now, note=note, refusal_ground=refusal_ground)
        if self._stages.on:
            app = await self._apps.get(number)
            assert app is not None
            await self._stages.stage(number, app.service, to, now, refusal_ground)

    # Questions the registry could not answer at once -----------------------------------------------------

    async def _ask_later(self, number: str) -> None:
        await self._questions.add(number, self._clock.now(), self._s.state_retry_base_seconds)

    async def answer_pending(self, number: str) -> str:
        """Ask again for a queued question: ``answered`` (the result is owed to the requester's chat, the
        subject of a consented request is told), ``closed`` (the application was decided otherwise, or someone
        else answered it). StateSystemUnavailable when it still cannot be answered."""
        app = await self._apps.get(number)
        register = get_service(app.service).register if app is not None else None
        if app is None or app.status != "accepted" or register is None:
            async with self._db.unit("registry/closed"):
                await self._questions.settle(number, "closed", self._clock.now())
            return "closed"
        source = await self._source(app.iin, register)  # outside the unit: no lock held while it is asked
        async with self._db.unit("registry/answered"):
            app = await self._apps.get(number)
            if app is None or app.status != "accepted":
                await self._questions.settle(number, "closed", self._clock.now())
                return "closed"
            if not await self._questions.settle(number, "answered", self._clock.now()):
                return "closed"
            await self._give_result(app, source)
            consent = await self._apps.consent(number) if app.third_party else None
            if consent is not None:
                await self._tell_subject_provided(app, consent, self._clock.now())
            if app.requester_user_id is not None:
                await self._telegram.owe(app.requester_user_id, REGISTRY_RESULT, {"number": number},
                                         label="registry_result")
            return "answered"

    async def tell_late(self, number: str) -> bool:
        """The due time passed with the question still open: the requester is told, once."""
        async with self._db.unit("registry/late"):
            if not await self._questions.mark_late_told(number, self._clock.now()):
                return False
            app = await self._apps.get(number)
            assert app is not None
            await self._notices.notify(LATE_NOTICE, {"number": number, "due": {"when": utc_iso(app.due_at)}},
                                       user_id=app.requester_user_id, iin=app.requester_iin or app.iin)
            return True

    # Third-party request --------------------------------------------------------------------------------

    async def submit_third_party(self, identity: Identity, user_id: int, service: str, subject_text: str,
                                 lang: Lang
                                 ) -> ConsentRequested | Refused | IinRefused | OwnIin | otp_.TooMany | DirectoryDown:
        try:
            subject_iin = parse_iin(subject_text)
        except InvalidIIN as exc:
            return IinRefused(exc.reason)
        if subject_iin == identity.iin:
            return OwnIin()
        get_service(service)
        try:  # asked before the unit takes the write lock; the directory down registers nothing
            subject = await self._directory.person(subject_iin)
        except StateSystemUnavailable as exc:
            log.warning("third-party request not registered: %s", exc)
            return DirectoryDown()
        requester = await self.requester_label(identity.iin)  # once, for the SMS and the offers in Telegram
        async with self._db.unit("consent/request"):
            now = self._clock.now()
            number = await new_number(self._apps, now)
            app = Application(
                number=number, service=service, iin=subject_iin, requester_iin=identity.iin,
                requester_user_id=user_id, channel="telegram", submitted_at=now,
                due_at=due_at(service, now, self._calendar), status="awaiting_consent", refusal_ground=None,
            )
            if subject is None or not subject.phone:
                # Consent cannot be asked for, so it is absent: the seeds' ground for refusal.
                refused = Application(**{**app.__dict__, "status": "refused", "refusal_ground": NO_CONSENT})
                await self._add(refused, note=NOTE_NO_PHONE)
                on_commit(self._db, lambda: self._metrics.refusal(NO_CONSENT, NOTE_NO_PHONE))
                return Refused(refused, NOTE_NO_PHONE)
            issued = await self._otps.issue(CONSENT, number, subject.phone)
            if isinstance(issued, otp_.TooMany):
                return issued  # nothing was registered and nothing sent
            assert isinstance(issued, otp_.Issued)  # a fresh number cannot be "too soon"
            await self._add(app)
            expires_at = now + timedelta(seconds=self._s.consent_ttl_seconds)
            consent = Consent(number, identity.iin, subject_iin, subject.phone, service, "pending", now, expires_at)
            await self._apps.add_consent(consent)
            await self._send_consent_request(app, consent, issued, lang, requester)
            await self._offer_in_subject_chats(app, consent, requester)
            return ConsentRequested(app, mask_phone(subject.phone), expires_at)

    async def requester_label(self, requester_iin: str) -> tuple[str, str]:
        """The requester as a data subject is told about them: masked name and masked IIN (the IIN alone when
        the directory cannot answer now: the message is not held back for a courtesy)."""
        try:
            requester = await self._directory.person(requester_iin)
        except StateSystemUnavailable:
            requester = None
        return (mask_name(requester.full_name) if requester else ""), mask_iin(requester_iin)

    async def _send_consent_request(self, app: Application, consent: Consent, issued: otp_.Issued,
                                    lang: Lang, requester: tuple[str, str] | None = None) -> None:
        name, iin = requester or await self.requester_label(consent.requester_iin)
        sms_lang = await self._sms.language_for(consent.subject_phone, consent.subject_iin, lang)
        text = self._texts(
            sms_lang, "sms.consent_request", name=name, iin=iin,
            register=self._texts(sms_lang, f"sms.register.{get_service(app.service).register}"), code=issued.code,
        )
        await self._sms.send(consent.subject_phone, text, kind="interactive",
                             expires_at=issued.expires_at.timestamp())

    async def _offer_in_subject_chats(self, app: Application, consent: Consent, requester: tuple[str, str]
                                      ) -> None:
        """The subject, if they use the bot, may also decide in their own chat (the seeds' personal cabinet):
        every chat linked to the subject's IIN is offered the request, verified right now or not (deciding
        asks for a fresh identity: decide_as_subject). Not the requester's own chat, even if it was once
        verified as the subject: the decision is the subject's. ``requester``: requester_label's answer."""
        name, iin = requester
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
                                ) -> Delivered | Accepted | Refused | NotPending | otp_.WrongCode | otp_.NoValidCode:
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

    async def give_consent(self, number: str, method: str, tell_subject: bool = True
                           ) -> Delivered | Accepted | None:
        """The subject consented elsewhere than the requester's chat (``sms``, ``cabinet``): record it for this
        one request; the requester is owed the result in their chat. ``tell_subject=False``: the caller's own
        reply to the subject says to whom and when the data went (one SMS, not two overlapping ones)."""
        async with self._db.unit("consent/give"):
            consent = await self._apps.consent(number)
            if consent is None:
                return None
            return await self._give(consent, method, tell_requester=True, tell_subject=tell_subject)

    async def decide_as_subject(self, identity: Identity | None, number: str, consents: bool
                                ) -> Delivered | Accepted | Refused | NotPending | NotAllowed:
        """The data subject pressed Consent / Decline in their own chat. Anyone but the identified subject
        gets NotAllowed, whether the request exists or not."""
        async with self._db.unit("consent/cabinet"):
            consent = await self._apps.consent(number) if identity is not None else None
            if identity is None or consent is None or consent.subject_iin != identity.iin:
                return NotAllowed()
            if consents:
                decided: Delivered | Accepted | Refused | None = await self._give(consent, "cabinet",
                                                                                   tell_requester=True)
            else:
                decided = await self._refuse(consent, "declined", NOTE_DECLINED, "cabinet", tell_requester=True)
            return decided or NotPending(await self._apps.get(number))

    async def _give(self, consent: Consent, method: str, tell_requester: bool, tell_subject: bool = True
                    ) -> Delivered | Accepted | None:
        """Consent given: the request is accepted, and its result given now — or, when the directory or the
        registry cannot answer, owed from the queue (the subject is told once it is given)."""
        now = self._clock.now()
        if consent.expires_at <= now:
            return None
        if not await self._apps.decide_consent(consent.number, "given", method, now):
            return None
        await self._otps.invalidate(CONSENT, consent.number)
        await self._move(consent.number, "awaiting_consent", "accepted", note=f"consent:{method}")
        app = await self._apps.get(consent.number)
        assert app is not None
        register = get_service(app.service).register
        assert register is not None, app.service
        source = await self._source_now(app.iin, register)
        on_commit(self._db, lambda: self._metrics.consent(method, "given"))
        if source is None:
            await self._ask_later(app.number)
            if tell_requester:
                await self._tell_requester(app, "pending")
            return Accepted(app)
        certificate = await self._give_result(app, source)
        app = await self._apps.get(consent.number)
        assert app is not None
        if tell_subject:
            await self._tell_subject_provided(app, consent, now)
        if tell_requester:
            await self._tell_requester(app, "given")
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
        payload = {"number": app.number, "outcome": outcome}
        if outcome == "pending":  # consent given, the result follows: by when it is due
            payload["due"] = utc_iso(app.due_at)
        await self._telegram.owe(app.requester_user_id, CONSENT_OUTCOME, payload, label=f"consent_{outcome}")
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
