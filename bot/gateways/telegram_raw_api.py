"""Bot API calls whose answer is read as plain JSON, without building python-telegram-bot objects.

``Bot.send_message`` and its kin turn Telegram's answer into objects: a sent message becomes a Message with its
Chat, User, entities and keyboard. The bot reads nothing of that for nearly every message it sends (at most the
``message_id``), yet building it costs CPU on every message of every update. PTB's public
``Bot.do_api_request`` makes the same request and returns the answer as Telegram sent it:

* the parameters go as the named methods send them: ``None`` left out, anything else not a string JSON-encoded
  (a keyboard as the dict ``to_dict`` gave, a ``ParseMode`` as its value);
* the errors are the same (RetryAfter, Forbidden, BadRequest, NetworkError, …): they come from the request layer
  below both;
* ExtBot hands the request, with its ``rate_limit_args``, to its rate limiter just as for ``send_message``: the
  pace (rate_limit.py) sees every message.

What it skips is ExtBot's ``Defaults`` and its callback-data cache, neither of which this bot uses.
"""

from __future__ import annotations

import warnings
from typing import Any

from telegram import Bot
from telegram.constants import ParseMode
from telegram.ext import ExtBot
from telegram.warnings import PTBUserWarning

# do_api_request warns ("Please use 'Bot.sendMessage' …") when the method has a named counterpart: calling it by
# name, to skip the objects the named one builds, is the point here. Only warnings raised from this module.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.", category=PTBUserWarning, module=__name__)


async def call(bot: Bot, method: str, params: dict[str, Any], rate_limit_args: dict[str, Any] | None = None) -> Any:
    """Call the Bot API ``method`` with ``params`` (``None`` values left out). Returns Telegram's ``result``
    as JSON: a dict for a message, ``True`` for most other methods."""
    if rate_limit_args is None:
        return await bot.do_api_request(method, api_kwargs=params)
    assert isinstance(bot, ExtBot)  # only the Application's bot has a rate limiter to take them
    return await bot.do_api_request(method, api_kwargs=params, rate_limit_args=rate_limit_args)


async def send_html(bot: Bot, chat_id: int, html: str, markup: dict[str, Any] | None = None, *,
                    protect: bool | None = None, rate_limit_args: dict[str, Any] | None = None) -> dict[str, Any]:
    """``send_message(chat_id, html, parse_mode=HTML, reply_markup=…, protect_content=…)``, the same request,
    without the Message object: the sent message as JSON (``["message_id"]``). ``markup`` is a keyboard as
    its ``to_dict()``."""
    result: dict[str, Any] = await call(bot, "sendMessage", {
        "chat_id": chat_id, "text": html, "parse_mode": ParseMode.HTML, "protect_content": protect,
        "reply_markup": markup}, rate_limit_args)
    return result


async def remove_inline_keyboard(bot: Bot, chat_id: int, message_id: int) -> None:
    """``edit_message_reply_markup(chat_id=…, message_id=…, reply_markup=None)``, the same request, without the
    Message object of the edited message."""
    await call(bot, "editMessageReplyMarkup", {"chat_id": chat_id, "message_id": message_id})
