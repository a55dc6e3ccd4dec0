"""Running the bot: start python-telegram-bot's Application on our Services and stop it cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from telegram.ext import Application

from bot.services import Services
from handlers.telegram.app import build_application


class RunningBot:
    """The Application polling for updates, as used by `qyzmet run`, the demo and the tests."""

    def __init__(self, services: Services, application: Application) -> None:
        self.services = services
        self.application = application

    @classmethod
    async def start(cls, services: Services, token: str, base_url: str | None = None,
                    base_file_url: str | None = None, poll_timeout: int = 10) -> "RunningBot":
        application = build_application(services, token, base_url, base_file_url)
        await application.initialize()
        if application.post_init:
            await application.post_init(application)
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=poll_timeout, drop_pending_updates=False)
        return cls(services, application)

    async def stop(self) -> None:
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()


async def run_until_signal(bot: RunningBot) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await bot.stop()
