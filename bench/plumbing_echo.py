"""The second baseline: an echo bot on exactly the bot's plumbing. `python -m bench.plumbing_echo BASE_URL TOKEN`.

Why: the stock echo bot (bench/echo_bot.py) is python-telegram-bot as shipped — httpx, the standard event loop,
one update at a time, no pause between getUpdates. The bot runs on aiohttp (AiohttpRequest), uvloop, up to
CONCURRENT_UPDATES updates of different people at once (PerChatUpdateProcessor) and a POLL_INTERVAL pause between
getUpdates calls, with its PriorityRateLimiter in front of every call. A ratio against the stock echo therefore
mixes the cost of the bot's work with the gain of its plumbing. This echo bot takes every one of those pieces
from the project itself (not copies), so that "bot / same-plumbing echo" is the price of the bot's own work:
conversation state, the database, rendering, the outbox.

The only thing it does per update is the stock echo's: reply_text with the same text.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bot.app.cli import _fast_loop_factory  # the event loop `qyzmet run` uses (uvloop when installed)
from bot.app.runner import POLL_INTERVAL
from bot.gateways.telegram_http import AiohttpRequest
from bot.gateways.telegram_rate_limit import PriorityRateLimiter
from handlers.telegram.app import CONCURRENT_UPDATES
from handlers.telegram.per_chat import PerChatUpdateProcessor

POLL_TIMEOUT = 10  # RunningBot.start's default long-poll timeout, as `qyzmet run` uses it


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None  # filters.TEXT
    await message.reply_text(message.text)


def build(base_url: str, token: str) -> Application:
    """The same builder calls as handlers.telegram.app.build_application, minus the bot's handlers."""
    app = (ApplicationBuilder().token(token).base_url(base_url)
           .request(AiohttpRequest(connection_pool_size=16))
           .get_updates_request(AiohttpRequest(connection_pool_size=1, read_timeout=30))
           .concurrent_updates(PerChatUpdateProcessor(CONCURRENT_UPDATES))
           .rate_limiter(PriorityRateLimiter())  # the defaults are QYZMET_TELEGRAM_RATE's etc.; replies never wait
           .build())
    app.add_handler(MessageHandler(filters.TEXT, echo))
    return app


async def serve(base_url: str, token: str) -> None:
    """Started and stopped the way bot.app.runner.RunningBot and bot.app.cli do it (SIGTERM ends it)."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    app = build(base_url, token)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=POLL_INTERVAL, timeout=POLL_TIMEOUT, drop_pending_updates=False)
    try:
        await stopping.wait()
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


def main(argv: list[str]) -> int:
    base_url, token = argv[1], argv[2]
    factory = _fast_loop_factory()
    print(f"event loop: {'uvloop' if factory else 'asyncio (uvloop not installed)'}", flush=True)
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(base_url, token))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
