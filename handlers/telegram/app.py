"""The python-telegram-bot Application: the handler table at a glance and the error handler. It has no JobQueue:
the periodic sweep is a job of the worker (bot/core/sweep.py, bot/core/worker.py)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable
from typing import Any

from telegram import BotCommand, CallbackQuery, Update
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.config import Settings
from bot.gateways.telegram_http import AiohttpRequest
from bot.gateways.telegram_rate_limit import PriorityRateLimiter
from bot.i18n import LANGS
from bot.services import Services
from handlers.telegram import (
    about_me,
    cards,
    certificates,
    citizen_commands,
    citizen_complaints,
    console,
    dispatch,
    identification,
    menu,
    op_broadcast,
    op_complaints,
    operator,
    registry_requests,
    settings,
    status,
    subscription,
    webhook_reply,
)
from handlers.telegram.per_chat import PerChatUpdateProcessor, update_kind
from handlers.telegram.turn import current_scope, error_is_told, run_update, turn_for

log = logging.getLogger(__name__)

CONCURRENT_UPDATES = 16  # different people in parallel; one person's updates in order (per_chat.py)
# The kinds of update the handlers below take; Telegram sends no other (polling and webhook alike).
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER]


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await turn_for(update, context)
    if context.args:  # a deep link: t.me/<bot>?start=QZ-261125-0482913 opens that card
        await cards.deep_link(turn, context.args[0])
    else:
        await menu.start(turn)


async def _language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await menu.ask_language(await turn_for(update, context))


async def _help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await turn_for(update, context)
    if await turn.chosen_lang() is None:
        await menu.ask_language(turn)
    else:
        await menu.help_text(turn)


async def _status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await turn_for(update, context)
    if await turn.chosen_lang() is None:
        await menu.ask_language(turn)
        return
    args = context.args or []
    await (status.status_of(turn, " ".join(args)) if args else status.status_list(turn))


async def _settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await turn_for(update, context)
    if await turn.chosen_lang() is None:
        await menu.ask_language(turn)
    else:
        await settings.show_settings(turn)


async def _logout(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await identification.logout(await turn_for(update, context))


async def _cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await menu.show_menu(await turn_for(update, context), "flow.cancelled")


async def _unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await turn_for(update, context)
    await turn.say("input.unknown_command")
    await menu.show_menu(turn)


async def _text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await dispatch.on_text(await turn_for(update, context), update.effective_message)


async def _other(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await dispatch.on_other_message(await turn_for(update, context), update.effective_message)


async def _button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    if webhook_reply.carry("answerCallbackQuery", callback_query_id=query.id):
        # By webhook the answer to Telegram's request stops the spinner: no request of its own.
        await dispatch.on_button(await turn_for(update, context), query.data or "")
        return
    # The spinner is stopped while the work is done, not before it: one Bot API round trip less per press.
    answering = asyncio.create_task(_answer(query))
    _ANSWERING.add(answering)
    answering.add_done_callback(_ANSWERING.discard)
    scope = current_scope()
    if scope is not None:
        # Awaited once the turn has committed: its unit of work (on SQLite, the one writer) does not wait for
        # Telegram's answer to this request.
        scope.after.append(lambda: answering)
        await dispatch.on_button(await turn_for(update, context), query.data or "")
        return
    try:
        await dispatch.on_button(await turn_for(update, context), query.data or "")
    finally:
        await answering


# The answers to button presses on their way (a task the loop holds only weakly must be held here).
_ANSWERING: set[asyncio.Task[None]] = set()


async def _answer(query: CallbackQuery) -> None:
    """A failed answer only leaves a spinner: logged in one line, and the press is still handled. A press
    answered too late (Telegram keeps a query answerable for about 15 seconds: a press made long ago, or while
    the person was asked something else first) is ordinary, not a fault: no traceback."""
    try:
        await query.answer()
    except BadRequest as exc:
        log.warning("could not answer a callback query: %s", exc.message)
    except Exception as exc:
        log.warning("could not answer a callback query: %s", type(exc).__name__)


async def _error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Never silence, never a traceback to the person: log it and say something polite."""
    log.error("update failed: %s", type(context.error).__name__, exc_info=context.error)
    scope = current_scope()
    if scope is not None:
        scope.fail()  # nothing of the update's work stays half-done
    if not error_is_told():
        return  # Telegram posts the update again (handlers/http/telegram_webhook.py): silence until the last try
    if isinstance(update, Update) and update.effective_user is not None:
        try:
            turn = await turn_for(update, context)
            await turn.say("error.generic")
        except Exception:  # the error may be the network itself
            log.warning("could not tell the user about the error")


async def _post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    services: Services = application.bot_data["services"]
    for lang in LANGS:
        commands = [BotCommand(name, services.texts(lang, f"command.{name}")) for name in citizen_commands.COMMANDS]
        await application.bot.set_my_commands(commands, language_code=lang)


def register_routes() -> None:
    """What each feature adds to the conversation: menu rows, the chat states it reads, its buttons (routes.py)
    and the operator console's actions (console.py). The tables are shared by every Application in the process;
    registering again changes nothing."""
    registry_requests.register()  # a request asked before identification goes on after it
    status.register()             # so does the status list
    citizen_complaints.register()  # menu rows "File a complaint", "My complaints"; filing, following
    settings.register()           # menu row "Notices" and its buttons
    about_me.register()           # menu row "Requests about me", its Decline buttons
    cards.register()              # the identity step offered by the status list and cards
    console.register()            # menu row "Operator console" (staff only), the "op" buttons
    operator.register()           # console actions on applications: find, overdue, setstatus
    op_broadcast.register()       # console action: broadcast
    op_complaints.register()      # console actions on complaints
    certificates.register()       # the PDF button under a certificate; /verify's states, buttons, menu row


def rate_limiter(settings: Settings) -> PriorityRateLimiter:
    """The one pace of every Bot API call: shared by all replicas through Redis when QYZMET_REDIS_URL is set."""
    return PriorityRateLimiter(settings.telegram_rate, settings.broadcast_rate, settings.telegram_per_chat_interval,
                               redis_url=settings.redis_url, redis_prefix=settings.redis_prefix)


def build_application(services: Services, token: str, base_url: str | None = None,
                      base_file_url: str | None = None) -> Application[Any, Any, Any, Any, Any, Any]:
    register_routes()
    processor = PerChatUpdateProcessor(CONCURRENT_UPDATES)
    metrics = services.metrics
    processor.timed.append(lambda update, seconds: metrics.update_answered(update_kind(update), seconds))
    builder = (ApplicationBuilder().token(token).post_init(_post_init)
               .request(AiohttpRequest(connection_pool_size=16, observe=metrics.api_call))
               .get_updates_request(AiohttpRequest(connection_pool_size=1, read_timeout=30, observe=metrics.api_call))
               .concurrent_updates(processor)
               .rate_limiter(rate_limiter(services.settings))
               .job_queue(None))  # background work is the worker's (bot/core/worker.py)
    if base_url:
        builder = builder.base_url(base_url)
    if base_file_url:
        builder = builder.base_file_url(base_file_url)
    application = builder.build()
    application.bot_data["services"] = services

    async def around(update: object, coroutine: Awaitable[Any]) -> None:
        assert inspect.iscoroutine(coroutine)  # python-telegram-bot hands over Application.process_update(...)
        await run_update(services, application, update, coroutine)

    processor.around = around
    application.add_handler(CommandHandler("start", _start))
    application.add_handler(CommandHandler(["language", "lang", "til", "yazyk"], _language))
    application.add_handler(CommandHandler("help", _help))
    application.add_handler(CommandHandler("status", _status))
    application.add_handler(CommandHandler("logout", _logout))
    application.add_handler(CommandHandler(["settings", "notices"], _settings))
    application.add_handler(CommandHandler(["cancel", "menu"], _cancel))
    subscription.add_handlers(application)
    citizen_commands.add_handlers(application)  # /about_me, /new_complaint, /my_complaints
    certificates.add_handlers(application)  # /verify
    console.add_handlers(application, _unknown_command)  # staff only; anyone else gets _unknown_command
    application.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.COMMAND, _unknown_command))
    application.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND, _text))
    application.add_handler(CallbackQueryHandler(_button))
    other_messages = filters.UpdateType.MESSAGE & ~filters.TEXT & ~filters.StatusUpdate.ALL
    application.add_handler(MessageHandler(other_messages, _other))
    application.add_error_handler(_error)
    return application
