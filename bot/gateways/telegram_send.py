"""Sending a message to a chat through the Bot API, and what Telegram's refusals mean for the one who sends.

The pace of the calls is the Application's rate limiter's (telegram_rate_limit.py); a text message goes without
building the answer's objects (telegram_raw_api.py). Every refusal comes out as one exception, ``Refused``, with
the kind of failure the outbox's policy reads (bot/core/outbox.py ``Failure``): Telegram's 429 is
``rate_limited`` (with its retry_after), 403 (the person blocked the bot, the account is gone) is ``blocked``,
another 400 is ``unreachable``, and no connection or a timeout is ``network``.
"""

from __future__ import annotations

from typing import Any, Literal

from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.gateways import telegram_raw_api as raw_api
from bot.gateways.telegram_rate_limit import retry_after_seconds

Kind = Literal["rate_limited", "network", "blocked", "unreachable"]


class Refused(Exception):
    """Telegram did not take the message: ``kind`` of failure, ``retry_after`` seconds for a 429, ``error``
    a short reason for the log and the row (no content of the message)."""

    def __init__(self, kind: Kind, error: str, retry_after: float = 0.0) -> None:
        super().__init__(error)
        self.kind, self.error, self.retry_after = kind, error, retry_after


def refusal(exc: Exception) -> Refused | None:
    """What a Bot API error means for the sender; None when it is not one."""
    if isinstance(exc, RetryAfter):
        return Refused("rate_limited", "429", retry_after_seconds(exc))
    if isinstance(exc, Forbidden):
        return Refused("blocked", type(exc).__name__)
    if isinstance(exc, BadRequest):
        return Refused("unreachable", type(exc).__name__)
    if isinstance(exc, NetworkError):
        return Refused("network", f"network: {type(exc).__name__}")
    return None


def _markup(data: dict[str, Any] | None) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup.de_json(data, None) if data else None


async def send_html(bot: Bot, chat_id: int, html: str, markup: dict[str, Any] | None = None,
                    protect: bool = False) -> None:
    """A text message (Telegram HTML); ``markup`` a keyboard as its ``to_dict()``. Raises ``Refused``."""
    try:
        await raw_api.send_html(bot, chat_id, html, markup or None, protect=protect)
    except Exception as exc:
        raise _refused(exc) from exc


async def send_photo(bot: Bot, chat_id: int, png: bytes, caption: str, markup: dict[str, Any] | None = None,
                     protect: bool = False) -> None:
    """A picture with its caption (Telegram HTML). Raises ``Refused``."""
    try:
        await bot.send_photo(chat_id, png, caption=caption, parse_mode=ParseMode.HTML, reply_markup=_markup(markup),
                             protect_content=protect)
    except Exception as exc:
        raise _refused(exc) from exc


async def send_document(bot: Bot, chat_id: int, data: bytes, filename: str, caption: str) -> None:
    """A document with its caption (Telegram HTML). Raises ``Refused``."""
    try:
        await bot.send_document(chat_id, data, filename=filename, caption=caption, parse_mode=ParseMode.HTML)
    except Exception as exc:
        raise _refused(exc) from exc


def _refused(exc: Exception) -> Exception:
    found = refusal(exc)
    return found if found is not None else exc
