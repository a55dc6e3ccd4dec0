"""Another person's registry information: a third party's request and the data subject's decision on it.

The requester names the subject by IIN; the subject gets an SMS with a code (and an offer in their own chats,
if they use the bot) and consents by passing the code on to the requester, by SMS, or in their chat — or
declines, or lets the window run out, or the code is guessed wrong too often. Consent is bound to this one
request. Once given, the result is given in the same unit (bot/core/registry_results.py), or owed from the
queue when the directory or the registry cannot answer.

What the outside systems say for a consent (``Asked``: the subject's person and observation, the requester's
label) is asked before the deciding unit begins, and only for a decision that will give the data (a right code,
the subject's own Consent): the unit then reads the consent again and decides on what it finds.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from bot.clock import Clock
from bot.config import Settings
from bot.core import otp as otp_
from bot.core.application_steps import ApplicationSteps
from bot.core.identity import DirectoryDown, IinRefused
from bot.core.otp import OtpService
from bot.core.registry_info import (
    CONSENT,
    NO_CONSENT,
    NOTE_DECLINED,
    NOTE_EXPIRED,
    NOTE_NO_PHONE,
    NOTE_WRONG_CODE,
    Accepted,
    Asked,
    ConsentRequested,
    Delivered,
    NotAllowed,
    NotPending,
    OwnIin,
    Refused,
)
from bot.core.registry_messages import RegistryMessages
from bot.core.registry_results import ResultDelivery
from bot.core.registry_sources import Sources
from bot.domain import tags
from bot.domain.catalog import get_service
from bot.domain.iin import InvalidIIN, parse_iin
from bot.domain.model import Application, Consent, Identity
from bot.domain.phone import mask_phone
from bot.gateways.state_systems import StateSystemUnavailable
from bot.i18n import Lang
from bot.metrics import Metrics, on_commit
from store.applications import ApplicationRepository
from store.db import Database

log = logging.getLogger(__name__)

# The systems were not asked (the code checked right only inside the unit): a consent given then is answered
# from the queue, as when they do not answer.
NOT_ASKED = Asked(None, ("", ""))


class ConsentService:
    def __init__(self, db: Database, apps: ApplicationRepository, steps: ApplicationSteps, sources: Sources,
                 results: ResultDelivery, otps: OtpService, messages: RegistryMessages, clock: Clock,
                 settings: Settings, metrics: Metrics | None = None) -> None:
        self._db = db
        self._apps = apps
        self._steps = steps
        self._sources = sources
        self._results = results
        self._otps = otps
        self._messages = messages
        self._clock = clock
        self._s = settings
        self._metrics = metrics or Metrics()
        self._tag_key = settings.resolved_secret_key()

    # The request ----------------------------------------------------------------------------------------

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
        try:  # asked before the unit begins; the directory down registers nothing
            subject = await self._sources.person(subject_iin)
        except StateSystemUnavailable as exc:
            log.warning("third-party request not registered: %s", exc)
            return DirectoryDown()
        requester = await self._sources.requester_label(identity.iin)  # once, for the SMS and the offers
        async with self._db.unit("consent/request"):
            app = await self._steps.new(service, subject_iin, identity.iin, user_id, "awaiting_consent")
            if subject is None or not subject.phone:
                # Consent cannot be asked for, so it is absent: the seeds' ground for refusal.
                refused = replace(app, status="refused", refusal_ground=NO_CONSENT)
                await self._steps.add(refused, note=NOTE_NO_PHONE)
                on_commit(self._db, lambda: self._metrics.refusal(NO_CONSENT, NOTE_NO_PHONE))
                return Refused(refused, NOTE_NO_PHONE)
            issued = await self._otps.issue(CONSENT, app.number, subject.phone)
            if isinstance(issued, otp_.TooMany):
                return issued  # nothing was registered and nothing sent
            assert isinstance(issued, otp_.Issued)  # a fresh number cannot be "too soon"
            await self._steps.add(app)
            expires_at = app.submitted_at + timedelta(seconds=self._s.consent_ttl_seconds)
            consent = Consent(app.number, identity.iin, subject_iin, subject.phone, service, "pending",
                              app.submitted_at, expires_at)
            await self._apps.add_consent(consent)
            await self._messages.consent_request(app, consent, issued, lang, requester)
            await self._messages.offer_in_subject_chats(app, consent, requester)
            return ConsentRequested(app, mask_phone(subject.phone), expires_at)

    async def requester_label(self, requester_iin: str) -> tuple[str, str]:
        """The requester as a data subject is told about them (masked name and IIN); outside any unit."""
        return await self._sources.requester_label(requester_iin)

    def offer_tag(self, number: str, chat_id: int) -> str:
        """The tag the Consent / Decline buttons of an offer carry: it proves that this chat was offered this
        request (a chat that was not gets exactly the answer to a made-up button)."""
        return tags.tag(self._tag_key, "consent-offer", number, chat_id)

    def offered(self, number: str, chat_id: int, tag: str) -> bool:
        return bool(tag) and tags.valid(self._tag_key, tag, "consent-offer", number, chat_id)

    async def resend_consent_code(self, identity: Identity, user_id: int, number: str, lang: Lang
                                  ) -> ConsentRequested | NotPending | otp_.TooSoon | otp_.TooMany:
        consent, app = await self._open_consent(identity, user_id, number)
        if consent is None or app is None:
            return NotPending(app)
        requester = await self._sources.requester_label(consent.requester_iin)  # before the unit begins
        async with self._db.unit("consent/resend"):
            consent, app = await self._open_consent(identity, user_id, number)  # again: it may have ended
            if consent is None or app is None:
                return NotPending(app)
            issued = await self._otps.issue(CONSENT, number, consent.subject_phone)
            if not isinstance(issued, otp_.Issued):
                return issued
            await self._messages.consent_request(app, consent, issued, lang, requester)
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

    # The decision ----------------------------------------------------------------------------------------

    async def ask(self, consent: Consent) -> Asked:
        """What a consent given to this request needs from outside (before the deciding unit begins)."""
        if consent.status != "pending" or consent.expires_at <= self._clock.now():
            return NOT_ASKED  # it will not be given: nothing to ask
        app = await self._apps.get(consent.number)
        if app is None:
            return NOT_ASKED
        return await self._sources.for_consent(app)

    async def ask_as_subject(self, iin: str, number: str) -> Asked:
        """``ask`` for the subject ``iin`` about to decide on ``number`` in their chat (identification first, in
        the same update: asked ahead of its first write). Nothing is asked for anyone but the subject."""
        consent = await self._apps.consent(number)
        return await self.ask(consent) if consent is not None and consent.subject_iin == iin else NOT_ASKED

    async def confirm_with_code(self, identity: Identity, user_id: int, number: str, code: str
                                ) -> Delivered | Accepted | Refused | NotPending | otp_.WrongCode | otp_.NoValidCode:
        """The requester types the code the subject passed on (the result goes back in the same turn)."""
        consent, app = await self._open_consent(identity, user_id, number)
        if consent is None or app is None:
            return NotPending(app)
        # Only a right code makes the systems be asked (read only: nothing is counted yet).
        asked = await self.ask(consent) if await self._otps.matches(CONSENT, number, code) else NOT_ASKED
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
            return await self._give(consent, "otp", asked, tell_requester=False) or NotPending(app)

    async def give_consent(self, number: str, method: str, asked: Asked | None = None, tell_subject: bool = True
                           ) -> Delivered | Accepted | None:
        """The subject consented elsewhere than the requester's chat (``sms``, ``cabinet``): record it for this
        one request; the requester is owed the result in their chat. ``asked``: what the systems said, asked by
        the caller before its unit began (None: asked here, so call it outside a begun unit).
        ``tell_subject=False``: the caller's own reply to the subject says to whom and when the data went (one
        SMS, not two overlapping ones)."""
        if asked is None:
            consent = await self._apps.consent(number)
            asked = await self.ask(consent) if consent is not None else NOT_ASKED
        async with self._db.unit("consent/give"):
            consent = await self._apps.consent(number)
            if consent is None:
                return None
            return await self._give(consent, method, asked, tell_requester=True, tell_subject=tell_subject)

    async def decide_as_subject(self, identity: Identity | None, number: str, consents: bool,
                                asked: Asked | None = None
                                ) -> Delivered | Accepted | Refused | NotPending | NotAllowed:
        """The data subject pressed Consent / Decline in their own chat. Anyone but the identified subject
        gets NotAllowed, whether the request exists or not. ``asked``: ask_as_subject's answer, asked ahead."""
        consent = await self._apps.consent(number) if identity is not None else None
        if identity is None or consent is None or consent.subject_iin != identity.iin:
            return NotAllowed()
        if not consents:
            asked = NOT_ASKED
        elif asked is None:
            asked = await self.ask(consent)
        async with self._db.unit("consent/cabinet"):
            consent = await self._apps.consent(number)  # again: it may have been decided meanwhile
            assert consent is not None
            if consents:
                decided: Delivered | Accepted | Refused | None = await self._give(consent, "cabinet", asked,
                                                                                   tell_requester=True)
            else:
                decided = await self._refuse(consent, "declined", NOTE_DECLINED, "cabinet", tell_requester=True)
            return decided or NotPending(await self._apps.get(number))

    async def _give(self, consent: Consent, method: str, asked: Asked, tell_requester: bool,
                    tell_subject: bool = True) -> Delivered | Accepted | None:
        """Consent given: the request is accepted, and its result given now from what was asked — or, when
        the directory or the registry could not answer, owed from the queue (the subject is told once it is
        given)."""
        now = self._clock.now()
        if consent.expires_at <= now:
            return None
        if not await self._apps.decide_consent(consent.number, "given", method, now):
            return None
        await self._otps.invalidate(CONSENT, consent.number)
        await self._steps.move(consent.number, "awaiting_consent", "accepted", note=f"consent:{method}")
        app = await self._apps.get(consent.number)
        assert app is not None
        on_commit(self._db, lambda: self._metrics.consent(method, "given"))
        if asked.source is None:
            await self._results.ask_later(app.number)
            if tell_requester:
                await self._messages.requester_told(app, "pending")
            return Accepted(app)
        certificate = await self._results.give(app, asked.source)
        app = await self._apps.get(consent.number)
        assert app is not None
        if tell_subject:
            await self._messages.subject_provided(app, consent, now, asked.requester)
        if tell_requester:
            await self._messages.requester_told(app, "given")
        return Delivered(app, certificate)

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
        await self._steps.move(consent.number, "awaiting_consent", "refused", note=note, refusal_ground=NO_CONSENT)
        app = await self._apps.get(consent.number)
        assert app is not None
        if tell_requester:
            await self._messages.requester_told(app, note)
        outcome_way = way or method or "other"

        def count() -> None:
            self._metrics.consent(outcome_way, consent_status)
            self._metrics.refusal(NO_CONSENT, note)

        on_commit(self._db, count)
        return Refused(app, note)
