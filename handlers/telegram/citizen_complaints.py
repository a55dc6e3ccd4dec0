"""Complaints in Telegram: file one (addressee, subject, the filer's details, text, an optional photo or
document) and follow one's own complaints (the card with the marks, the due date, the answer).

Each step is a chat state kept in the database with the draft in its data, so a restart continues where the
person was; every button checks that the conversation still stands where the button was shown.
"""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.core import complaints as core
from bot.domain import complaint_status as cs
from bot.domain.iin import mask_iin
from bot.domain.model import ChatState, Complaint
from bot.domain.phone import mask_phone
from handlers.telegram import render, routes
from handlers.telegram.identification import require_identity
from handlers.telegram.menu import show_menu
from handlers.telegram.states import MENU
from handlers.telegram.turn import Turn

CP_ADDRESSEE = "cp_addressee"
CP_SUBJECT = "cp_subject"
CP_PROVIDER = "cp_provider"
CP_DETAILS = "cp_details"
CP_ADDRESS = "cp_address"
CP_TEXT = "cp_text"
CP_FILE = "cp_file"
CP_LOOKUP = "cp_lookup"


def _rows(turn: Turn, rows: list[list[tuple[str, str]]], cancel: bool = True) -> InlineKeyboardMarkup:
    keyboard = [[InlineKeyboardButton(label, callback_data=data[:64]) for label, data in row] for row in rows]
    if cancel:
        keyboard.append([InlineKeyboardButton(turn.text("btn.cancel"), callback_data="cancel")])
    return InlineKeyboardMarkup(keyboard)


def _cancel(turn: Turn) -> InlineKeyboardMarkup:
    return _rows(turn, [])


async def _stale(turn: Turn) -> None:
    await show_menu(turn, "stale.button")


# Filing: addressee ------------------------------------------------------------------------------------

async def start_filing(turn: Turn, arg: str, state: ChatState) -> None:
    """"cpf", or "cpf:<application number>" from an application's card: a complaint about that application
    (its subject is filled in once the addressee is chosen, if the application is still the person's)."""
    about = {"app": arg} if arg else {}
    if not await require_identity(turn, {"action": "complaint", **about}):
        return
    await ask_addressee(turn, about)


async def after_identity_file(turn: Turn, then: dict) -> None:
    await ask_addressee(turn, {"app": then["app"]} if then.get("app") else {})


async def ask_addressee(turn: Turn, draft: dict | None = None) -> None:
    await turn.set_state(CP_ADDRESSEE, draft or {})
    await turn.say("cp.addressee.ask", reply_markup=_rows(turn, [
        [(turn.text("cp.btn.to_provider"), "cpa:provider")],
        [(turn.text("cp.btn.to_quality"), "cpa:quality_authority")]]))


async def on_addressee_text(turn: Turn, message: Message, data: dict) -> None:
    await turn.say("cp.addressee.press")
    await ask_addressee(turn, data)


async def on_addressee(turn: Turn, arg: str, state: ChatState) -> None:
    identity = await turn.identity()
    if state.state != CP_ADDRESSEE or arg not in cs.ADDRESSEES or identity is None:
        await _stale(turn)
        return
    if state.data.get("app"):  # filed from the application's card: its subject is that application
        number = await turn.services.complaints.own_application(identity, turn.user_id, str(state.data["app"]))
        if number is not None:
            await ask_details(turn, {"addressee": arg, "app": number, "provider": None})
            return
    await ask_subject(turn, {"addressee": arg})


# Subject: one of their applications, or a provider without one -------------------------------------------

async def ask_subject(turn: Turn, draft: dict) -> None:
    identity = await turn.identity()
    apps = await turn.services.tracking.mine(identity, turn.user_id)
    await turn.set_state(CP_SUBJECT, draft)
    rows = [[(f"{a.number} · {turn.text(f'service.{a.service}.short')}", f"cps:{a.number}")] for a in apps[:8]]
    rows.append([(turn.text("cp.btn.no_application"), "cps:-")])
    await turn.say("cp.subject.ask" if apps else "cp.subject.ask_none", reply_markup=_rows(turn, rows))


async def on_subject_text(turn: Turn, message: Message, data: dict) -> None:
    await choose_application(turn, (message.text or "")[:60], data)


async def on_subject(turn: Turn, arg: str, state: ChatState) -> None:
    if state.state != CP_SUBJECT or await turn.identity() is None:
        await _stale(turn)
        return
    if arg == "-":
        await turn.set_state(CP_PROVIDER, state.data)
        await turn.say("cp.provider.ask", reply_markup=_cancel(turn))
        return
    await choose_application(turn, arg, state.data)


async def choose_application(turn: Turn, text: str, draft: dict) -> None:
    identity = await turn.identity()
    if identity is None:
        await require_identity(turn, {"action": "complaint"})
        return
    number = await turn.services.complaints.own_application(identity, turn.user_id, text)
    if number is None:  # the same answer for someone else's number as for no such number
        await turn.say("cp.subject.not_found", reply_markup=_rows(turn, [[(turn.text("cp.btn.no_application"),
                                                                           "cps:-")]]))
        return
    await ask_details(turn, {**draft, "app": number, "provider": None})


async def on_provider(turn: Turn, message: Message, data: dict) -> None:
    name = " ".join((message.text or "").split())
    if len(name) < 3:
        await turn.say("cp.provider.too_short", reply_markup=_cancel(turn))
        return
    if len(name) > core.PROVIDER_NAME_LIMIT:
        await turn.say("cp.provider.too_long", limit=core.PROVIDER_NAME_LIMIT, reply_markup=_cancel(turn))
        return
    await ask_details(turn, {**data, "app": None, "provider": name})


# The filer's details, shown and confirmed ------------------------------------------------------------------

async def ask_details(turn: Turn, draft: dict) -> None:
    identity = await turn.identity()
    if identity is None:
        await require_identity(turn, {"action": "complaint"})
        return
    if "name" not in draft:
        applicant = await turn.services.complaints.applicant(identity)
        if applicant is None:  # the directory cannot answer now; nothing is filed half-way
            await show_menu(turn, "state.directory_down")
            return
        draft = {**draft, "name": applicant.full_name, "address": applicant.address, "phone": applicant.phone}
    if not draft.get("address"):
        await turn.set_state(CP_ADDRESS, draft)
        await turn.say("cp.address.ask", reply_markup=_cancel(turn))
        return
    await turn.set_state(CP_DETAILS, draft)
    await turn.say("cp.details.confirm", name=draft["name"], iin=mask_iin(identity.iin), address=draft["address"],
                   phone=mask_phone(draft["phone"]) if draft.get("phone") else "—",
                   reply_markup=_rows(turn, [[(turn.text("cp.btn.details_ok"), "cpd:ok")],
                                             [(turn.text("cp.btn.change_address"), "cpd:addr")]]))


async def on_details_text(turn: Turn, message: Message, data: dict) -> None:
    await turn.say("cp.details.press")
    await ask_details(turn, data)


async def on_details(turn: Turn, arg: str, state: ChatState) -> None:
    if state.state != CP_DETAILS or arg not in ("ok", "addr"):
        await _stale(turn)
        return
    if arg == "addr":
        await turn.set_state(CP_ADDRESS, state.data)
        await turn.say("cp.address.ask", reply_markup=_cancel(turn))
        return
    await turn.set_state(CP_TEXT, state.data)
    await turn.say("cp.text.ask", limit=core.TEXT_LIMIT, reply_markup=_cancel(turn))


async def on_address(turn: Turn, message: Message, data: dict) -> None:
    address = " ".join((message.text or "").split())
    if len(address) < 5 or len(address) > core.ADDRESS_LIMIT:
        await turn.say("cp.address.bad", limit=core.ADDRESS_LIMIT, reply_markup=_cancel(turn))
        return
    await ask_details(turn, {**data, "address": address})


# The text and an optional photo or document ----------------------------------------------------------------

async def on_text(turn: Turn, message: Message, data: dict) -> None:
    text = (message.text or "").strip()
    if len(text) > core.TEXT_LIMIT:
        await turn.say("cp.text.too_long", limit=core.TEXT_LIMIT, length=len(text), reply_markup=_cancel(turn))
        return
    if len(text) < core.TEXT_MIN:
        await turn.say("cp.text.too_short", reply_markup=_cancel(turn))
        return
    await ask_file(turn, {**data, "text": text})


async def ask_file(turn: Turn, draft: dict, key: str = "cp.file.ask") -> None:
    await turn.set_state(CP_FILE, draft)
    await turn.say(key, reply_markup=_rows(turn, [[(turn.text("cp.btn.send"), "cpx:send")]]))


async def on_file(turn: Turn, message: Message, data: dict) -> None:
    if message.photo:
        await ask_file(turn, {**data, "file_id": message.photo[-1].file_id, "file_kind": "photo"}, "cp.file.attached")
    elif message.document is not None:
        await ask_file(turn, {**data, "file_id": message.document.file_id, "file_kind": "document"},
                       "cp.file.attached")
    else:
        await ask_file(turn, data, "cp.file.only_photo")


async def on_file_text(turn: Turn, message: Message, data: dict) -> None:
    await ask_file(turn, data, "cp.file.only_photo")


async def on_send(turn: Turn, arg: str, state: ChatState) -> None:
    identity = await turn.identity()
    if state.state != CP_FILE or arg != "send" or "text" not in state.data:
        await _stale(turn)
        return
    if identity is None:
        await require_identity(turn, {"action": "complaint"})
        return
    d = state.data
    complaint = await turn.services.complaints.file(identity, turn.user_id, core.Draft(
        addressee=d["addressee"], app_number=d.get("app"), provider_name=d.get("provider"), full_name=d["name"],
        address=d["address"], phone=d.get("phone"), body=d["text"], file_id=d.get("file_id"),
        file_kind=d.get("file_kind")))
    await turn.set_state(MENU)
    turn.note("cp.filed", number=complaint.number, due=render.when(complaint.due_at, turn.lang),
              addressee=turn.text(f"cp.addressee.{complaint.addressee}"))
    await show_card(turn, complaint.number)


# Following one's complaints ---------------------------------------------------------------------------------

async def list_mine(turn: Turn, arg: str, state: ChatState) -> None:
    if not await require_identity(turn, {"action": "complaints"}):
        return
    await show_list(turn)


async def after_identity_list(turn: Turn, then: dict) -> None:
    await show_list(turn)


async def show_list(turn: Turn) -> None:
    identity = await turn.identity()
    assert identity is not None
    mine = await turn.services.complaints.mine(identity)
    await turn.set_state(CP_LOOKUP)
    menu = [[InlineKeyboardButton(turn.text("btn.menu"), callback_data="menu")]]
    if not mine:
        await turn.say("cp.list.none", reply_markup=InlineKeyboardMarkup(menu))
        return
    lines = [escape(turn.text("cp.list.title"))]
    lines += [escape(turn.text("cp.list.line", number=c.number, state=turn.text(f"complaint.state.{c.state}"),
                               filed=render.when(c.filed_at, turn.lang))) for c in mine]
    lines.append(escape(turn.text("cp.list.hint")))
    rows = [[InlineKeyboardButton(c.number, callback_data=f"cpv:{c.number}")] for c in mine[:10]]
    await turn.send("\n".join(lines), InlineKeyboardMarkup(rows + menu))


async def on_lookup(turn: Turn, message: Message, data: dict) -> None:
    await show_card(turn, (message.text or "")[:60])


async def on_view(turn: Turn, arg: str, state: ChatState) -> None:
    if await turn.identity() is None:
        await require_identity(turn, {"action": "complaints"})
        return
    await show_card(turn, arg)


async def show_card(turn: Turn, text: str) -> None:
    view = await turn.services.complaints.find(await turn.identity(), text)
    menu = InlineKeyboardMarkup([[InlineKeyboardButton(turn.text("cp.btn.mine"), callback_data="cpl")],
                                 [InlineKeyboardButton(turn.text("btn.menu"), callback_data="menu")]])
    if view is None:
        await turn.say("cp.not_found", reply_markup=menu)
        return
    await turn.send(card(turn, view), menu)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def card(turn: Turn, view: core.View, for_operator: bool = False) -> str:
    """The complaint's card: its marks with their dates, the due date, lateness, the answer, the court note."""
    c: Complaint = view.complaint
    t, lang = turn.text, turn.lang
    lines = [t("cp.card.title", number=c.number), t("cp.card.addressee", addressee=t(f"cp.addressee.{c.addressee}"))]
    if c.app_number:
        lines.append(t("cp.card.about_app", number=c.app_number))
    else:
        lines.append(t("cp.card.about_provider", provider=c.provider_name or ""))
    if c.file_kind:
        lines.append(t(f"cp.card.file_{c.file_kind}"))
    if c.incoming_number:
        lines.append(t("cp.card.incoming_number", incoming=c.incoming_number))
    lines.append(t("cp.card.marks"))
    lines += [t("cp.card.mark", state=t(f"complaint.state.{e.state}"), when=render.when(e.at, lang))
              for e in view.events]
    if c.forward_due_at and c.state in cs.BEFORE_FORWARDING:
        lines.append(t("cp.card.forward_due", due=render.when(c.forward_due_at, lang)))
        if view.forward_late:
            lines.append(t("cp.card.forward_late"))
    lines.append(t("cp.card.due", due=render.when(c.due_at, lang)))
    if view.late:
        lines.append(turn.t.plural(lang, "cp.card.overdue", view.overdue_days) if view.overdue_days
                     else t("cp.card.overdue_today"))
    if for_operator:
        lines += [t("cp.card.filer", name=c.full_name, iin=mask_iin(c.iin)),
                  t("cp.card.text", text=_clip(c.body, 1500))]
    if c.state == cs.ANSWERED:
        lines.append(t("cp.card.answer", text=c.answer or ""))
    elif c.state == cs.REFUSED:
        lines.append(t("cp.card.refusal", text=c.answer or ""))
    elif c.state == cs.SATISFIED:
        lines.append(t("cp.card.satisfied", text=c.answer or ""))
    if not cs.is_open(c.state) and not for_operator:
        lines.append(t("cp.card.court"))
    return escape("\n".join(lines))


def register() -> None:
    """The complaint rows of the main menu, the filing steps (one chat state each) and following one's own."""
    routes.menu_entry("cp.btn.file", "cpf", order=50)
    routes.menu_entry("cp.btn.mine", "cpl", order=55)
    # Filing
    routes.button("cpf", start_filing)
    routes.after_identity("complaint", after_identity_file)
    routes.text_state(CP_ADDRESSEE, on_addressee_text, hint="cp.addressee.press")
    routes.button("cpa", on_addressee)
    routes.text_state(CP_SUBJECT, on_subject_text, hint="cp.subject.ask")
    routes.button("cps", on_subject)
    routes.text_state(CP_PROVIDER, on_provider, hint="cp.provider.ask")
    routes.text_state(CP_DETAILS, on_details_text, hint="cp.details.press")
    routes.button("cpd", on_details)
    routes.text_state(CP_ADDRESS, on_address, hint="cp.address.ask")
    routes.text_state(CP_TEXT, on_text, hint="cp.text.ask_again")
    routes.other_state(CP_FILE, on_file)
    routes.text_state(CP_FILE, on_file_text, hint="cp.file.ask")
    routes.button("cpx", on_send)
    # Following one's complaints
    routes.button("cpl", list_mine)
    routes.after_identity("complaints", after_identity_list)
    routes.text_state(CP_LOOKUP, on_lookup, hint="cp.list.hint")
    routes.button("cpv", on_view)
