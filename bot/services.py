"""Wiring: one object that holds the database, the gateways and the use cases both channels call."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from bot.clock import Clock
from bot.config import Settings
from bot.core.applications import TrackingService
from bot.core.broadcast import BroadcastService
from bot.core.complaints import ComplaintService
from bot.core.identity import IdentityService
from bot.core.notices import NoticeService
from bot.core.otp import OtpService
from bot.core.registry_info import RegistryInfoService
from bot.core.sms import SmsService
from bot.core.sms_inbound import SmsInboundService
from bot.core.staff import StaffService
from bot.core.status_feed import StatusFeed
from bot.domain.calendar import WorkingCalendar
from bot.gateways.sms import HttpSmsGateway, PrintingSmsGateway, SmsGateway
from bot.i18n import Texts, texts
from store import db
from store.applications import ApplicationRepository
from store.audit import AuditRepository
from store.broadcasts import BroadcastRepository
from store.citizens import CitizenRepository
from store.complaints import ComplaintRepository
from store.notices import NoticeRepository
from store.otps import OtpRepository
from store.sms_inbound import InboundIdRepository, SmsPhoneRepository
from store.sms_outbox import SmsOutboxRepository
from store.staff import StaffRepository
from store.status_feed import StatusEventRepository
from store.subscriptions import SubscriptionRepository
from store.users import UserRepository


@dataclass
class Services:
    settings: Settings
    conn: aiosqlite.Connection
    clock: Clock
    texts: Texts
    calendar: WorkingCalendar
    sms_gateway: SmsGateway
    users: UserRepository
    citizens: CitizenRepository
    apps: ApplicationRepository
    outbox: SmsOutboxRepository
    sms: SmsService
    identity: IdentityService
    registry_info: RegistryInfoService
    tracking: TrackingService
    otps: OtpService
    sms_phones: SmsPhoneRepository
    inbound_ids: InboundIdRepository
    sms_inbound: SmsInboundService
    notices: NoticeService
    subscriptions: SubscriptionRepository
    staff: StaffService
    broadcasts: BroadcastService
    complaints: ComplaintService
    feed: StatusFeed

    @classmethod
    async def open(cls, settings: Settings, clock: Clock | None = None,
                   sms_gateway: SmsGateway | None = None) -> "Services":
        clock = clock or Clock()
        conn = await db.connect(settings.database)
        try:
            return cls._wire(settings, clock, conn, sms_gateway)
        except BaseException:
            await conn.close()  # a half-built Services must not leave the database open
            raise

    @classmethod
    def _wire(cls, settings: Settings, clock: Clock, conn: aiosqlite.Connection,
              sms_gateway: SmsGateway | None) -> "Services":
        if sms_gateway is None:
            sms_gateway = (HttpSmsGateway(settings.sms_gateway_url, settings.sms_gateway_timeout_seconds)
                           if settings.sms_gateway_url else PrintingSmsGateway())
        calendar = WorkingCalendar.from_file(settings.calendar_overrides)
        the_texts = texts()
        users = UserRepository(conn)
        citizens = CitizenRepository(conn)
        apps = ApplicationRepository(conn)
        outbox = SmsOutboxRepository(conn)
        otps = OtpService(OtpRepository(conn), settings.resolved_secret_key(), clock, settings)
        sms_phones = SmsPhoneRepository(conn)
        sms = SmsService(outbox, sms_gateway, clock, settings, sms_phones)
        registry_info = RegistryInfoService(apps, citizens, users, otps, sms, the_texts, clock, settings, calendar)
        subscriptions = SubscriptionRepository(conn)
        staff = StaffService(StaffRepository(conn), AuditRepository(conn), apps, calendar, clock)
        notices = NoticeService(NoticeRepository(conn), users, citizens, sms, sms_phones, the_texts, clock)
        tracking = TrackingService(apps)
        complaint_repo = ComplaintRepository(conn)
        return cls(
            settings=settings, conn=conn, clock=clock, texts=the_texts, calendar=calendar,
            sms_gateway=sms_gateway, users=users, citizens=citizens, apps=apps, outbox=outbox, sms=sms,
            identity=IdentityService(users, citizens, otps, sms, the_texts, clock, settings),
            registry_info=registry_info,
            tracking=tracking,
            otps=otps, sms_phones=sms_phones, inbound_ids=InboundIdRepository(conn),
            sms_inbound=SmsInboundService(apps, citizens, otps, registry_info, sms_phones, clock, complaint_repo),
            notices=notices,
            subscriptions=subscriptions, staff=staff,
            broadcasts=BroadcastService(BroadcastRepository(conn), subscriptions, staff, clock, settings),
            complaints=ComplaintService(complaint_repo, citizens, tracking, staff, notices, calendar,
                                        clock),
            feed=StatusFeed(apps, StatusEventRepository(conn), notices, calendar, clock),
        )

    async def close(self) -> None:
        await self.broadcasts.stop_worker()
        await self.sms.stop_worker()
        close = getattr(self.sms_gateway, "close", None)
        if close is not None:
            await close()
        await self.conn.close()
