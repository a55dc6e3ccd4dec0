"""Complaints in Telegram: file one (addressee, subject, the filer's details, text, an optional photo or
document) and follow one's own complaints (the card with the marks, the due date, the answer).

Each step is a typed step (steps.py) kept in the database with the draft so far, so a restart continues where
the person was; every button checks that the conversation still stands where the button was shown. What a
complaint may be (the provider's name, the address, the text, the attachment) is the core's rule
(bot/core/complaints.py): each answer is checked with it as it is typed.
"""

from __future__ import annotations

from html import escape
from typing import TypeVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.core import complaints as core
from bot.domain import complaint_status as cs
from bot.domain.iin import mask_iin
from bot.domain.model import Complaint
from bot.domain.phone import mask_phone
from handlers.telegram import render, routes, steps
from handlers.telegram.identification import require_identity
from handlers.telegram.menu import show_menu
from handlers.telegram.steps import Menu, Step, Then
from handlers.telegram.turn import Turn

# The steps of filing, each with the draft so far ------------------------------------------------------------


@steps.step
class CpAddressee(Step):
    """Which addressee; ``app``: filed from that application's card."""
    NAME = "cp_addressee"
    app: str | None = None


@steps.step
class CpSubject(Step):
    """Which of their applications it is about (or none: a provider)."""
    NAME = "cp_subject"
    addressee: str


@steps.step
class CpProvider(Step):
    """The provider's name, typed."""
    NAME = "cp_provider"
    addressee: str


class Filing(Step):
    """A complaint being filed, once its subject is known: the addressee, the application or the provider, and
    the filer's details from the directory (``name`` None: not read yet)."""
    addressee: str
    app: str | None = None
    provider: str | None = None
    name: str | None = None
    address: str = ""
    phone: str | None = None

    def at(self, step: type[F]) -> F:
        """The same draft in another step (what that step adds still empty)."""
        return step.model_validate(self.model_dump(include=set(Filing.model_fields)))


F = TypeVar("F", bound=Filing)


@steps.step
class CpDetails(Filing):
    """The filer's details shown, to be confirmed."""
    NAME = "cp_details"


@steps.step
class CpAddress(Filing):
    """The postal address, typed."""
    NAME = "cp_address"


@steps.step
class CpText(Filing):
    """The complaint's text, typed."""
    NAME = "cp_text"


@steps.step
class CpFile(Filing):
    """An optional photo or document, then Send."""
    NAME = "cp_file"
    text: str
    file_id: str | None = None
    file_kind: str | None = None


@steps.step
class CpLookup(Step):
    """The list of one's complaints shown: a number typed opens its card."""
    NAME = "cp_lookup"


@steps.then
class FileComplaint(Then):
    """Filing asked before identification (``app``: from that application's card)."""
    ACTION = "complaint"
    app: str | None = None


@steps.then
class MyComplaints(Then):
    ACTION = "complaints"


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

async def start_filing(turn: Turn, arg: str, step: Step) -> None:
    """"cpf", or "cpf:<application number>" from an application's card: a complaint about that application
    (its subject is filled in once the addressee is chosen, if the application is still the person's)."""
    if not await require_identity(turn, FileComplaint(app=arg or None)):
        return
    await ask_addressee(turn, CpAddressee(app=arg or None))


async def after_identity_file(turn: Turn, then: FileComplaint) -> None:
    await ask_addressee(turn, CpAddressee(app=then.app))


async def ask_addressee(turn: Turn, step: CpAddressee) -> None:
    await steps.go(turn, step)
    await turn.say("cp.addressee.ask", reply_markup=_rows(turn, [
        [(turn.text("cp.btn.to_provider"), "cpa:provider")],
        [(turn.text("cp.btn.to_quality"), "cpa:quality_authority")]]))


async def on_addressee_text(turn: Turn, message: Message, step: CpAddressee) -> None:
    await turn.say("cp.addressee.press")
    await ask_addressee(turn, step)


async def on_addressee(turn: Turn, arg: str, step: Step) -> None:
    identity = await turn.identity()
    if not isinstance(step, CpAddressee) or arg not in cs.ADDRESSEES or identity is None:
        await _stale(turn)
        return
    if step.app:  # filed from the application's card: its subject is that application
        number = await turn.services.complaints.own_application(identity, turn.user_id, step.app)
        if number is not None:
            await ask_details(turn, Filing(addressee=arg, app=number))
            return
    await ask_subject(turn, arg)


# Subject: one of their applications, or a provider without one -------------------------------------------

async def ask_subject(turn: Turn, addressee: str) -> None:
    identity = await turn.identity()
    apps = await turn.services.tracking.mine(identity, turn.user_id)
    await steps.go(turn, CpSubject(addressee=addressee))
    rows = [[(f"{a.number} · {turn.text(f'service.{a.service}.short')}", f"cps:{a.number}")] for a in apps[:8]]
    rows.append([(turn.text("cp.btn.no_application"), "cps:-")])
    await turn.say("cp.subject.ask" if apps else "cp.subject.ask_none", reply_markup=_rows(turn, rows))


async def on_subject_text(turn: Turn, message: Message, step: CpSubject) -> None:
    await choose_application(turn, (message.text or "")[:60], step.addressee)


async def on_subject(turn: Turn, arg: str, step: Step) -> None:
    if not isinstance(step, CpSubject) or await turn.identity() is None:
        await _stale(turn)
        return
    if arg == "-":
        await steps.go(turn, CpProvider(addressee=step.addressee))
        await turn.say("cp.provider.ask", reply_markup=_cancel(turn))
        return
    await choose_application(turn, arg, step.addressee)


async def choose_application(turn: Turn, text: str, addressee: str) -> None:
    identity = await turn.identity()
    if identity is None:
        await require_identity(turn, FileComplaint())
        return
    number = await turn.services.complaints.own_application(identity, turn.user_id, text)
    if number is None:  # the same answer for someone else's number as for no such number
        await turn.say("cp.subject.not_found", reply_markup=_rows(turn, [[(turn.text("cp.btn.no_application"),
                                                                           "cps:-")]]))
        return
    await ask_details(turn, Filing(addressee=addressee, app=number))


async def on_provider(turn: Turn, message: Message, step: CpProvider) -> None:
    try:
        name = core.provider_name(message.text or "")
    except core.InputRefused as refused:
        await turn.say(f"cp.provider.{refused.reason}", limit=refused.limit, reply_markup=_cancel(turn))
        return
    await ask_details(turn, Filing(addressee=step.addressee, provider=name))


# The filer's details, shown and confirmed ------------------------------------------------------------------

async def ask_details(turn: Turn, draft: Filing) -> None:
    identity = await turn.identity()
    if identity is None:
        await require_identity(turn, FileComplaint())
        return
    if draft.name is None:
        applicant = await turn.services.complaints.applicant(identity)
        if applicant is None:  # the directory cannot answer now; nothing is filed half-way
            await show_menu(turn, "state.directory_down")
            return
        draft = draft.model_copy(update={"name": applicant.full_name, "address": applicant.address,
                                         "phone": applicant.phone})
    if not draft.address:
        await steps.go(turn, draft.at(CpAddress))
        await turn.say("cp.address.ask", reply_markup=_cancel(turn))
        return
    await steps.go(turn, draft.at(CpDetails))
    await turn.say("cp.details.confirm", name=draft.name, iin=mask_iin(identity.iin), address=draft.address,
                   phone=mask_phone(draft.phone) if draft.phone else "—",
                   reply_markup=_rows(turn, [[(turn.text("cp.btn.details_ok"), "cpd:ok")],
                                             [(turn.text("cp.btn.change_address"), "cpd:addr")]]))


async def on_details_text(turn: Turn, message: Message, step: CpDetails) -> None:
    await turn.say("cp.details.press")
    await ask_details(turn, step)


async def on_details(turn: Turn, arg: str, step: Step) -> None:
    if not isinstance(step, CpDetails) or arg not in ("ok", "addr"):
        await _stale(turn)
        return
    if arg == "addr":
        await steps.go(turn, step.at(CpAddress))
        await turn.say("cp.address.ask", reply_markup=_cancel(turn))
        return
    await steps.go(turn, step.at(CpText))
    await turn.say("cp.text.ask", limit=core.TEXT_LIMIT, reply_markup=_cancel(turn))


async def on_address(turn: Turn, message: Message, step: CpAddress) -> None:
    try:
        address = core.postal_address(message.text or "")
    except core.InputRefused:
        await turn.say("cp.address.bad", limit=core.ADDRESS_LIMIT, reply_markup=_cancel(turn))
        return
    await ask_details(turn, step.model_copy(update={"address": address}))


# The text and an optional photo or document ----------------------------------------------------------------

async def on_text(turn: Turn, message: Message, step: CpText) -> None:
    raw = message.text or ""
    try:
        text = core.complaint_text(raw)
    except core.InputRefused as refused:
        await turn.say(f"cp.text.{refused.reason}", limit=refused.limit, length=len(raw.strip()),
                       reply_markup=_cancel(turn))
        return
    await ask_file(turn, CpFile.model_validate({**step.model_dump(), "text": text}))


async def ask_file(turn: Turn, step: CpFile, key: str = "cp.file.ask") -> None:
    await steps.go(turn, step)
    await turn.say(key, reply_markup=_rows(turn, [[(turn.text("cp.btn.send"), "cpx:send")]]))


async def on_file(turn: Turn, message: Message, step: CpFile) -> None:
    if message.photo:
        attached = step.model_copy(update={"file_id": message.photo[-1].file_id, "file_kind": "photo"})
        await ask_file(turn, attached, "cp.file.attached")
    elif message.document is not None:
        attached = step.model_copy(update={"file_id": message.document.file_id, "file_kind": "document"})
        await ask_file(turn, attached, "cp.file.attached")
    else:
        await ask_file(turn, step, "cp.file.only_photo")


async def on_file_text(turn: Turn, message: Message, step: CpFile) -> None:
    await ask_file(turn, step, "cp.file.only_photo")


async def on_send(turn: Turn, arg: str, step: Step) -> None:
    identity = await turn.identity()
    if not isinstance(step, CpFile) or arg != "send":
        await _stale(turn)
        return
    if identity is None:
        await require_identity(turn, FileComplaint())
        return
    try:
        draft = core.Draft(addressee=step.addressee, app_number=step.app, provider_name=step.provider,
                           full_name=step.name or "", address=step.address, phone=step.phone, body=step.text,
                           file_id=step.file_id, file_kind=step.file_kind)
    except core.InputRefused:  # a draft kept by an older version under other rules: start again
        await _stale(turn)
        return
    complaint = await turn.services.complaints.file(identity, turn.user_id, draft)
    await steps.go(turn, Menu())
    turn.note("cp.filed", number=complaint.number, due=render.when(complaint.due_at, turn.lang),
              addressee=turn.text(f"cp.addressee.{complaint.addressee}"))
    await show_card(turn, complaint.number)


# Following one's complaints ---------------------------------------------------------------------------------

async def list_mine(turn: Turn, arg: str, step: Step) -> None:
    if not await require_identity(turn, MyComplaints()):
        return
    await show_list(turn)


async def after_identity_list(turn: Turn, then: MyComplaints) -> None:
    await show_list(turn)


async def show_list(turn: Turn) -> None:
    identity = await turn.identity()
    assert identity is not None
    mine = await turn.services.complaints.mine(identity)
    await steps.go(turn, CpLookup())
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


async def on_lookup(turn: Turn, message: Message, step: CpLookup) -> None:
    await show_card(turn, (message.text or "")[:60])


async def on_view(turn: Turn, arg: str, step: Step) -> None:
    if await turn.identity() is None:
        await require_identity(turn, MyComplaints())
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
    routes.after_identity(FileComplaint, after_identity_file)
    routes.text_state(CpAddressee, on_addressee_text, hint="cp.addressee.press")
    routes.button("cpa", on_addressee)
    routes.text_state(CpSubject, on_subject_text, hint="cp.subject.ask")
    routes.button("cps", on_subject)
    routes.text_state(CpProvider, on_provider, hint="cp.provider.ask")
    routes.text_state(CpDetails, on_details_text, hint="cp.details.press")
    routes.button("cpd", on_details)
    routes.text_state(CpAddress, on_address, hint="cp.address.ask")
    routes.text_state(CpText, on_text, hint="cp.text.ask_again")
    routes.other_state(CpFile, on_file)
    routes.text_state(CpFile, on_file_text, hint="cp.file.ask")
    routes.button("cpx", on_send)
    # Following one's complaints
    routes.button("cpl", list_mine)
    routes.after_identity(MyComplaints, after_identity_list)
    routes.text_state(CpLookup, on_lookup, hint="cp.list.hint")
    routes.button("cpv", on_view)
