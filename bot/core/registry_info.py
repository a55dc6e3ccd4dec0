"""Registry information (S1–S3): a citizen's own, or another person's with that person's consent.

No registry information leaves the system unless the requester's identity is verified (own request) or the
subject consented to this very request (third party). Results are shown, never stored: the store keeps
only that a result was delivered, to whom and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.config import Settings
from bot.core import otp as otp_
from bot.core.applications import new_number
from bot.core.identity import IinRefused
from bot.core.otp import OtpService
from bot.core.sms import SmsService
from bot.domain.calendar import ALMATY, WorkingCalendar
from bot.domain.catalog import get_service
from bot.domain.deadlines import due_at
from bot.domain.iin import InvalidIIN, mask_iin, parse_iin
from bot.domain.names import mask_name
from bot.domain.phone import mask_phone
from bot.i18n import Lang, Texts, as_lang
from store.applications import Application, ApplicationRepository, Consent
from store.citizens import CitizenRepository
from store.users import Identity, UserRepository

CONSENT = "consent"
NO_CONSENT = "no_consent"  # the seeds' only refusal ground: absence of the subject's consent

# The information systems that answer for each register when a seed record does not name one.
DEFAULT_SOURCE_SYSTEM = {"tb": "Фтизиатрия", "psychiatry": "Психиатрия", "narcology": "Наркология"}


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


@dataclass(frozen=True)
class ConsentRequested:
    app: Application
    masked_phone: str
    expires_at: datetime
    subject_user_ids: list[int]  # the subject's own chats with the bot, for the personal-cabinet path


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


class RegistryInfoService:
    def __init__(self, apps: ApplicationRepository, citizens: CitizenRepository, users: UserRepository,
                 otps: OtpService, sms: SmsService, texts: Texts, clock: Clock, settings: Settings,
                 calendar: WorkingCalendar) -> None:
        self._apps = apps
        self._citizens = citizens
        self._users = users
        self._otps = otps
        self._sms = sms
        self._texts = texts
        self._clock = clock
        self._s = settings
        self._calendar = calendar

    # Own request ----------------------------------------------------------------------------------------

    async def submit_own(self, identity: Identity, user_id: int, service: str) -> Application:
        """Register the request; the channel acknowledges it with the due time before the result."""
        get_service(service)
        now = self._clock.now()
        app = Application(
            number=await new_number(self._apps, now), service=service, iin=identity.iin,
            requester_iin=identity.iin, requester_user_id=user_id, channel="telegram", submitted_at=now,
            due_at=due_at(service, now, self._calendar), status="accepted", refusal_ground=None,
        )
        await self._apps.add(app)
        return app

    async def issue_result(self, app: Application, recipient_iin: str, user_id: int | None) -> Certificate:
        """Consult the registry for an accepted application and record that the result was delivered."""
        register = get_service(app.service).register
        assert register is not None, "only S1–S3 have a registry result"
        citizen = await self._citizens.get(app.iin)
        record = await self._citizens.record(app.iin, register)
        now = self._clock.now()
        certificate = Certificate(
            number=app.number, service=app.service, issued_at=now,
            full_name=citizen.full_name if citizen else "", birth_date=citizen.birth_date if citizen else "",
            address=citizen.address if citizen else "", observed=bool(record and record.observed),
            source_system=record.source_system if record else DEFAULT_SOURCE_SYSTEM[register],
        )
        await self._apps.set_status(app.number, "result_ready", now)
        await self._apps.record_delivery(app.number, recipient_iin, user_id, now)
        return certificate

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
            await self._apps.add(refused, note="no_phone")
            return Refused(refused, "no_phone")
        issued = await self._otps.issue(CONSENT, number, subject.phone)
        if isinstance(issued, otp_.TooMany):
            return issued  # nothing was registered and nothing sent
        assert isinstance(issued, otp_.Issued)  # a fresh number cannot be "too soon"
        await self._apps.add(app)
        expires_at = now + timedelta(seconds=self._s.consent_ttl_seconds)
        await self._apps.add_consent(Consent(number, identity.iin, subject_iin, subject.phone, service, "pending",
                                             now, expires_at))
        await self._send_consent_request(app, identity, subject.phone, issued.code, lang)
        return ConsentRequested(app, mask_phone(subject.phone), expires_at,
                                await self._users.user_ids_for_iin(subject_iin))

    async def _subject_lang(self, subject_iin: str, fallback: Lang) -> Lang:
        for user_id in await self._users.user_ids_for_iin(subject_iin):
            lang = await self._users.language(user_id)
            if lang:
                return as_lang(lang)
        return fallback

    async def _send_consent_request(self, app: Application, requester: Identity, phone: str, code: str,
                                    lang: Lang) -> None:
        requester_citizen = await self._citizens.get(requester.iin)
        sms_lang = await self._subject_lang(app.iin, lang)
        text = self._texts(
            sms_lang, "sms.consent_request",
            name=mask_name(requester_citizen.full_name) if requester_citizen else "",
            iin=mask_iin(requester.iin),
            register=self._texts(sms_lang, f"sms.register.{get_service(app.service).register}"),
            code=code,
        )
        await self._sms.send(phone, text, kind="interactive")

    async def resend_consent_code(self, identity: Identity, user_id: int, number: str, lang: Lang
                                  ) -> ConsentRequested | NotPending | otp_.TooSoon | otp_.TooMany:
        consent, app = await self._open_consent(identity, user_id, number)
        if consent is None or app is None:
            return NotPending(app)
        issued = await self._otps.issue(CONSENT, number, consent.subject_phone)
        if not isinstance(issued, otp_.Issued):
            return issued
        await self._send_consent_request(app, identity, consent.subject_phone, issued.code, lang)
        return ConsentRequested(app, mask_phone(consent.subject_phone), consent.expires_at, [])

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
        """The requester types the code the subject passed on."""
        consent, app = await self._open_consent(identity, user_id, number)
        if consent is None or app is None:
            return NotPending(app)
        result = await self._otps.verify(CONSENT, number, code)
        if isinstance(result, otp_.WrongCode):
            return result
        if isinstance(result, otp_.NoValidCode):
            if result.reason == "locked":
                return await self.end_after_wrong_codes(consent) or NotPending(app)
            return NotPending(app) if result.reason == "none" else result
        return await self.give_consent(number, method="otp") or NotPending(app)

    async def give_consent(self, number: str, method: str) -> Delivered | None:
        """Record consent for this one request and issue the result to the requester."""
        now = self._clock.now()
        consent = await self._apps.consent(number)
        if consent is None or consent.expires_at <= now:
            return None
        if not await self._apps.decide_consent(number, "given", method, now):
            return None
        await self._otps.invalidate(CONSENT, number)
        await self._apps.set_status(number, "accepted", now, note=f"consent:{method}")
        app = await self._apps.get(number)
        assert app is not None
        certificate = await self.issue_result(app, consent.requester_iin, app.requester_user_id)
        await self._tell_subject_provided(app, consent, now)
        return Delivered(app, certificate)

    async def _tell_subject_provided(self, app: Application, consent: Consent, now: datetime) -> None:
        requester = await self._citizens.get(consent.requester_iin)
        requester_lang = (await self._users.language(app.requester_user_id)) if app.requester_user_id else None
        lang = await self._subject_lang(consent.subject_iin, as_lang(requester_lang))
        text = self._texts(
            lang, "sms.data_provided",
            register=self._texts(lang, f"sms.register.{get_service(app.service).register}"),
            name=mask_name(requester.full_name) if requester else "",
            iin=mask_iin(consent.requester_iin),
            when=now.astimezone(ALMATY).strftime("%d.%m.%Y %H:%M"),
        )
        await self._sms.send(consent.subject_phone, text, kind="notice")

    async def end_after_wrong_codes(self, consent: Consent) -> Refused | None:
        """Too many wrong codes end the request, whichever channel they were typed in."""
        return await self._refuse(consent, "failed", "wrong_code")

    async def decline(self, number: str, method: str) -> Refused | None:
        consent = await self._apps.consent(number)
        if consent is None:
            return None
        return await self._refuse(consent, "declined", "declined", method)

    async def expire_due(self) -> list[Refused]:
        """Refuse every request whose consent window ran out (run periodically; survives restarts)."""
        refused = []
        for consent in await self._apps.expired_consents(self._clock.now()):
            result = await self._refuse(consent, "expired", "expired")
            if result:
                refused.append(result)
        return refused

    async def _refuse(self, consent: Consent, consent_status: str, note: str, method: str | None = None
                      ) -> Refused | None:
        now = self._clock.now()
        if not await self._apps.decide_consent(consent.number, consent_status, method, now):
            return None
        await self._otps.invalidate(CONSENT, consent.number)
        await self._apps.set_status(consent.number, "refused", now, note=note, refusal_ground=NO_CONSENT)
        app = await self._apps.get(consent.number)
        assert app is not None
        return Refused(app, note)

