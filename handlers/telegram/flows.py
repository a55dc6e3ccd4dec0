"""The citizen's conversation in Telegram: one small function per state, the state kept in the database.

Handlers only translate: a message or a button becomes a core call, the result a localized reply.
"""

from __future__ import annotations

import logging
import secrets
from html import escape

from telegram import InlineKeyboardMarkup, Message, ReplyKeyboardRemove

from bot.core import otp as otp_
from bot.core.applications import looks_like_number
from bot.core.conversation import AWAITING_CONSENT_CODE, MENU
from bot.core.identity import CodeSent, ContactRefused, IinRefused
from bot.core.otp import parse_code
from bot.core.registry_info import (Certificate, ConsentRequested, Delivered, NotAllowed, NotPending, OwnIin,
                                    Refused)
from bot.core.guide import service_guide, services_menu_labels
from bot.domain.application_status import is_open
from bot.domain.catalog import REGISTRY_SERVICES, SERVICES
from bot.domain.deadlines import overdue_working_days
from bot.i18n import as_lang
from bot.services import Services
from handlers.telegram import keyboards, render, routes
from handlers.telegram.turn import Turn
from bot.domain.model import UserSnapshot

log = logging.getLogger(__name__)

# Conversation states (MENU and TP_CODE are the ones the core itself changes: bot/core/conversation.py).
LANG = "lang"
ID_CONTACT = "id_contact"
ID_IIN = "id_iin"
ID_CODE = "id_code"
TP_IIN = "tp_iin"
TP_CODE = AWAITING_CONSENT_CODE


# Menu and language -----------------------------------------------------------------------------------

async def show_menu(turn: Turn, intro_key: str = "menu.title") -> None:
    identified = await turn.identity() is not None
    await turn.set_state(MENU)
    await turn.say(intro_key, reply_markup=await menu_keyboard(turn.services, turn.user_id, turn.lang, identified,
                                                               turn.known))


async def menu_keyboard(services: Services, user_id: int, lang: str, identified: bool,
                        known: UserSnapshot | None = None) -> InlineKeyboardMarkup:
    """The main menu with the rows registered by feature modules that this person may see."""
    extra = [(entry.order, services.texts(lang, entry.label_key), entry.callback_data) for entry in routes.MENU
             if entry.visible is None or await entry.visible(services, user_id, identified, known)]
    return keyboards.menu(services.texts, as_lang(lang), identified, extra)


async def ask_language(turn: Turn) -> None:
    await turn.set_state(LANG)
    await turn.send(escape(turn.services.texts("kk", "lang.choose") + "\n" + turn.services.texts("ru", "lang.choose")),
                    keyboards.language())


async def start(turn: Turn) -> None:
    if turn.known is None or turn.known.blocked:  # writing again after blocking the bot: messages reach them
        await turn.services.subscriptions.clear_blocked(turn.user_id)
    if await turn.chosen_lang() is None:
        await ask_language(turn)
    else:
        await show_menu(turn, "menu.welcome")


async def choose_language(turn: Turn, lang: str) -> None:
    await turn.set_language(as_lang(lang))
    turn.note("lang.set")
    await show_menu(turn, "menu.welcome")


async def help_text(turn: Turn) -> None:
    await turn.say("help.text", reply_markup=keyboards.back_to_menu(turn.t, turn.lang))


# Identification -----------------------------------------------------------------------------------------

async def require_identity(turn: Turn, then: dict) -> bool:
    """True when the citizen is identified; otherwise starts identification and remembers what was asked."""
    if await turn.identity() is not None:
        return True
    await turn.set_state(ID_CONTACT, {"then": then})
    await turn.say("id.intro", reply_markup=keyboards.share_contact(turn.t, turn.lang))
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
    elif isinstance(sent, (CodeSent, ConsentRequested)):
        await turn.say("otp.resent", phone=sent.masked_phone, reply_markup=keyboards.code_entry(turn.t, turn.lang))
    else:
        await show_menu(turn, "stale.button")


async def continue_after_identity(turn: Turn, then: dict) -> None:
    service = then.get("service")
    if then.get("action") == "own" and service in REGISTRY_SERVICES:
        await own_request(turn, service)
    elif then.get("action") == "other" and service in REGISTRY_SERVICES:
        await ask_subject_iin(turn, service)
    elif then.get("action") == "status":
        await status_list(turn)
    elif then.get("action") in routes.AFTER_IDENTITY:
        await routes.AFTER_IDENTITY[then["action"]](turn, then)
    else:
        await show_menu(turn)


# Own request --------------------------------------------------------------------------------------------

async def own_request(turn: Turn, service: str) -> None:
    if not await require_identity(turn, {"action": "own", "service": service}):
        return
    identity = await turn.identity()
    assert identity is not None
    delivered = await turn.services.registry_info.request_own(identity, turn.user_id, service)
    # "Request No. … accepted … Result:" heads the protected result itself: one message, not two.
    turn.note("request.accepted", number=delivered.app.number, due=render.when(delivered.app.due_at, turn.lang))
    await deliver(turn, delivered.certificate)
    await show_menu(turn)


async def deliver(turn: Turn, certificate: Certificate) -> None:
    await turn.send(render.certificate(turn.t, turn.lang, certificate), protect=True,
                    certificate=certificate.number)


# Another person's information ---------------------------------------------------------------------------

async def ask_subject_iin(turn: Turn, service: str) -> None:
    if not await require_identity(turn, {"action": "other", "service": service}):
        return
    await turn.set_state(TP_IIN, {"service": service})
    await turn.say("tp.ask_iin", service=turn.text(f"service.{service}.short"),
                   reply_markup=keyboards.cancel_only(turn.t, turn.lang))


async def on_subject_iin(turn: Turn, text: str, data: dict) -> None:
    identity = await turn.identity()
    if identity is None:
        await require_identity(turn, {"action": "other", "service": data["service"]})
        return
    result = await turn.services.registry_info.submit_third_party(identity, turn.user_id, data["service"], text,
                                                                 turn.lang)
    if isinstance(result, IinRefused):
        await turn.say(f"iin.{result.reason}", reply_markup=keyboards.cancel_only(turn.t, turn.lang))
    elif isinstance(result, OwnIin):
        await turn.say("tp.own_iin")
        await own_request(turn, data["service"])
    elif isinstance(result, otp_.TooMany):
        await turn.say("tp.too_many")
        await show_menu(turn)
    elif isinstance(result, Refused):
        await turn.say("tp.no_phone", number=result.app.number, ground=turn.text("refusal.no_consent"))
        await show_menu(turn)
    else:
        assert isinstance(result, ConsentRequested)
        await turn.set_state(TP_CODE, {"number": result.app.number})
        await turn.say("tp.code_sent", number=result.app.number, phone=result.masked_phone,
                       due=render.when(result.expires_at, turn.lang),
                       reply_markup=keyboards.code_entry(turn.t, turn.lang))


async def on_consent_code(turn: Turn, text: str, data: dict) -> None:
    code = parse_code(text)
    if code is None:
        await turn.say("otp.format", reply_markup=keyboards.code_entry(turn.t, turn.lang))
        return
    identity = await turn.identity()
    if identity is None:
        await turn.say("id.expired")
        await show_menu(turn)
        return
    result = await turn.services.registry_info.confirm_with_code(identity, turn.user_id, data["number"], code)
    await answer_consent_result(turn, result)


async def answer_consent_result(turn: Turn, result: object) -> None:
    if isinstance(result, otp_.WrongCode):
        await turn.say("otp.wrong", left=result.attempts_left, reply_markup=keyboards.code_entry(turn.t, turn.lang))
    elif isinstance(result, otp_.NoValidCode):
        await turn.say("otp.expired", reply_markup=keyboards.code_entry(turn.t, turn.lang))
    elif isinstance(result, Delivered):
        await turn.say("tp.consent_given", number=result.app.number)
        await deliver(turn, result.certificate)
        await show_menu(turn)
    elif isinstance(result, Refused):
        await turn.say(f"tp.refused_{result.note}", number=result.app.number, ground=turn.text("refusal.no_consent"))
        await show_menu(turn)
    else:
        assert isinstance(result, NotPending)
        await show_menu(turn, "tp.not_pending")


async def resend_consent_code(turn: Turn, data: dict) -> None:
    identity = await turn.identity()
    if identity is None:
        await turn.say("id.expired")
        await show_menu(turn)
        return
    sent = await turn.services.registry_info.resend_consent_code(identity, turn.user_id, data["number"], turn.lang)
    await answer_resend(turn, sent)


async def cabinet_decision(turn: Turn, number: str, consents: bool) -> None:
    """The data subject pressed Consent / Decline in their own chat. Anyone else — a stale or forged button,
    an unverified chat — gets the stale-button answer, whether the request exists or not."""
    result = await turn.services.registry_info.decide_as_subject(await turn.identity(), number, consents)
    if isinstance(result, NotAllowed):
        await show_menu(turn, "stale.button")
        return
    close_offer(turn)
    if isinstance(result, NotPending):
        await show_menu(turn, "tp.not_pending")
        return
    await turn.say("cabinet.given" if consents else "cabinet.declined", number=number)
    await show_menu(turn)


def close_offer(turn: Turn) -> None:
    """Take the Consent / Decline buttons off the offer once it is decided, so they cannot be pressed again."""
    query = turn.update.callback_query
    if query is not None and query.message is not None:
        turn.after_commit(lambda: query.edit_message_reply_markup(reply_markup=None))


async def logout(turn: Turn) -> None:
    await turn.services.identity.logout(turn.user_id)
    turn.identity_is(None)
    await show_menu(turn, "id.logged_out")


# Status -------------------------------------------------------------------------------------------------

async def status_list(turn: Turn) -> None:
    identity = await turn.identity()
    apps = await turn.services.tracking.mine(identity, turn.user_id)
    await turn.set_state(MENU)
    if not apps:
        key = "status.none" if identity else "status.none_identify"
        await turn.say(key, reply_markup=keyboards.back_to_menu(turn.t, turn.lang))
        return
    lines = [escape(turn.text("status.list_title"))]
    lines += [render.application_line(turn.t, turn.lang, app) for app in apps]
    lines.append(escape(turn.text("status.list_hint")))
    await turn.send("\n".join(lines), keyboards.applications(turn.t, turn.lang, [a.number for a in apps]))


async def status_of(turn: Turn, text: str) -> None:
    identity = await turn.identity()
    found = await turn.services.tracking.find(identity, turn.user_id, text)
    if found is None:
        await turn.say("status.not_found", reply_markup=keyboards.back_to_menu(turn.t, turn.lang))
        return
    app, events = found
    now = turn.services.clock.now()
    late = (overdue_working_days(app.due_at, now, turn.services.calendar)
            if is_open(app.status) and now > app.due_at else None)
    await turn.send(render.application_card(turn.t, turn.lang, app, events, overdue_days=late),
                    keyboards.back_to_menu(turn.t, turn.lang))


# Dispatch -----------------------------------------------------------------------------------------------

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
