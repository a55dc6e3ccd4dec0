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
from handlers.telegram import keyboards, routes, steps
from handlers.telegram.menu import show_menu
from handlers.telegram.steps import SharingContact, Then, TypingIdentityCode, TypingIin
from handlers.telegram.turn import Turn


async def require_identity(turn: Turn, then: Then | None, intro: str = "id.intro", **params: object) -> bool:
    """True when the citizen is identified; otherwise starts identification and remembers what was asked.
    ``intro`` (with ``params``) says why identification is asked for."""
    if await turn.identity() is not None:
        return True
    await steps.go(turn, SharingContact(then=then))
    await turn.send(escape(turn.text(intro, **params)), keyboards.share_contact(turn.t, turn.lang))
    return False


async def on_contact(turn: Turn, message: Message, step: SharingContact) -> None:
    contact = message.contact
    assert contact is not None
    phone = turn.services.identity.accept_contact(contact.phone_number, contact.user_id, turn.user_id)
    if isinstance(phone, ContactRefused):
        await turn.say(f"id.contact_{phone.reason}", reply_markup=keyboards.share_contact(turn.t, turn.lang))
        return
    await steps.go(turn, TypingIin(then=step.then, phone=phone))
    await turn.say("id.ask_iin", reply_markup=ReplyKeyboardRemove())


async def on_iin(turn: Turn, text: str, step: TypingIin) -> None:
    attempt = secrets.token_hex(4)
    sent = await turn.services.identity.send_code(turn.user_id, attempt, step.phone, text, turn.lang)
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
    await steps.go(turn, TypingIdentityCode(then=step.then, phone=step.phone, iin=sent.iin, attempt=attempt))
    await turn.say("id.code_sent", phone=sent.masked_phone, reply_markup=keyboards.code_entry(turn.t, turn.lang))


async def on_identity_code(turn: Turn, text: str, step: TypingIdentityCode) -> None:
    code = parse_code(text)
    if code is None:
        await turn.say("otp.format", reply_markup=keyboards.code_entry(turn.t, turn.lang))
        return
    ask = routes.ASK_AHEAD.get(step.then.ACTION) if step.then is not None else None
    if ask is not None and await turn.services.identity.code_matches(turn.user_id, step.attempt, code):
        await ask(turn, step.then, step.iin)  # before this update's first write: what follows needs outside systems
    result = await turn.services.identity.confirm(turn.user_id, step.attempt, step.phone, step.iin, code)
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
    await continue_after_identity(turn, step.then)
    await turn.flush_notes()


async def resend_identity_code(turn: Turn, step: TypingIdentityCode) -> None:
    sent = await turn.services.identity.send_code(turn.user_id, step.attempt, step.phone, step.iin, turn.lang)
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


async def continue_after_identity(turn: Turn, then: Then | None) -> None:
    """Go on with what was asked before identification (registered with routes.after_identity: own and another
    person's request, the status list, complaints), or show the menu."""
    fn = routes.AFTER_IDENTITY.get(then.ACTION) if then is not None else None
    if fn is not None:
        await fn(turn, then)
    else:
        await show_menu(turn)


async def logout(turn: Turn) -> None:
    await turn.services.identity.logout(turn.user_id)
    turn.identity_is(None)
    await show_menu(turn, "id.logged_out")
