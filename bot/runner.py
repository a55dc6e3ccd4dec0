"""Running the bot: python-telegram-bot's Application, the SMS outbox worker and (optionally) the HTTP server
for SMS webhooks, metrics and health, all on one Services, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time

from telegram.ext import Application

from bot.core.health import Check
from bot.http_ops import Operations
from bot.http_server import SmsHttpServer, check_http_config
from bot.services import Services
from handlers.http.verify import VerifyPage
from handlers.sms_commands import SmsHandler
from handlers.telegram.app import build_application
from handlers.telegram.delivery import TelegramDelivery
from handlers.telegram.op_broadcast import TelegramDeliverer, reporter_for

# A short pause between getUpdates calls: under load each call then brings a batch of updates instead of one
# or two (fewer Bot API round trips per update), for at most this much added latency.
POLL_INTERVAL = 0.01


class RunningBot:
    """The Application polling for updates, as used by `qyzmet run`, the demo and the tests."""

    def __init__(self, services: Services, application: Application, http: SmsHttpServer | None = None,
                 notices: TelegramDelivery | None = None) -> None:
        self.services = services
        self.application = application
        self.http = http
        self.notices = notices
        self._polling_since: float | None = None  # monotonic time polling started (readiness)

    @property
    def http_port(self) -> int | None:
        """The port the HTTP server is bound to (useful with port 0)."""
        return self.http.port if self.http else None

    @classmethod
    async def start(cls, services: Services, token: str, base_url: str | None = None,
                    base_file_url: str | None = None, poll_timeout: int = 10, http: bool = False,
                    http_port: int | None = None, poll_interval: float = POLL_INTERVAL) -> RunningBot:
        """Start polling and the SMS worker; with ``http``, also the webhook server (``http_port`` overrides
        QYZMET_HTTP_PORT; 0 picks a free port, read it back from ``http_port``)."""
        settings = services.settings
        if http:
            check_http_config(settings.http_host, settings.sms_secret)  # refuse before anything starts
        await services.staff.bootstrap(settings.operator_ids())  # QYZMET_OPERATORS
        application = build_application(services, token, base_url, base_file_url)
        bot = cls(services, application)
        try:
            await bot._start(poll_timeout, poll_interval, http, http_port)
        except BaseException:
            await bot.stop()  # nothing half-started left running, no HTTP session left open
            raise
        return bot

    async def _start(self, poll_timeout: int, poll_interval: float, http: bool, http_port: int | None) -> None:
        services, application, settings = self.services, self.application, self.services.settings
        await application.initialize()
        if application.post_init:
            await application.post_init(application)
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=poll_interval, timeout=poll_timeout,
                                                drop_pending_updates=False)
        self._polling_since = time.monotonic()
        services.sms.start_worker()
        services.pending_results.start_worker()  # registry questions the registry could not answer at once
        services.state_outbox.start_worker()     # stages to monitoring, complaints to their addressee
        self.notices = TelegramDelivery(services, application.bot)  # the Telegram outbox worker
        self.notices.start()
        # Resumes broadcasts left 'sending' by a stop or a crash (never resending a message that may have left).
        services.broadcasts.start_worker(TelegramDeliverer(application.bot), reporter_for(services, application.bot))
        if http:
            handler = SmsHandler(services.sms_inbound, services.sms, services.texts)
            self.http = SmsHttpServer(handler, services.sms, settings.http_host,
                                      settings.http_port if http_port is None else http_port,
                                      settings.sms_secret, feed=services.feed, feed_token=settings.feed_token,
                                      ops=Operations(services.metrics, services.health,
                                                     settings.health_db_timeout_seconds, self.readiness_checks()),
                                      verify=VerifyPage(services.certificates, services.texts),
                                      complaints=services.complaints)
            await self.http.start()
            assert self.http.port is not None
            services.certificates.listening_on(settings.http_host, self.http.port)  # the links certificates carry

    def readiness_checks(self) -> dict[str, Check]:
        """What this process must keep doing to be ready, besides its database answering (bot/core/health.py)."""
        return {
            "telegram_polling": self._polling_fresh,
            "sms_worker": lambda: self.services.sms.worker_running,
            "telegram_worker": lambda: self.notices is not None and self.notices.running,
            "broadcast_worker": lambda: self.services.broadcasts.worker_running,
        }

    def _polling_fresh(self) -> bool:
        """Updates are being fetched: polling runs and the last getUpdates that succeeded (or the start of
        polling) is recent. A long poll returns every poll timeout even when nobody writes to the bot."""
        updater = self.application.updater
        if updater is None or not updater.running or self._polling_since is None:
            return False
        last = max(self.services.metrics.last_poll_ok or 0.0, self._polling_since)
        return time.monotonic() - last <= self.services.settings.health_poll_max_age_seconds

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.stop()
        if self.notices is not None:
            await self.notices.stop()
        await self.services.broadcasts.stop_worker()
        await self.services.sms.stop_worker()
        await self.services.pending_results.stop_worker()
        await self.services.state_outbox.stop_worker()
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
        await app.bot.shutdown()  # after a failed start (never initialized) the Application leaves this to us


async def run_until_signal(bot: RunningBot) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await bot.stop()
