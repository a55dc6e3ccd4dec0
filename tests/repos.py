"""The store as a test reads it: the repositories over a running bot's database, for checking state.

The bot's own code reaches the store only through its use cases (bot/services.py); a test looks straight
at the tables to check what a flow left behind, and writes test data inside a unit of work (``db.unit``).
"""

from __future__ import annotations

from bot.services import Services
from store.applications import ApplicationRepository
from store.audit import AuditRepository
from store.citizens import CitizenRepository
from store.sms_inbound import SmsPhoneRepository
from store.sms_outbox import SmsOutboxRepository
from store.telegram_outbox import TelegramOutboxRepository
from store.users import UserRepository


class Repos:
    def __init__(self, services: Services) -> None:
        db = self.db = services.db
        self.apps = ApplicationRepository(db)
        self.users = UserRepository(db)
        self.citizens = CitizenRepository(db)
        self.outbox = SmsOutboxRepository(db)
        self.sms_phones = SmsPhoneRepository(db)
        self.telegram = TelegramOutboxRepository(db)
        self.audit = AuditRepository(db)


def repos(services: Services | None) -> Repos:
    assert services is not None
    return Repos(services)


async def send_sms(services: Services | None, *args: object, **kwargs: object) -> str:
    """An SMS owed by a test's own unit of work (the bot's use cases write theirs in their own)."""
    assert services is not None
    async with services.db.unit("test/sms"):
        return await services.sms.send(*args, **kwargs)  # type: ignore[arg-type]


async def notify(services: Services | None, *args: object, **kwargs: object) -> str:
    """A notice owed by a test's own unit of work, as the status feed or an operator would owe it."""
    assert services is not None
    async with services.db.unit("test/notice"):
        return await services.notices.notify(*args, **kwargs)  # type: ignore[arg-type]
