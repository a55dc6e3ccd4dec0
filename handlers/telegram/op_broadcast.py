"""Broadcasts in Telegram: the operator composes (kk text, ru text, audience), previews the recipient count,
confirms; the progress message is edited every few seconds and has a Stop button; a final report follows.

Also the Telegram side of delivery (``TelegramDeliverer``): a bulk-priority send through the rate limiter,
with Telegram's errors mapped to the ledger's outcomes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from html import escape

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import ExtBot

from bot.core.broadcast import (
    MAX_TEXT,
    Audience,
    BeforeSend,
    Blocked,
    Failed,
    LogReporter,
    NotSent,
    Outcome,
    Progress,
    Reporter,
    Sent,
    Skipped,
    Unknown,
    parse_audience,
)
from bot.domain.catalog import SERVICES
from bot.gateways import telegram_raw_api as raw_api
from bot.gateways.telegram_http import RequestNotSent
from bot.gateways.telegram_rate_limit import BULK, SendAborted
from bot.i18n import Lang, as_lang
from bot.services import TelegramServices
from handlers.telegram import console, routes, steps
from handlers.telegram.console import allowed, back_to_console
from handlers.telegram.menu import show_menu
from handlers.telegram.registry_requests import close_offer
from handlers.telegram.steps import Step
from handlers.telegram.turn import Turn
from store.broadcasts import Broadcast

log = logging.getLogger(__name__)



# The steps of composing (``None``: that language skipped) -------------------------------------------------

@steps.step
class BcKk(Step):
    NAME = "op_bc_kk"


@steps.step
class BcRu(Step):
    NAME = "op_bc_ru"
    kk: str | None = None


@steps.step
class BcAudience(Step):
    NAME = "op_bc_aud"
    kk: str | None = None
    ru: str | None = None


@steps.step
class BcConfirm(Step):
    NAME = "op_bc_confirm"
    kk: str | None = None
    ru: str | None = None
    audience: str
    count: int


# Composing -----------------------------------------------------------------------------------------------

def _skip(turn: Turn) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(turn.text("op.btn.bc_skip"), callback_data="opbc:skip")],
                                 [InlineKeyboardButton(turn.text("btn.cancel"), callback_data="cancel")]])


async def start_broadcast(turn: Turn, arg: str) -> None:
    await steps.go(turn, BcKk())
    await turn.say("op.bc.ask_kk", reply_markup=_skip(turn))


async def _take_text(turn: Turn, message: Message) -> str | None:
    """The operator's text for one language, or None (refused: not an operator any more, or too long)."""
    if not await allowed(turn.services, turn.user_id):  # the role was taken away mid-flow
        await show_menu(turn, "menu.hint")
        return None
    text = (message.text or "").strip()
    if len(text) > MAX_TEXT:
        await turn.say("op.bc.too_long", limit=MAX_TEXT, length=len(text), reply_markup=_skip(turn))
        return None
    return text


async def on_kk_text(turn: Turn, message: Message, step: BcKk) -> None:
    if (text := await _take_text(turn, message)) is not None:
        await _ask_ru(turn, BcRu(kk=text))


async def _ask_ru(turn: Turn, step: BcRu) -> None:
    await steps.go(turn, step)
    await turn.say("op.bc.ask_ru", reply_markup=_skip(turn))


async def on_ru_text(turn: Turn, message: Message, step: BcRu) -> None:
    if (text := await _take_text(turn, message)) is not None:
        await _ask_audience(turn, BcAudience(kk=step.kk, ru=text))


def _audiences() -> list[Audience]:
    return [Audience("all"), Audience("lang", "kk"), Audience("lang", "ru"),
            *(Audience("service", code) for code in SERVICES)]


def audience_name(turn_text: Callable[..., str], audience: Audience) -> str:
    if audience.kind == "service":
        return turn_text("op.aud.service", service=turn_text(f"service.{audience.value}.short"))
    return turn_text("op.aud.all" if audience.kind == "all" else f"op.aud.lang_{audience.value}")


async def _ask_audience(turn: Turn, step: BcAudience) -> None:
    if not step.kk and not step.ru:
        await turn.say("op.bc.need_text")
        await _ask_ru(turn, BcRu(kk=step.kk))
        return
    await steps.go(turn, step)
    rows = [[InlineKeyboardButton(audience_name(turn.text, a), callback_data=f"opbc:aud:{a.code}")]
            for a in _audiences()]
    rows.append([InlineKeyboardButton(turn.text("btn.cancel"), callback_data="cancel")])
    await turn.say("op.bc.ask_audience", reply_markup=InlineKeyboardMarkup(rows))


async def _preview(turn: Turn, step: BcAudience, audience: Audience) -> None:
    count = await turn.services.broadcasts.preview(audience)
    await turn.services.staff.audit(turn.user_id, "broadcast_preview",
                                    details={"audience": audience.code, "recipients": count})
    missing = turn.text("op.bc.missing")
    text = turn.text("op.bc.preview", count=count, audience=audience_name(turn.text, audience),
                     kk=step.kk or missing, ru=step.ru or missing)
    if await turn.services.broadcasts.includes(audience, turn.user_id):
        text += "\n\n" + turn.text("op.bc.you_included")  # the count is no surprise: the sender is in it
    if count == 0:
        await steps.go(turn, BcAudience(kk=step.kk, ru=step.ru))
        await turn.say("op.bc.empty", reply_markup=back_to_console(turn))
        return
    await steps.go(turn, BcConfirm(kk=step.kk, ru=step.ru, audience=audience.code, count=count))
    await turn.send(escape(text), InlineKeyboardMarkup([
        [InlineKeyboardButton(turn.text("op.btn.bc_send", count=count), callback_data="opbc:go")],
        [InlineKeyboardButton(turn.text("btn.cancel"), callback_data="cancel")]]))


async def on_broadcast_button(turn: Turn, arg: str, step: Step) -> None:
    if not await allowed(turn.services, turn.user_id):
        await show_menu(turn, "stale.button")
        return
    action, _, rest = arg.partition(":")
    if action == "skip" and isinstance(step, BcKk):
        await _ask_ru(turn, BcRu(kk=None))
    elif action == "skip" and isinstance(step, BcRu):
        await _ask_audience(turn, BcAudience(kk=step.kk, ru=None))
    elif action == "aud" and isinstance(step, BcAudience):
        try:
            audience = parse_audience(rest)
        except ValueError:
            await show_menu(turn, "stale.button")
            return
        await _preview(turn, step, audience)
    elif action == "go" and isinstance(step, BcConfirm):
        close_offer(turn)  # the Send button must not be pressed twice
        broadcast = await turn.services.broadcasts.create(turn.user_id, step.kk, step.ru,
                                                          parse_audience(step.audience), turn.user_id)
        await show_menu(turn, "op.bc.queued")
        log.info("broadcast %s queued by an operator for %s recipients", broadcast.id, broadcast.total)
    elif action == "stop" and rest.isdigit():
        stopped = await turn.services.broadcasts.cancel(turn.user_id, int(rest))
        if not stopped:
            await turn.say("op.bc.not_running", id=rest)
    else:
        await show_menu(turn, "stale.button")


# Delivery and progress -----------------------------------------------------------------------------------

class TelegramDeliverer:
    """One broadcast message: bulk priority (waits behind replies), 'sending' marked at the last moment."""

    def __init__(self, bot: Bot) -> None:
        assert isinstance(bot, ExtBot)  # the Application's bot: rate_limit_args reach the shared pace
        self._bot = bot

    async def deliver(self, user_id: int, text: str, before_send: BeforeSend) -> Outcome:
        try:
            message = await raw_api.send_html(self._bot, user_id, escape(text),
                                              rate_limit_args={"priority": BULK, "before_send": before_send})
        except SendAborted:
            return Skipped("unsubscribed")
        except Forbidden as exc:  # "bot was blocked by the user", "user is deactivated"
            return Blocked(exc.message[:200])
        except RetryAfter:  # the limiter gave up after many 429s: Telegram did not take it
            return Failed("rate_limited")
        except RequestNotSent as exc:  # no connection at all: it did not leave, the worker tries again later
            return NotSent(exc.message[:200])
        except TimedOut:  # the request may have reached Telegram
            return Unknown("timeout")
        except BadRequest as exc:  # chat not found, …
            return Failed(exc.message[:200])
        except NetworkError as exc:  # the answer was lost; whether it was sent is not known
            return Unknown(exc.message[:200])
        return Sent(message["message_id"])  # all that is read of the answer (raw_api.py)


class TelegramReporter:
    """The operator's progress message, edited in place, with a Stop button; a final report when done."""

    def __init__(self, services: TelegramServices, bot: Bot, chat_id: int) -> None:
        self._services = services
        self._bot = bot
        self._chat_id = chat_id
        self._message_id: int | None = None

    async def _lang(self) -> Lang:
        return as_lang(await self._services.conversation.language(self._chat_id))

    def _stop_button(self, lang: Lang, broadcast: Broadcast) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup([[InlineKeyboardButton(self._services.texts(lang, "op.btn.bc_stop"),
                                                           callback_data=f"opbc:stop:{broadcast.id}")]])

    async def started(self, broadcast: Broadcast) -> None:
        lang = await self._lang()
        self._message_id = broadcast.progress_message_id
        if self._message_id is None:
            text = self._services.texts(lang, "op.bc.started", id=broadcast.id, count=broadcast.total)
            message = await self._bot.send_message(self._chat_id, escape(text), parse_mode=ParseMode.HTML,
                                                   reply_markup=self._stop_button(lang, broadcast))
            self._message_id = message.message_id
            await self._services.broadcasts.set_progress_message(broadcast.id, message.message_id)

    async def progress(self, progress: Progress) -> None:
        lang = await self._lang()
        t, b, c = self._services.texts, progress.broadcast, progress.counts
        if progress.final:
            key = "op.bc.cancelled" if b.status == "cancelled" else "op.bc.done"
            text = t(lang, key, id=b.id, sent=c["sent"], failed=c["failed"], blocked=c["blocked"],
                     skipped=c["skipped"], unknown=c["unknown"] + c["sending"], total=b.total)
        else:
            text = t(lang, "op.bc.progress", id=b.id, sent=c["sent"], failed=c["failed"], blocked=c["blocked"],
                     skipped=c["skipped"], left=progress.left, total=b.total, rate=f"{progress.rate:.1f}")
        if progress.final:
            await self._final(escape(text))
        elif self._message_id is not None:
            with contextlib.suppress(BadRequest):  # "not modified" or too old to edit
                await self._bot.edit_message_text(
                    escape(text), chat_id=self._chat_id, message_id=self._message_id, parse_mode=ParseMode.HTML,
                    reply_markup=self._stop_button(lang, b))

    async def _final(self, text: str) -> None:
        """The report once, as a new message so that the operator is notified; the progress message (with its
        Stop button) goes away. A progress message Telegram no longer lets the bot delete (older than 48 hours)
        becomes the report instead, without its button."""
        if self._message_id is not None:
            try:
                await self._bot.delete_message(self._chat_id, self._message_id)
            except BadRequest:
                with contextlib.suppress(BadRequest):
                    await self._bot.edit_message_text(text, chat_id=self._chat_id, message_id=self._message_id,
                                                      parse_mode=ParseMode.HTML, reply_markup=None)
                return
            except TelegramError:
                pass  # not reachable now: the report is still sent below
        with contextlib.suppress(TelegramError):
            await self._bot.send_message(self._chat_id, text, parse_mode=ParseMode.HTML)


def reporter_for(services: TelegramServices, bot: Bot) -> Callable[[Broadcast], Reporter]:

    def make(broadcast: Broadcast) -> Reporter:
        if broadcast.report_chat_id is None:
            return LogReporter()
        return TelegramReporter(services, bot, broadcast.report_chat_id)
    return make


def register() -> None:
    """The broadcast console action, its composing steps and its buttons (after console.register())."""
    console.add_action("broadcast", start_broadcast, label_key="op.btn.broadcast", command="broadcast", order=30)
    routes.text_state(BcKk, on_kk_text, hint="op.bc.ask_kk")
    routes.text_state(BcRu, on_ru_text, hint="op.bc.ask_ru")
    routes.button("opbc", on_broadcast_button)
