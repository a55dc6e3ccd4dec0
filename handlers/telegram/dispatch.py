"""The citizen's conversation in Telegram, dispatched: a text, another kind of message or a button goes to the
handler of the step the conversation is in (steps.py; kept in the database) — the core conversation's steps
here, the steps and buttons features registered in routes.py after them.

Handlers only translate: a message or a button becomes a core call, the result a localized reply.
"""

from __future__ import annotations

from telegram import Message

from bot.core.applications import looks_like_number
from bot.domain.catalog import REGISTRY_SERVICES, SERVICES
from bot.domain.iin import InvalidIIN, parse_iin
from handlers.telegram import keyboards, routes, steps
from handlers.telegram.guide import service_guide, services_menu_labels
from handlers.telegram.identification import (
    logout,
    on_contact,
    on_identity_code,
    on_iin,
    require_identity,
    resend_identity_code,
)
from handlers.telegram.menu import ask_language, choose_language, help_text, show_menu
from handlers.telegram.registry_requests import (
    ask_subject_iin,
    cabinet_decision,
    on_consent_code,
    on_subject_iin,
    own_request,
    resend_consent_code,
)
from handlers.telegram.status import status_list, status_of
from handlers.telegram.steps import (
    ChoosingLanguage,
    Menu,
    SharingContact,
    TypingConsentCode,
    TypingIdentityCode,
    TypingIin,
    TypingSubjectIin,
)
from handlers.telegram.turn import Turn


def _is_iin(text: str) -> bool:
    """Typed as an IIN is (spaces and hyphens between groups allowed: the domain's one reading of it)."""
    try:
        parse_iin(text)
    except InvalidIIN:
        return False
    return True


async def on_text(turn: Turn, message: Message) -> None:
    step = await steps.current(turn)
    text = message.text or ""
    if text.strip() in {turn.services.texts(lang, "btn.cancel") for lang in ("kk", "ru")}:
        await show_menu(turn, "flow.cancelled")
        return
    if isinstance(step, ChoosingLanguage) or await turn.chosen_lang() is None:
        await ask_language(turn)
    elif isinstance(step, SharingContact):
        await turn.say("id.press_button", reply_markup=keyboards.share_contact(turn.t, turn.lang))
    elif isinstance(step, TypingIin):
        await on_iin(turn, text, step)
    elif isinstance(step, TypingIdentityCode):
        await on_identity_code(turn, text, step)
    elif isinstance(step, TypingSubjectIin):
        await on_subject_iin(turn, text, step)
    elif isinstance(step, TypingConsentCode):
        await on_consent_code(turn, text, step)
    elif step.NAME in routes.TEXT_STATES:
        await routes.TEXT_STATES[step.NAME](turn, message, step)
    elif looks_like_number(text):
        await status_of(turn, text)
    elif _is_iin(text) and await turn.identity() is None:
        # An IIN typed at the menu: the person means to prove who they are, which starts with their phone.
        await require_identity(turn, None, "id.iin_at_menu")
    else:
        await show_menu(turn, "menu.hint")


async def on_other_message(turn: Turn, message: Message) -> None:
    """A photo, a sticker, a file, a contact where none is expected: a hint for where the person stands."""
    step = await steps.current(turn)
    if message.contact is not None and isinstance(step, SharingContact):
        await on_contact(turn, message, step)
        return
    if message.contact is not None and isinstance(step, Menu) and await turn.chosen_lang() is not None:
        # Sharing one's contact at the menu, as Telegram offers anywhere: it is the first step of identification.
        if await turn.identity() is None:
            await on_contact(turn, message, SharingContact())
        else:
            await show_menu(turn, "id.contact_not_needed")
        return
    if step.NAME in routes.OTHER_STATES:
        await routes.OTHER_STATES[step.NAME](turn, message, step)
        return
    if isinstance(step, ChoosingLanguage) or await turn.chosen_lang() is None:
        await ask_language(turn)
        return
    hint = {
        SharingContact.NAME: "id.press_button", TypingIin.NAME: "id.ask_iin", TypingIdentityCode.NAME: "otp.format",
        TypingSubjectIin.NAME: "tp.ask_iin_again", TypingConsentCode.NAME: "otp.format", **routes.STATE_HINTS,
    }.get(step.NAME)
    if hint:
        if message.contact is None:  # a contact is neither a file nor an image: only the step's own hint
            await turn.say("input.text_only")
        markup = keyboards.share_contact(turn.t, turn.lang) if isinstance(step, SharingContact) else None
        await turn.say(hint, reply_markup=markup)
    else:
        await show_menu(turn, "input.text_only")


async def on_button(turn: Turn, data: str) -> None:
    step = await steps.current(turn)
    action, _, arg = data.partition(":")
    if action == "lang" and arg in ("kk", "ru"):
        await choose_language(turn, arg)
    elif await turn.chosen_lang() is None:
        await ask_language(turn)
    elif action in ("menu", "cancel"):
        await show_menu(turn, "flow.cancelled" if action == "cancel" and not isinstance(step, Menu) else "menu.title")
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
    elif action == "resend" and isinstance(step, TypingIdentityCode):
        await resend_identity_code(turn, step)
    elif action == "resend" and isinstance(step, TypingConsentCode):
        await resend_consent_code(turn, step)
    elif action in ("cy", "cn") and arg:
        await cabinet_decision(turn, arg, action == "cy")
    elif action in routes.BUTTONS:
        await routes.BUTTONS[action](turn, arg, step)
    else:
        await show_menu(turn, "stale.button")
