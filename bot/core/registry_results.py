"""Registry results: given to the requester of an accepted request, rendered again for each delivery, and asked
again from the queue when the directory or the registry could not answer (bot/core/registry_info.py).

The certificate is made from what the outside systems answered (``Source``, bot/core/registry_sources.py) and
never stored; the store keeps that it was given, to whom and when, and its issue record (bot/core/certificates.py)
so that its verification code is the same each time it is rendered. A question the registry could not answer
waits in ``registry_questions``; bot/core/pending_results.py asks it again through ``answer_pending`` — the
systems asked first, then one unit that gives the result and owes it to the requester's chat.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bot.clock import Clock
from bot.config import Settings
from bot.core.application_steps import ApplicationSteps
from bot.core.certificates import CertificateService
from bot.core.notices import NoticeService
from bot.core.registry_info import DEFAULT_SOURCE_SYSTEM, LATE_NOTICE, Certificate, Source
from bot.core.registry_messages import RegistryMessages
from bot.core.registry_sources import Sources
from bot.domain.catalog import get_service
from bot.domain.model import Application
from bot.domain.verification import CodeFields
from store.applications import ApplicationRepository
from store.db import Database, utc_iso
from store.registry_questions import RegistryQuestionRepository


class ResultDelivery:
    def __init__(self, db: Database, apps: ApplicationRepository, steps: ApplicationSteps, sources: Sources,
                 questions: RegistryQuestionRepository, certificates: CertificateService, notices: NoticeService,
                 messages: RegistryMessages, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._apps = apps
        self._steps = steps
        self._sources = sources
        self._questions = questions
        self._certificates = certificates
        self._notices = notices
        self._messages = messages
        self._clock = clock
        self._s = settings

    # The result, in the deciding unit -------------------------------------------------------------------------

    async def give(self, app: Application, source: Source) -> Certificate:
        """Record that the result of an accepted application was delivered to its requester (inside the
        caller's unit); the certificate is made from ``source`` for this one delivery."""
        now = self._clock.now()
        await self._steps.move(app.number, app.status, "result_ready")
        await self._apps.record_delivery(app.number, app.requester_iin or app.iin, app.requester_user_id, now)
        certificate = await self._certificate(app, now, source)
        await self._certificates.record(app.number, app.iin, app.service, certificate.source_system,
                                        certificate.full_name, certificate.issued_at)
        return certificate

    async def ask_later(self, number: str) -> None:
        """The directory or the registry could not answer now: the question waits in the queue (caller's unit)."""
        await self._questions.add(number, self._clock.now(), self._s.state_retry_base_seconds)

    # Rendering ------------------------------------------------------------------------------------------------

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
        now (StateSystemUnavailable when they cannot answer: the delivery is tried again later). Outside any
        unit of work."""
        register = get_service(app.service).register
        if register is None:
            return None
        return await self._certificate(app, issued_at, await self._sources.source(app.iin, register))

    async def certificate_for(self, number: str) -> Certificate | None:
        """For a delivery after a restart (or a PDF): the certificate of ``number`` if its result was given."""
        app = await self._apps.get(number)
        if app is None or app.status != "result_ready":
            return None
        return await self.certificate(app, self._clock.now())

    # Questions the registry could not answer at once -----------------------------------------------------

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
        # Asked before the unit: no database lock is held while a system is slow.
        source = await self._sources.source(app.iin, register)
        consent = await self._apps.consent(number) if app.third_party else None
        requester = await self._sources.requester_label(consent.requester_iin) if consent is not None else None
        async with self._db.unit("registry/answered"):
            app = await self._apps.get(number)  # again: it may have been decided meanwhile
            if app is None or app.status != "accepted":
                await self._questions.settle(number, "closed", self._clock.now())
                return "closed"
            if not await self._questions.settle(number, "answered", self._clock.now()):
                return "closed"
            await self.give(app, source)
            if consent is not None and requester is not None:
                await self._messages.subject_provided(app, consent, self._clock.now(), requester)
            await self._messages.result_owed(app)
            return "answered"

    async def tell_late(self, number: str) -> bool:
        """The due time passed with the question still open: the requester is told, once."""
        known = await self._apps.get(number)
        reach = (await self._notices.reach(known.requester_iin or known.iin, known.requester_user_id)
                 if known is not None else None)  # before the unit begins
        async with self._db.unit("registry/late"):
            if not await self._questions.mark_late_told(number, self._clock.now()):
                return False
            app = await self._apps.get(number)
            assert app is not None
            await self._notices.notify(LATE_NOTICE, {"number": number, "due": {"when": utc_iso(app.due_at)}},
                                       user_id=app.requester_user_id, iin=app.requester_iin or app.iin, reach=reach)
            return True
