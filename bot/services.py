"""Wiring: one object that holds the database, the gateways and the use cases both channels call.

Handlers reach the core only through the use-case services here; repositories stay inside the core.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.clock import Clock
from bot.config import Settings
from bot.core.application_steps import ApplicationSteps
from bot.core.applications import TrackingService
from bot.core.broadcast import BroadcastService
from bot.core.certificate_shares import ShareService
from bot.core.certificates import CertificateService
from bot.core.complaints import ComplaintService
from bot.core.consent import ConsentService
from bot.core.conversation import ConversationService
from bot.core.health import HealthService
from bot.core.identity import IdentityService
from bot.core.notices import NoticeService
from bot.core.otp import OtpService
from bot.core.outbox import TelegramOutbox
from bot.core.outbox_worker import OutboxWorker
from bot.core.pending_results import PendingResults
from bot.core.registry_messages import RegistryMessages
from bot.core.registry_own import OwnRequestService
from bot.core.registry_results import ResultDelivery
from bot.core.registry_sources import Sources
from bot.core.seed import Seed, load_seed
from bot.core.sms_inbound import SmsInboundService
from bot.core.sms_parts import SmsParts
from bot.core.sms_sending import SmsService
from bot.core.staff import StaffService
from bot.core.stages import StageReports
from bot.core.state_outbox import StateOutbox
from bot.core.status_feed import StatusFeed
from bot.core.subject_requests import SubjectRequestsService
from bot.core.subscriptions import SubscriptionService
from bot.core.sweep import Sweep
from bot.core.worker import Job
from bot.domain.calendar import WorkingCalendar
from bot.gateways.issuer import Issuer
from bot.gateways.smpp_gateway import smpp_gateway
from bot.gateways.sms_gateway import HttpSmsGateway, PrintingSmsGateway, SmsGateway
from bot.gateways.state_selection import StateSystems, state_systems
from bot.i18n import Texts, texts
from bot.metrics import Metrics
from store.applications import ApplicationRepository
from store.audit import AuditRepository
from store.broadcasts import BroadcastRepository
from store.certificates import CertificateRepository
from store.citizens import CitizenRepository
from store.complaints import ComplaintRepository
from store.db import Database
from store.opening import open_database
from store.otps import OtpRepository
from store.outbox_depth import OutboxDepthRepository
from store.registry_questions import RegistryQuestionRepository
from store.sms_inbound import InboundIdRepository, SmsPhoneRepository
from store.sms_outbox import SmsOutboxRepository
from store.sms_parts import SmsPartRepository
from store.staff import StaffRepository
from store.state_outbox import StateOutboxRepository
from store.status_feed import StatusEventRepository
from store.subject_requests import SubjectRequestRepository
from store.subscriptions import SubscriptionRepository
from store.telegram_outbox import TelegramOutboxRepository
from store.telegram_updates import HandledUpdateRepository
from store.turn_close import TurnCloseRepository
from store.users import UserRepository


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    texts: Texts
    calendar: WorkingCalendar
    sms_gateway: SmsGateway
    conversation: ConversationService
    telegram_outbox: TelegramOutbox
    telegram_worker: OutboxWorker  # the Telegram outbox's job (the channel says how to deliver)
    sms: SmsService
    sms_parts: SmsParts            # receipts that name an SMSC's id of a part (SMPP)
    identity: IdentityService
    own_requests: OwnRequestService  # registry information: a citizen's own
    consents: ConsentService         # ... another person's, with their consent
    results: ResultDelivery          # ... the result given, rendered again, asked again from the queue
    tracking: TrackingService
    otps: OtpService
    sms_inbound: SmsInboundService
    notices: NoticeService
    subscriptions: SubscriptionService
    staff: StaffService
    broadcasts: BroadcastService
    complaints: ComplaintService
    feed: StatusFeed
    metrics: Metrics  # this process's counters (GET /metrics); one registry per Services
    health: HealthService
    subject_requests: SubjectRequestsService
    certificates: CertificateService
    shares: ShareService           # the holders' share links of their certificates
    issuer: Issuer                 # the issuing key: PDF signatures, the QR's signed payload, the published key
    state: StateSystems            # the directory, registries, monitoring and complaints intake in use
    state_outbox: StateOutbox      # stages and complaints posted to the state systems
    pending_results: PendingResults  # registry questions asked again until answered
    sweep: Sweep                   # the periodic sweep (expired consents, old update marks)
    _citizens: CitizenRepository
    _apps: ApplicationRepository

    @classmethod
    async def open(cls, settings: Settings, clock: Clock | None = None,
                   sms_gateway: SmsGateway | None = None, migrate: bool = True) -> Services:
        """``migrate``: bring the schema up to date first; otherwise refuse a database whose schema is not the
        code's (store.db.SchemaMismatch: ``qyzmet migrate`` applies migrations, once per rollout)."""
        clock = clock or Clock()
        db = await open_database(settings.database, migrate=migrate, pool_size=settings.database_pool_size)
        try:
            return cls._wire(settings, clock, db, sms_gateway)
        except BaseException:
            await db.close()  # a half-built Services must not leave the database open
            raise

    @classmethod
    def _wire(cls, settings: Settings, clock: Clock, db: Database, sms_gateway: SmsGateway | None) -> Services:
        if sms_gateway is None and settings.sms_gateway == "smpp":
            sms_gateway = smpp_gateway(settings)
        elif sms_gateway is None:
            sms_gateway = (HttpSmsGateway(settings.sms_gateway_url, settings.sms_gateway_timeout_seconds)
                           if settings.sms_gateway_url else PrintingSmsGateway())
        calendar = WorkingCalendar.from_file(settings.calendar_overrides)
        the_texts = texts()
        metrics = Metrics()
        users = UserRepository(db)
        citizens = CitizenRepository(db)
        state = state_systems(settings, citizens, clock)  # HTTP where a QYZMET_*_URL is set, else embedded
        state_outbox = StateOutbox(db, StateOutboxRepository(db), clock, settings)
        apps = ApplicationRepository(db)
        subscription_repo = SubscriptionRepository(db)
        key = settings.resolved_secret_key()  # once: for an in-memory database each call makes a new one
        otps = OtpService(db, OtpRepository(db), key, clock, settings, metrics)
        sms_phones = SmsPhoneRepository(db)
        outbox = SmsOutboxRepository(db)
        sms = SmsService(db, outbox, sms_gateway, clock, settings, sms_phones, users, metrics)
        telegram_repo = TelegramOutboxRepository(db)
        telegram = TelegramOutbox(db, telegram_repo, clock, metrics)
        handled = HandledUpdateRepository(db)
        conversation = ConversationService(db, users, handled, TurnCloseRepository(db, handled, users, telegram_repo),
                                           clock)
        notices = NoticeService(db, telegram, users, state.directory, sms, the_texts)
        issuer = Issuer.from_settings(settings, key)
        certificate_repo = CertificateRepository(db)
        certificates = CertificateService(db, certificate_repo, apps, notices, telegram, clock, key, settings, issuer)
        questions = RegistryQuestionRepository(db)
        steps = ApplicationSteps(apps, StageReports(state_outbox, state.monitoring), clock, calendar)
        sources = Sources(state.directory, state.registries)
        messages = RegistryMessages(sms, telegram, users, conversation, the_texts)
        results = ResultDelivery(db, apps, steps, sources, questions, certificates, notices, messages, clock, settings)
        consents = ConsentService(db, apps, steps, sources, results, otps, messages, clock, settings, metrics)
        staff = StaffService(db, StaffRepository(db), AuditRepository(db), apps, calendar, clock)
        tracking = TrackingService(apps, calendar, clock)
        complaint_repo = ComplaintRepository(db)
        return cls(
            settings=settings, db=db, clock=clock, texts=the_texts, calendar=calendar, sms_gateway=sms_gateway,
            conversation=conversation, telegram_outbox=telegram, sms=sms,
            telegram_worker=OutboxWorker(telegram, clock, settings),
            sms_parts=SmsParts(db, SmsPartRepository(db), outbox, sms),
            identity=IdentityService(db, users, state.directory, otps, sms, the_texts, clock, settings),
            own_requests=OwnRequestService(db, steps, sources, results), consents=consents, results=results,
            tracking=tracking, otps=otps,
            sms_inbound=SmsInboundService(db, apps, state.directory, otps, consents, sms_phones,
                                          InboundIdRepository(db), clock, complaint_repo),
            notices=notices,
            subscriptions=SubscriptionService(db, subscription_repo, users, clock),
            staff=staff,
            broadcasts=BroadcastService(db, BroadcastRepository(db), subscription_repo, staff, clock, settings,
                                        metrics),
            complaints=ComplaintService(db, complaint_repo, state.directory, tracking, staff, notices, calendar, clock,
                                        state_outbox, state.complaints),
            feed=StatusFeed(db, apps, StatusEventRepository(db, apps), notices, calendar, clock),
            metrics=metrics, health=HealthService(db, OutboxDepthRepository(db), clock),
            subject_requests=SubjectRequestsService(SubjectRequestRepository(db), consents, clock),
            certificates=certificates,
            shares=ShareService(db, certificate_repo, apps, certificates, results, notices, clock, key),
            issuer=issuer,
            state=state, state_outbox=state_outbox,
            pending_results=PendingResults(db, questions, results, clock, settings),
            sweep=Sweep(consents, conversation, settings),
            _citizens=citizens, _apps=apps,
        )

    async def load_seed(self, seed: Seed, progress: Callable[[], None] | None = None) -> dict[str, int]:
        """``qyzmet seed`` and the demo: the directory, registries and applications, in one unit of work;
        ``progress`` is called once per record."""
        async with self.db.unit("seed"):
            return await load_seed(seed, self._citizens, self._apps, self.calendar, progress)

    def jobs(self) -> list[Job]:
        """The background jobs of the core, for the worker (bot/core/worker.py); the Telegram outbox's and the
        broadcasts' run once their channel has given them a way to deliver."""
        return [self.sms.job, self.pending_results.job, self.state_outbox.job, self.telegram_worker.job,
                self.broadcasts.job, self.sweep.job]

    async def close(self) -> None:
        for job in self.jobs():
            await job.stop()  # started by the runner, which stops them first: nothing left running then
        await self.state.close()
        close = getattr(self.sms_gateway, "close", None)
        if close is not None:
            await close()
        await self.db.close()


class TelegramServices(Protocol):
    """What the Telegram channel's handlers may call (handlers/telegram/: Turn.services, the menus, the console,
    delivery): the use cases they translate to and from, and the settings, clock, texts and calendar they answer
    with. Not the database, the gateways, the SMS side or the state systems' workers: those the process shell
    wires and runs. ``Services`` is one (structurally); only the turn machinery that opens an update's unit of
    work (handlers/telegram/turn.py ``run_update``) and the Application's builder hold the whole container.

    The SMS commands handler and the HTTP routes need no such facade: they are given the two or three services
    they use, one by one (bot/app/http_server.py)."""
    settings: Settings
    clock: Clock
    texts: Texts
    calendar: WorkingCalendar
    metrics: Metrics
    conversation: ConversationService
    telegram_outbox: TelegramOutbox
    telegram_worker: OutboxWorker  # a turn's own envelope is delivered under the outbox job's lease
    identity: IdentityService
    own_requests: OwnRequestService
    consents: ConsentService
    results: ResultDelivery
    tracking: TrackingService
    notices: NoticeService
    subscriptions: SubscriptionService
    staff: StaffService
    broadcasts: BroadcastService
    complaints: ComplaintService
    feed: StatusFeed
    subject_requests: SubjectRequestsService
    certificates: CertificateService
    shares: ShareService
    issuer: Issuer
