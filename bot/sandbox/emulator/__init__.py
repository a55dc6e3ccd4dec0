"""A local, in-process Telegram Bot API emulator.

Why it exists: the bot must be testable and demonstrable offline, with the *real*
python-telegram-bot ``Application`` (its HTTP client, its JSON (de)serialisation,
its error mapping), not with mocks that silently agree with whatever the bot
does. So this package serves a small but faithful subset of the Bot API over
HTTP on 127.0.0.1 and lets tests (or a terminal demo) play the Telegram users.

Point PTB at it with::

    emu = BotApiEmulator(token="123456:TEST")
    await emu.start()
    app = (ApplicationBuilder().token(emu.token)
           .base_url(emu.base_url).base_file_url(emu.base_file_url).build())

Semantics follow https://core.telegram.org/bots/api, including the errors the
real server answers with (empty/too long text, bad callback_data, broken HTML,
"message is not modified", blocked users, 429 with retry_after, ...), because
those errors are exactly the bugs we want to find before production does.

Run ``python -m bot.sandbox.emulator --port 8081`` for a standalone server with a
small JSON control API under ``/_emu/`` (used by load generators in another
process).

Modules: ``model`` (records), ``html`` (parse_mode HTML), ``params`` (request
parameters), ``state`` (what both sides share), ``messages`` and ``server`` (the
Bot API), ``webhook`` (setWebhook, and updates posted to the webhook as Telegram
does), ``driver`` (the users: the public API for tests and the demo), ``control``
(``/_emu/`` for other processes), ``assembly`` (``BotApiEmulator``),
``standalone`` (``main``).
"""

from .assembly import BotApiEmulator
from .html import command_entities, parse_html, utf16_len
from .model import (
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    MAX_UPLOAD_BYTES,
    ApiError,
    CallbackAnswer,
    EmuUser,
    JSONDict,
    NoMessageError,
    SentMessage,
    StalePress,
    WebhookAttempt,
)
from .standalone import main

__all__ = [
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_CAPTION_LENGTH",
    "MAX_TEXT_LENGTH",
    "MAX_UPLOAD_BYTES",
    "ApiError",
    "BotApiEmulator",
    "CallbackAnswer",
    "EmuUser",
    "JSONDict",
    "NoMessageError",
    "SentMessage",
    "StalePress",
    "WebhookAttempt",
    "command_entities",
    "main",
    "parse_html",
    "utf16_len",
]
