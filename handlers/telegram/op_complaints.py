"""Operator console actions on complaints: look one up, list the open ones (most overdue first), and move one
through its marks — register, forward, under review, answer, refuse to review (the last two read the text the
operator types). The core enforces the life cycle atomically, audits every action and notifies the filer."""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, Message

from bot.core.complaints import ANSWER_LIMIT, InputRefused, Moved, answer_text, normalize_number
from bot.domain import complaint_status as cs
from handlers.telegram import console, render, routes, steps
from handlers.telegram.citizen_complaints import card
from handlers.telegram.console import back_to_console
from handlers.telegram.menu import show_menu
from handlers.telegram.steps import Menu, Step
from handlers.telegram.turn import Turn

PAGE = 10


@steps.step
class OpCpFind(Step):
    """A complaint's number, typed by an operator."""
    NAME = "op_cp_find"


@steps.step
class OpCpText(Step):
    """The answer (or the refusal's reason) an operator types for the move of ``number`` to ``to``."""
    NAME = "op_cp_text"
    number: str
    to: str


def _card_buttons(turn: Turn, number: str, addressee: str, state: str, attached: bool
                  ) -> list[list[InlineKeyboardButton]]:
    rows = [[InlineKeyboardButton(turn.text(f"op.cp.btn.{to}"), callback_data=f"op:cpmove:{number}:{to}")]
            for to in cs.next_states(addressee, state)]
    if attached:
        rows.append([InlineKeyboardButton(turn.text("op.cp.btn.file"), callback_data=f"op:cpfile:{number}")])
    return rows


async def _show(turn: Turn, number: str) -> None:
    view = await turn.services.complaints.view_for_operator(turn.user_id, number)
    if view is None:
        await steps.go(turn, OpCpFind())
        await turn.say("op.cp.not_found", number=number.strip()[:40], reply_markup=back_to_console(turn))
        return
    await steps.go(turn, Menu())
    c = view.complaint
    await turn.send(card(turn, view, for_operator=True),
                    back_to_console(turn, _card_buttons(turn, c.number, c.addressee, c.state, c.file_id is not None)))


async def find(turn: Turn, arg: str) -> None:
    if not arg.strip():
        await steps.go(turn, OpCpFind())
        await turn.say("op.cp.ask", reply_markup=back_to_console(turn))
        return
    await _show(turn, arg)


async def on_find_text(turn: Turn, message: Message, step: OpCpFind) -> None:
    if not await turn.services.staff.is_operator(turn.user_id):  # the role was taken away meanwhile
        await show_menu(turn, "menu.hint")
        return
    await _show(turn, (message.text or "")[:100])


async def attachment(turn: Turn, arg: str) -> None:
    """The photo or document the filer attached, sent to the operator as it was received (protected)."""
    found = await turn.services.complaints.attachment_for_operator(turn.user_id, arg)
    if found is None:
        await turn.say("stale.button", reply_markup=back_to_console(turn))
        return
    file_id, kind = found
    bot = turn.context.bot
    send = bot.send_photo if kind == "photo" else bot.send_document
    turn.after_commit(lambda: send(turn.user_id, file_id, protect_content=True))  # after the audit row commits


async def open_list(turn: Turn, arg: str) -> None:
    offset = int(arg) if arg.strip().isdigit() else 0
    total, views = await turn.services.complaints.open_list(turn.user_id, offset, PAGE)
    await steps.go(turn, Menu())
    if not views:
        await turn.say("op.cp.none_open", reply_markup=back_to_console(turn))
        return
    lines = [escape(turn.text("op.cp.open_title", total=total))]
    for i, v in enumerate(views):
        late = (turn.t.plural(turn.lang, "cp.card.overdue", v.overdue_days) if v.overdue_days
                else turn.text("cp.card.overdue_today") if v.late else "")
        lines.append(f"{offset + i + 1}. " + escape(turn.text(
            "op.cp.open_line", number=v.complaint.number, state=turn.text(f"complaint.state.{v.complaint.state}"),
            due=render.when(v.complaint.due_at, turn.lang), late=late)).rstrip())
    rows = [[InlineKeyboardButton(v.complaint.number, callback_data=f"op:cpfind:{v.complaint.number}")]
            for v in views]
    nav = []
    if offset > 0:
        nav.append(InlineKeyboardButton(turn.text("op.btn.prev"), callback_data=f"op:cpopen:{max(offset - PAGE, 0)}"))
    if offset + len(views) < total:
        nav.append(InlineKeyboardButton(turn.text("op.btn.next"), callback_data=f"op:cpopen:{offset + PAGE}"))
    if nav:
        rows.append(nav)
    await turn.send("\n".join(lines), back_to_console(turn, rows))


async def move(turn: Turn, arg: str) -> None:
    """arg "<number>:<state>" (a button) or "<number> <state>" (the /cpmove command)."""
    raw_number, _, to = arg.replace(" ", ":", 1).partition(":")
    number = normalize_number(raw_number)
    to = to.strip()
    if number is None or to not in cs.STATES:
        await turn.say("op.cp.bad_move", reply_markup=back_to_console(turn))
        return
    if to in cs.NEEDS_TEXT:
        await steps.go(turn, OpCpText(number=number, to=to))
        await turn.say(f"op.cp.ask_{to}", number=number, limit=ANSWER_LIMIT, reply_markup=back_to_console(turn))
        return
    await _move(turn, number, to, None)


async def on_answer_text(turn: Turn, message: Message, step: OpCpText) -> None:
    if not await turn.services.staff.is_operator(turn.user_id):
        await show_menu(turn, "menu.hint")
        return
    raw = message.text or ""
    try:
        text = answer_text(raw)
    except InputRefused as refused:
        await turn.say(f"op.cp.text_{refused.reason}", limit=refused.limit, length=len(raw.strip()),
                       reply_markup=back_to_console(turn))
        return
    await _move(turn, step.number, step.to, text)


async def _move(turn: Turn, number: str, to: str, text: str | None) -> None:
    result = await turn.services.complaints.move(turn.user_id, number, to, text)
    await steps.go(turn, Menu())
    if isinstance(result, Moved):
        turn.note("op.cp.moved", number=number, state=turn.text(f"complaint.state.{to}"))
        await _show(turn, number)
        return
    await turn.say(f"op.cp.not_moved_{result.reason}", number=number, reply_markup=back_to_console(turn))


def register() -> None:
    """The console actions on complaints (after console.register())."""
    console.add_action("cpfind", find, label_key="op.btn.cpfind", command="complaint", order=30)
    routes.text_state(OpCpFind, on_find_text, hint="op.cp.ask")
    console.add_action("cpfile", attachment)
    console.add_action("cpopen", open_list, label_key="op.btn.cpopen", command="complaints", order=35)
    console.add_action("cpmove", move)
    routes.text_state(OpCpText, on_answer_text, hint="op.cp.ask_text")
