"""Certificates in Telegram: the «PDF» button under a certificate, and /verify — anyone (an employer) checks a
certificate by its number, its verification code and the mark the paper shows about observation.

The rules are in the core (bot/core/certificates.py); here a button or a message becomes a core call and the
result a localized reply.
"""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.core.certificates import PdfExpired, PdfNotFound
from bot.domain.model import ChatState
from bot.domain.numbers import APPLICATIONS
from bot.domain.verification import normalize_code
from bot.i18n import Lang, Texts, format_when
from handlers.check_answer import check_lines
from handlers.telegram import keyboards, routes
from handlers.telegram.identification import require_identity
from handlers.telegram.menu import ask_language, show_menu
from handlers.telegram.turn import Turn, turn_for

VERIFY_NUMBER = "verify_number"
VERIFY_CODE = "verify_code"
VERIFY_STATUS = "verify_status"


# The PDF -------------------------------------------------------------------------------------------------------

async def on_pdf(turn: Turn, number: str, state: ChatState) -> None:
    """Only the holder or the requester, identified, within the validity; anyone else — a forwarded screenshot's
    button does not exist, but a forged callback might — gets the stale-button answer."""
    if not APPLICATIONS.parse(number):
        await show_menu(turn, "stale.button")
        return
    if not await require_identity(turn, {"action": "pdf", "number": number}):
        return
    await pdf_after_identity(turn, {"number": number})


async def pdf_after_identity(turn: Turn, then: dict) -> None:
    identity = await turn.identity()
    number = str(then.get("number", ""))
    if identity is None or not APPLICATIONS.parse(number):
        await show_menu(turn)
        return
    result = await turn.services.certificates.request_pdf(identity, turn.user_id, number)
    if isinstance(result, PdfNotFound):
        await show_menu(turn, "stale.button")
    elif isinstance(result, PdfExpired):
        await turn.say("cert.pdf_expired", number=number, when=format_when(result.valid_until, turn.lang))
        await show_menu(turn)
    # Owed: the document itself is the answer (the Telegram outbox sends it once this update has committed).


# /verify -------------------------------------------------------------------------------------------------------

async def start_verify(turn: Turn) -> None:
    if await turn.chosen_lang() is None:
        await ask_language(turn)
        return
    await turn.set_state(VERIFY_NUMBER)
    await turn.say("verify.ask_number", reply_markup=keyboards.cancel_only(turn.t, turn.lang))


async def on_number(turn: Turn, message: Message, data: dict) -> None:
    number = APPLICATIONS.parse(message.text or "")
    if number is None:
        await turn.say("verify.bad_number", reply_markup=keyboards.cancel_only(turn.t, turn.lang))
        return
    await turn.set_state(VERIFY_CODE, {"number": number})
    await turn.say("verify.ask_code", reply_markup=keyboards.cancel_only(turn.t, turn.lang))


async def on_code(turn: Turn, message: Message, data: dict) -> None:
    code = normalize_code(message.text or "")
    if code is None:  # not the shape of a code: a typing slip, not a wrong try
        await turn.say("verify.bad_code", reply_markup=keyboards.cancel_only(turn.t, turn.lang))
        return
    await turn.set_state(VERIFY_STATUS, {"number": data.get("number", ""), "code": code})
    await turn.say("verify.ask_status", reply_markup=status_choice(turn.t, turn.lang))


async def on_status_text(turn: Turn, message: Message, data: dict) -> None:
    await turn.say("verify.press_status", reply_markup=status_choice(turn.t, turn.lang))


async def on_verify_button(turn: Turn, arg: str, state: ChatState) -> None:
    """``vfy`` (the menu row) starts a check; ``vfy:yes`` / ``vfy:no`` is the mark the paper shows."""
    if not arg:
        await start_verify(turn)
        return
    if arg not in ("yes", "no") or state.state != VERIFY_STATUS:
        await show_menu(turn, "stale.button")
        return
    result = await turn.services.certificates.check("telegram", str(turn.user_id), str(state.data.get("number", "")),
                                                    str(state.data.get("code", "")), observed=arg == "yes")
    await turn.send(escape("\n".join(check_lines(turn.t, turn.lang, result, arg == "yes"))))
    await show_menu(turn)


def status_choice(t: Texts, lang: Lang) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(t(lang, "form.observed_yes"), callback_data="vfy:yes"),
         InlineKeyboardButton(t(lang, "form.observed_no"), callback_data="vfy:no")],
        [InlineKeyboardButton(t(lang, "btn.cancel"), callback_data="cancel")],
    ])


async def _verify_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await start_verify(await turn_for(update, context))


def add_handlers(application: Application) -> None:
    """Before the catch-all unknown-command handler."""
    application.add_handler(CommandHandler("verify", _verify_command))


def register() -> None:
    """The PDF button, the check's chat states and buttons, its menu row, the PDF after identification."""
    routes.button("pdf", on_pdf)
    routes.button("vfy", on_verify_button)
    routes.text_state(VERIFY_NUMBER, on_number, hint="verify.ask_number")
    routes.text_state(VERIFY_CODE, on_code, hint="verify.ask_code")
    routes.text_state(VERIFY_STATUS, on_status_text, hint="verify.press_status")
    routes.menu_entry("btn.verify", "vfy", 45)
    routes.after_identity("pdf", pdf_after_identity)
