"""The citizen's conversation in Telegram, dispatched: a text, another kind of message or a button goes to the
handler of the state the chat is in (the state is kept in the database) — the core conversation's states here,
the states and buttons features registered in routes.py after them.

Handlers only translate: a message or a button becomes a core call, the result a localized reply.
"""

from __future__ import annotations

from telegram import Message

from bot.core.applications import looks_like_number
from bot.domain.catalog import REGISTRY_SERVICES, SERVICES
from handlers.telegram import keyboards, routes
from handlers.telegram.guide import service_guide, services_menu_labels
from handlers.telegram.identification import logout, on_contact, on_identity_code, on_iin, resend_identity_code
from handlers.telegram.menu import ask_language, choose_language, help_text, show_menu
from handlers.telegram.registry_requests import (
    ask_subject_iin,
    cabinet_decision,
    on_consent_code,
    on_subject_iin,
    own_request,
    resend_consent_code,
)
from handlers.telegram.states import ID_CODE, ID_CONTACT, ID_IIN, LANG, MENU, TP_CODE, TP_IIN
from handlers.telegram.status import status_list, status_of
from handlers.telegram.turn import Turn


async def on_text(turn: Turn, message: Message) -> None:
    state = await turn.chat_state()
    text = message.text or ""
    if text.strip() in {turn.services.texts(lang, "btn.cancel") for lang in ("kk", "ru")}:
        await show_menu(turn, "flow.cancelled")
        return
    if state.state == LANG or await turn.chosen_lang() is None:
        await ask_language(turn)
    elif state.state == ID_CONTACT:
        await turn.say("id.press_button", reply_markup=keyboards.share_contact(turn.t, turn.lang))
    elif state.state == ID_IIN:
        await on_iin(turn, text, state.data)
    elif state.state == ID_CODE:
        await on_identity_code(turn, text, state.data)
    elif state.state == TP_IIN:
        await on_subject_iin(turn, text, state.data)
    elif state.state == TP_CODE:
        await on_consent_code(turn, text, state.data)
    elif state.state in routes.TEXT_STATES:
        await routes.TEXT_STATES[state.state](turn, message, state.data)
    elif looks_like_number(text):
        await status_of(turn, text)
    else:
        await show_menu(turn, "menu.hint")


async def on_other_message(turn: Turn, message: Message) -> None:
    """A photo, a sticker, a file, a contact where none is expected: a hint for where the person stands."""
    state = await turn.chat_state()
    if message.contact is not None and state.state == ID_CONTACT:
        await on_contact(turn, message, state.data)
        return
    if state.state in routes.OTHER_STATES:
        await routes.OTHER_STATES[state.state](turn, message, state.data)
        return
    if state.state == LANG or await turn.chosen_lang() is None:
        await ask_language(turn)
        return
    hint = {
        ID_CONTACT: "id.press_button", ID_IIN: "id.ask_iin", ID_CODE: "otp.format", TP_IIN: "tp.ask_iin_again",
        TP_CODE: "otp.format", **routes.STATE_HINTS,
    }.get(state.state)
    if hint:
        await turn.say("input.text_only")
        markup = keyboards.share_contact(turn.t, turn.lang) if state.state == ID_CONTACT else None
        await turn.say(hint, reply_markup=markup)
    else:
        await show_menu(turn, "input.text_only")


async def on_button(turn: Turn, data: str) -> None:
    state = await turn.chat_state()
    action, _, arg = data.partition(":")
    if action == "lang" and arg in ("kk", "ru"):
        await choose_language(turn, arg)
    elif await turn.chosen_lang() is None:
        await ask_language(turn)
    elif action in ("menu", "cancel"):
        await show_menu(turn, "flow.cancelled" if action == "cancel" and state.state != MENU else "menu.title")
    elif action == "language":
        await ask_language(turn)
    elif action == "help":
        await help_text(turn)
    elif action == "status":
        await status_list(turn)
    elif action == "guide" and not arg:
        await turn.say("guide.choose", reply_markup=keyboards.guide(turn.t, turn.lang,
                                                                     services_menu_labels(turn.t, turn.lang)))
    elif action == "guide" and arg in SERVICES:
        await turn.send(service_guide(turn.t, turn.lang, arg), keyboards.guide(
            turn.t, turn.lang, services_menu_labels(turn.t, turn.lang)))
    elif action == "app":
        await status_of(turn, arg)
    elif action == "logout":
        await logout(turn)
    elif action in ("own", "other") and not arg:
        await turn.say("services.choose", reply_markup=keyboards.services(turn.t, turn.lang, action))
    elif action == "own" and arg in REGISTRY_SERVICES:
        await own_request(turn, arg)
    elif action == "other" and arg in REGISTRY_SERVICES:
        await ask_subject_iin(turn, arg)
    elif action == "resend" and state.state == ID_CODE:
        await resend_identity_code(turn, state.data)
    elif action == "resend" and state.state == TP_CODE:
        await resend_consent_code(turn, state.data)
    elif action in ("cy", "cn") and arg:
        await cabinet_decision(turn, arg, action == "cy")
    elif action in routes.BUTTONS:
        await routes.BUTTONS[action](turn, arg, state)
    else:
        await show_menu(turn, "stale.button")
