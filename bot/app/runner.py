"""Running the bot: python-telegram-bot's Application, the background workers and the HTTP server (SMS webhooks,
the Telegram webhook, metrics and health), all on one Services, started and stopped together.

One class for every process of DESIGN.md ("Processes and engines"), chosen by two switches:
- ``qyzmet run`` (and the demo, the tests): ``receive_updates`` and ``run_workers`` — everything in one process;
- ``qyzmet web``: ``receive_updates`` only — updates by webhook, the HTTP server, no background loop (stateless:
  N replicas behind one URL);
- ``qyzmet worker``: ``run_workers`` only — the outboxes, notices, broadcasts and the sweep; it never asks
  Telegram for updates (no getUpdates, no setWebhook), and its HTTP server has metrics and health only.
Updates come by long polling, or by webhook when QYZMET_TELEGRAM_WEBHOOK_URL is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from functools import partial
from typing import Any

from telegram.ext import Application

from bot.app.http_server import PublicPage, SmsHttpServer, check_http_config
from bot.core import broadcast, outbox, sms_sending
from bot.core.health import Check
from bot.core.worker import Worker
from bot.gateways.person_lock import InProcessLocks, PersonLocks, RedisPersonLocks
from bot.gateways.smpp_gateway import SmppSinks, SmppSmsGateway
from bot.gateways.update_ledger import LocalUpdateLedger, RedisUpdateLedger, UpdateLedger
from bot.services import Services
from handlers.http.issuer_keys import IssuerKeys
from handlers.http.ops import Operations
from handlers.http.share_page import SharePage
from handlers.http.telegram_webhook import TelegramWebhook
from handlers.http.verify import VerifyPage
from handlers.sms_commands import SmsHandler
from handlers.telegram.app import ALLOWED_UPDATES, build_application
from handlers.telegram.delivery import TelegramDelivery
from handlers.telegram.op_broadcast import TelegramDeliverer, reporter_for
from handlers.telegram.webhook import WebhookUpdates

# A short pause between getUpdates calls: under load each call then brings a batch of updates instead of one
# or two (fewer Bot API round trips per update), for at most this much added latency.
POLL_INTERVAL = 0.01

# Readiness of a process that runs the workers: the health checks' names, and the jobs they stand for (the
# others — registry questions, the state outbox, the sweep — are not part of the health contract).
READINESS = {"sms_worker": "sms", "telegram_worker": "telegram", "broadcast_worker": "broadcasts"}


class RunningBot:
    """The Application and what runs around it, in one of the process shapes of the module docstring."""

    def __init__(self, services: Services, application: Application, http: SmsHttpServer | None = None) -> None:
        self.services = services
        self.application = application
        self.http = http
        self.worker: Worker | None = None  # the background jobs, when this process runs them
        self.updates_by: str | None = None  # "polling", "webhook", or None (a worker)
        self.workers = False  # the background loops run in this process
        self.webhook_set = False  # setWebhook succeeded
        self._polling_since: float | None = None  # monotonic time polling started (readiness)
        self._redis: Any = None  # the client shared by the webhook's lock and ledger, with QYZMET_REDIS_URL

    @property
    def http_port(self) -> int | None:
        """The port the HTTP server is bound to (useful with port 0)."""
        return self.http.port if self.http else None

    @classmethod
    async def start(cls, services: Services, token: str, base_url: str | None = None,
                    base_file_url: str | None = None, poll_timeout: int = 10, http: bool = False,
                    http_port: int | None = None, poll_interval: float = POLL_INTERVAL,
                    receive_updates: bool = True, run_workers: bool = True) -> RunningBot:
        """Start what the switches ask for (module docstring); with ``http``, also the HTTP server
        (``http_port`` overrides QYZMET_HTTP_PORT; 0 picks a free port, read it back from ``http_port``).
        Webhook mode (QYZMET_TELEGRAM_WEBHOOK_URL) takes its updates on that server, so it needs ``http``."""
        settings = services.settings
        if receive_updates and settings.telegram_webhook_url and not http:
            raise ValueError("webhook mode takes updates on the HTTP server: start it with http=True")
        if http and receive_updates:
            check_http_config(settings.http_host, settings.sms_secret)  # refuse before anything starts
        await services.staff.bootstrap(settings.operator_ids())  # QYZMET_OPERATORS
        application = build_application(services, token, base_url, base_file_url)
        bot = cls(services, application)
        try:
            await bot._start(poll_timeout, poll_interval, http, http_port, receive_updates, run_workers)
        except BaseException:
            await bot.stop()  # nothing half-started left running, no HTTP session left open
            raise
        return bot

    async def _start(self, poll_timeout: int, poll_interval: float, http: bool, http_port: int | None,
                     receive_updates: bool, run_workers: bool) -> None:
        application, settings = self.application, self.services.settings
        self._bind_smpp()
        webhook = receive_updates and bool(settings.telegram_webhook_url)
        self.updates_by = ("webhook" if webhook else "polling") if receive_updates else None
        self.workers = run_workers
        await application.initialize()
        if receive_updates and application.post_init:
            await application.post_init(application)  # the command menus, by the processes people talk to
        await application.start()
        if run_workers:
            self._start_workers()
            await self._hear_other_processes()
        if receive_updates and not webhook:
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=poll_interval, timeout=poll_timeout,
                                                    allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False)
            self._polling_since = time.monotonic()
        if http:
            await self._start_http(http_port, receive_updates, webhook)
        if webhook:
            await self._set_webhook()  # once the route listens: Telegram posts at once

    def _bind_smpp(self) -> None:
        """With QYZMET_SMS_GATEWAY=smpp every process binds (web replicas send a code's first attempt, workers
        the rest): the SMSC may send each bind receipts and messages from phones, which go to the same use cases
        as ``POST /sms/receipts`` and ``POST /sms/inbound``."""
        services = self.services
        gateway = services.sms_gateway
        if isinstance(gateway, SmppSmsGateway):
            handler = SmsHandler(services.sms_inbound, services.sms, services.texts)
            gateway.start(SmppSinks(parts=services.sms_parts.record_send, receipt=services.sms_parts.receipt,
                                    inbound=handler.handle))

    async def _hear_other_processes(self) -> None:
        """A web replica's notices, SMS and broadcasts wake this process's workers at once (PostgreSQL
        LISTEN/NOTIFY) instead of at their next look; on SQLite one process does both: nothing to hear."""
        services, db = self.services, self.services.db
        await db.listen(outbox.WAKE_CHANNEL, services.telegram_worker.job.wake)
        await db.listen(sms_sending.WAKE_CHANNEL, services.sms.job.wake)
        await db.listen(broadcast.WAKE_CHANNEL, services.broadcasts.job.wake)

    def _start_workers(self) -> None:
        """One worker runs every background job (bot/core/worker.py): the SMS outbox, the registry questions the
        registry could not answer at once, stages and complaints to the state systems (when one is configured),
        the Telegram outbox, broadcasts (resuming one left 'sending' by a stop or a crash, never resending a
        message that may have left), and the periodic sweep (expired consents, old update marks)."""
        services, bot = self.services, self.application.bot
        services.telegram_worker.deliver_with(TelegramDelivery(services, bot).deliver)
        services.broadcasts.deliver_with(TelegramDeliverer(bot), reporter_for(services, bot))
        jobs = [job for job in services.jobs() if job is not services.state_outbox.job or services.state_outbox.serving]
        self.worker = Worker(jobs)
        self.worker.start()

    async def _start_http(self, http_port: int | None, receive_updates: bool, webhook: bool) -> None:
        services, settings = self.services, self.services.settings
        ops = Operations(services.metrics, services.health, settings.health_db_timeout_seconds,
                         self.readiness_checks())
        port = settings.http_port if http_port is None else http_port
        if not receive_updates:  # a worker: nobody posts to it
            self.http = SmsHttpServer(None, services.sms, settings.http_host, port, settings.sms_secret, ops=ops)
        else:
            telegram = None
            if webhook:
                assert settings.telegram_webhook_url and settings.telegram_webhook_secret  # Settings checks both
                telegram = TelegramWebhook(self._webhook_updates(), settings.telegram_webhook_url,
                                           settings.telegram_webhook_secret)
            handler = SmsHandler(services.sms_inbound, services.sms, services.texts)
            self.http = SmsHttpServer(handler, services.sms, settings.http_host, port, settings.sms_secret,
                                      feed=services.feed, feed_token=settings.feed_token, ops=ops,
                                      pages=self._public_pages(),
                                      complaints=services.complaints, telegram=telegram)
        await self.http.start()
        assert self.http.port is not None
        services.certificates.listening_on(settings.http_host, self.http.port)  # the links certificates carry

    def _public_pages(self) -> list[PublicPage]:
        """The certificate's public pages: /verify, share links, and the issuer's published keys."""
        services = self.services
        proxies = services.settings.trusted_proxy_networks()
        return [VerifyPage(services.certificates, services.texts, proxies),
                SharePage(services.shares, services.texts, proxies), IssuerKeys(services.issuer)]

    def _webhook_updates(self) -> WebhookUpdates:
        """Across replicas the person's lock and the ledger of answered updates live in Redis; in one process,
        in the process."""
        url = self.services.settings.redis_url
        locks: PersonLocks
        ledger: UpdateLedger
        if url:
            from bot.redis_client import connect
            self._redis = connect(url)
            # Bots sharing a Redis keep apart (the prefix, and the bot's id within it).
            prefix = f"{self.services.settings.redis_prefix}bot{self.application.bot.id}"
            locks, ledger = RedisPersonLocks(self._redis, prefix), RedisUpdateLedger(self._redis, prefix)
        else:
            locks, ledger = InProcessLocks(), LocalUpdateLedger()
        return WebhookUpdates(self.application, locks, ledger)

    async def _set_webhook(self) -> None:
        settings = self.services.settings
        await self.application.bot.set_webhook(
            url=settings.telegram_webhook_url or "", secret_token=settings.telegram_webhook_secret,
            allowed_updates=ALLOWED_UPDATES, max_connections=settings.telegram_webhook_max_connections,
            drop_pending_updates=False)
        self.webhook_set = True

    def readiness_checks(self) -> dict[str, Check]:
        """What this process must keep doing to be ready, besides its database answering (bot/core/health.py)."""
        checks: dict[str, Check] = {}
        if self.updates_by == "polling":
            checks["telegram_polling"] = self._polling_fresh
        elif self.updates_by == "webhook":
            checks["telegram_webhook"] = lambda: self.webhook_set
        if self.workers:
            checks.update({check: partial(self._job_running, job) for check, job in READINESS.items()})
        return checks

    def _job_running(self, name: str) -> bool:
        return self.worker is not None and self.worker.running(name)

    def _polling_fresh(self) -> bool:
        """Updates are being fetched: polling runs and the last getUpdates that succeeded (or the start of
        polling) is recent. A long poll returns every poll timeout even when nobody writes to the bot."""
        updater = self.application.updater
        if updater is None or not updater.running or self._polling_since is None:
            return False
        last = max(self.services.metrics.last_poll_ok or 0.0, self._polling_since)
        return time.monotonic() - last <= self.services.settings.health_poll_max_age_seconds

    async def stop(self) -> None:
        """Stop everything started. A webhook stays set: the other replicas (or this one, restarted) take the
        updates, and Telegram keeps them meanwhile."""
        if self.http is not None:
            await self.http.stop()  # lets the requests in flight finish: each update is answered or refused
        if self.worker is not None:
            await self.worker.stop()  # every job at once, each letting its attempt in progress finish
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
        await app.bot.shutdown()  # after a failed start (never initialized) the Application leaves this to us
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


async def run_until_signal(bot: RunningBot) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await bot.stop()
