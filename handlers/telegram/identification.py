"""Identification: the person shares their contact, types their IIN, then the code sent by SMS; after it the
conversation goes on with what they had asked for (registered with routes.after_identity). Also /logout.
"""

from __future__ import annotations

import secrets
from html import escape

from telegram import Message, ReplyKeyboardRemove

from bot.core import otp as otp_
from bot.core.identity import CodeSent, ContactRefused, DirectoryDown, IinRefused
from bot.core.otp import parse_code
from bot.core.registry_info import ConsentRequested
from handlers.telegram import keyboards, routes
from handlers.telegram.menu import show_menu
from handlers.telegram.states import ID_CODE, ID_CONTACT, ID_IIN
from handlers.telegram.turn import Turn


async def require_identity(turn: Turn, then: dict, intro: str = "id.intro", **params: object) -> bool:
    """True when the citizen is identified; otherwise starts identification and remembers what was asked.
    ``intro`` (with ``params``) says why identification is asked for."""
    if await turn.identity() is not None:
        return True
    await turn.set_state(ID_CONTACT, {"then": then})
    await turn.send(escape(turn.text(intro, **params)), keyboards.share_contact(turn.t, turn.lang))
    return False


async def on_contact(turn: Turn, message: Message, data: dict) -> None:
    contact = message.contact
    assert contact is not None
    phone = turn.services.identity.accept_contact(contact.phone_number, contact.user_id, turn.user_id)
    if isinstance(phone, ContactRefused):
        await turn.say(f"id.contact_{phone.reason}", reply_markup=keyboards.share_contact(turn.t, turn.lang))
        return
    await turn.set_state(ID_IIN, {**data, "phone": phone})
    await turn.say("id.ask_iin", reply_markup=ReplyKeyboardRemove())


async def on_iin(turn: Turn, text: str, data: dict) -> None:
    attempt = secrets.token_hex(4)
    sent = await turn.services.identity.send_code(turn.user_id, attempt, data["phone"], text, turn.lang)
    if isinstance(sent, IinRefused):
        await turn.say(f"iin.{sent.reason}", reply_markup=keyboards.cancel_only(turn.t, turn.lang))
        return
    if isinstance(sent, DirectoryDown):  # nothing done, no code spent: the same IIN may be typed again later
        await turn.say("state.directory_down", reply_markup=keyboards.cancel_only(turn.t, turn.lang))
        return
    if isinstance(sent, otp_.TooMany):
        await turn.say("otp.too_many")
        await show_menu(turn)
        return
    if isinstance(sent, otp_.TooSoon):  # cannot happen for a fresh attempt; answered all the same
        await turn.say("otp.too_soon", seconds=sent.wait_seconds)
        return
    assert isinstance(sent, CodeSent)
    await turn.set_state(ID_CODE, {**data, "iin": sent.iin, "attempt": attempt})
    await turn.say("id.code_sent", phone=sent.masked_phone, reply_markup=keyboards.code_entry(turn.t, turn.lang))


async def on_identity_code(turn: Turn, text: str, data: dict) -> None:
    code = parse_code(text)
    if code is None:
        await turn.say("otp.format", reply_markup=keyboards.code_entry(turn.t, turn.lang))
        return
    then = data.get("then") or {}
    ask = routes.ASK_AHEAD.get(str(then.get("action")))
    if ask is not None and await turn.services.identity.code_matches(turn.user_id, data["attempt"], code):
        await ask(turn, then, data["iin"])  # before this update's first write: what follows needs outside systems
    result = await turn.services.identity.confirm(turn.user_id, data["attempt"], data["phone"], data["iin"], code)
    if isinstance(result, otp_.WrongCode):
        await turn.say("otp.wrong", left=result.attempts_left, reply_markup=keyboards.code_entry(turn.t, turn.lang))
        return
    if isinstance(result, otp_.NoValidCode):
        if result.reason == "expired":
            await turn.say("otp.expired", reply_markup=keyboards.code_entry(turn.t, turn.lang))
            return
        await turn.say("otp.locked")
        await show_menu(turn)
        return
    turn.identity_is(result)
    turn.note("id.done")  # leads whatever comes next (the request's result, the next question)
    await continue_after_identity(turn, data.get("then") or {})
    await turn.flush_notes()


async def resend_identity_code(turn: Turn, data: dict) -> None:
    sent = await turn.services.identity.send_code(turn.user_id, data["attempt"], data["phone"], data["iin"],
                                                   turn.lang)
    await answer_resend(turn, sent)


async def answer_resend(turn: Turn, sent: object) -> None:
    if isinstance(sent, otp_.TooSoon):
        await turn.say("otp.too_soon", seconds=sent.wait_seconds, reply_markup=keyboards.code_entry(turn.t, turn.lang))
    elif isinstance(sent, otp_.TooMany):
        await turn.say("otp.too_many", reply_markup=keyboards.code_entry(turn.t, turn.lang))
    elif isinstance(sent, DirectoryDown):
        await turn.say("state.directory_down", reply_markup=keyboards.code_entry(turn.t, turn.lang))
    elif isinstance(sent, (CodeSent, ConsentRequested)):
        await turn.say("otp.resent", phone=sent.masked_phone, reply_markup=keyboards.code_entry(turn.t, turn.lang))
    else:
        await show_menu(turn, "stale.button")


async def continue_after_identity(turn: Turn, then: dict) -> None:
    """Go on with what was asked before identification (registered with routes.after_identity: own and another
    person's request, the status list, complaints), or show the menu."""
    if then.get("action") in routes.AFTER_IDENTITY:
        await routes.AFTER_IDENTITY[then["action"]](turn, then)
    else:
        await show_menu(turn)


async def logout(turn: Turn) -> None:
    await turn.services.identity.logout(turn.user_id)
    turn.identity_is(None)
    await show_menu(turn, "id.logged_out")
