"""Certificates in Telegram: the «PDF» and «Share» buttons under a certificate, the holder's share links (made,
shown as a link and a QR code, revoked), and /verify — anyone (an employer) checks a certificate by its number
and its verification code, which tell when it was issued, about whom and until when, never the mark.

The rules are in the core (bot/core/certificates.py); here a button or a message becomes a core call and the
result a localized reply.
"""

from __future__ import annotations

from html import escape
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.core.certificate_shares import LIFETIMES
from bot.core.certificates import PdfExpired, PdfNotFound
from bot.domain.numbers import APPLICATIONS
from bot.domain.verification import normalize_code
from bot.i18n import Lang, Texts, format_when
from handlers.check_answer import check_lines
from handlers.telegram import keyboards, routes, steps
from handlers.telegram.identification import require_identity
from handlers.telegram.menu import ask_language, show_menu
from handlers.telegram.steps import Step, Then
from handlers.telegram.turn import Turn, turn_for

SHARE = "shr"          # "shr:<number>" asks for how long, "shr:<number>:<lifetime>" makes the link
SHARE_REVOKE = "shx"   # "shx:<share id>" withdraws a link


@steps.step
class VerifyNumber(Step):
    """/verify: the certificate's number, typed."""
    NAME = "verify_number"


@steps.step
class VerifyCode(Step):
    """/verify: its verification code, typed."""
    NAME = "verify_code"
    number: str = ""


@steps.then
class Pdf(Then):
    ACTION = "pdf"
    number: str = ""


@steps.then
class Share(Then):
    ACTION = "share"
    number: str = ""
    lifetime: str = ""


@steps.then
class RevokeShare(Then):
    ACTION = "share_revoke"
    share: str = ""


# The PDF -------------------------------------------------------------------------------------------------------

async def on_pdf(turn: Turn, number: str, step: Step) -> None:
    """Only the holder or the requester, identified, within the validity; anyone else — a forwarded screenshot's
    button does not exist, but a forged callback might — gets the stale-button answer."""
    if not APPLICATIONS.parse(number):
        await show_menu(turn, "stale.button")
        return
    if not await require_identity(turn, Pdf(number=number)):
        return
    await pdf_after_identity(turn, Pdf(number=number))


async def pdf_after_identity(turn: Turn, then: Pdf) -> None:
    identity = await turn.identity()
    number = then.number
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
    await steps.go(turn, VerifyNumber())
    await turn.say("verify.ask_number", reply_markup=keyboards.cancel_only(turn.t, turn.lang))


async def on_number(turn: Turn, message: Message, step: VerifyNumber) -> None:
    number = APPLICATIONS.parse(message.text or "")
    if number is None:
        await turn.say("verify.bad_number", reply_markup=keyboards.cancel_only(turn.t, turn.lang))
        return
    await steps.go(turn, VerifyCode(number=number))
    await turn.say("verify.ask_code", reply_markup=keyboards.cancel_only(turn.t, turn.lang))


async def on_code(turn: Turn, message: Message, step: VerifyCode) -> None:
    code = normalize_code(message.text or "")
    if code is None:  # not the shape of a code: a typing slip, not a wrong try
        await turn.say("verify.bad_code", reply_markup=keyboards.cancel_only(turn.t, turn.lang))
        return
    result = await turn.services.certificates.check("telegram", str(turn.user_id), step.number, code)
    await turn.send(escape("\n\n".join(check_lines(turn.t, turn.lang, result))))
    await show_menu(turn)


async def on_verify_button(turn: Turn, arg: str, step: Step) -> None:
    """``vfy`` (the menu row) starts a check; anything else is a button of an older version of the check."""
    if arg:
        await show_menu(turn, "stale.button")
        return
    await start_verify(turn)


# Share links ---------------------------------------------------------------------------------------------------

async def on_share(turn: Turn, arg: str, step: Step) -> None:
    """``shr:<number>``: for how long; ``shr:<number>:<lifetime>``: the link, once the holder is identified."""
    number, _, lifetime = arg.partition(":")
    if not APPLICATIONS.parse(number) or (lifetime and lifetime not in LIFETIMES):
        await show_menu(turn, "stale.button")
        return
    if not lifetime:
        await turn.say("share.ask_lifetime", number=number, reply_markup=lifetimes(turn.t, turn.lang, number))
        return
    if not await require_identity(turn, Share(number=number, lifetime=lifetime)):
        return
    await share_after_identity(turn, Share(number=number, lifetime=lifetime))


async def share_after_identity(turn: Turn, then: Share) -> None:
    identity = await turn.identity()
    number, lifetime = then.number, then.lifetime
    if identity is None or not APPLICATIONS.parse(number):
        await show_menu(turn)
        return
    result = await turn.services.shares.create(identity, number, lifetime)
    if isinstance(result, PdfNotFound):
        await show_menu(turn, "stale.button")
    elif isinstance(result, PdfExpired):
        await turn.say("share.expired", number=number, when=format_when(result.valid_until, turn.lang))
        await show_menu(turn)
    else:
        revoke = InlineKeyboardMarkup([[InlineKeyboardButton(turn.text("share.btn.revoke"),
                                                             callback_data=f"{SHARE_REVOKE}:{result.share_id}")],
                                       [InlineKeyboardButton(turn.text("btn.menu"), callback_data="menu")]])
        # The link carries its secret: it goes to this chat only, as text and as a QR code to show from the phone.
        await turn.send(escape(turn.text("share.made", number=number, url=result.url,
                                         until=format_when(result.expires_at, turn.lang))),
                        revoke, qr=result.url)


async def on_share_revoke(turn: Turn, arg: str, step: Step) -> None:
    if not arg:
        await show_menu(turn, "stale.button")
        return
    identity = await turn.identity()
    if identity is None:
        await require_identity(turn, RevokeShare(share=arg))
        return
    await revoke_after_identity(turn, RevokeShare(share=arg))


async def revoke_after_identity(turn: Turn, then: RevokeShare) -> None:
    identity = await turn.identity()
    if identity is None:
        await show_menu(turn)
        return
    if await turn.services.shares.revoke(identity, then.share):
        await turn.say("share.revoked")
    else:
        await turn.say("share.not_active")
    await show_menu(turn)


def lifetimes(t: Texts, lang: Lang, number: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(t(lang, f"share.btn.{name}"), callback_data=f"{SHARE}:{number}:{name}")]
        for name in LIFETIMES
    ] + [[InlineKeyboardButton(t(lang, "btn.cancel"), callback_data="cancel")]])


async def _verify_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await start_verify(await turn_for(update, context))


def add_handlers(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Before the catch-all unknown-command handler."""
    application.add_handler(CommandHandler("verify", _verify_command))


def register() -> None:
    """The PDF and share buttons, the check's chat states, its menu row, and what follows identification."""
    routes.button("pdf", on_pdf)
    routes.button("vfy", on_verify_button)
    routes.button(SHARE, on_share)
    routes.button(SHARE_REVOKE, on_share_revoke)
    routes.text_state(VerifyNumber, on_number, hint="verify.ask_number")
    routes.text_state(VerifyCode, on_code, hint="verify.ask_code")
    routes.menu_entry("btn.verify", "vfy", 45)
    routes.after_identity(Pdf, pdf_after_identity)
    routes.after_identity(Share, share_after_identity)
    routes.after_identity(RevokeShare, revoke_after_identity)
