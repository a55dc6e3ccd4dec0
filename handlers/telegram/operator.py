"""Operator console actions on applications: find one by number (/find), what is overdue (/overdue), set
the status of one (/setstatus). The console itself (the table of actions, who may use it) is console.py.
"""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, Message

from bot.core.staff import OverdueItem
from bot.core.status_feed import MAX_NOTE
from bot.domain.application_status import FEED_STATUSES, can_move
from bot.domain.iin import mask_iin
from bot.domain.model import Application, Event
from handlers.telegram import console, render, routes, steps
from handlers.telegram.console import back_to_console
from handlers.telegram.menu import show_menu
from handlers.telegram.steps import Menu, Step
from handlers.telegram.turn import Turn

OVERDUE_PAGE = 10


@steps.step
class OpFind(Step):
    """An application's number, typed by an operator."""
    NAME = "op_find"


# Find an application -------------------------------------------------------------------------------------

def operator_card(turn: Turn, app: Application, events: list[Event]) -> str:
    lines = [render.application_card(turn.t, turn.lang, app, events, whom=False), "",
             escape(turn.text("op.card.applicant", iin=mask_iin(app.iin)))]
    if app.third_party and app.requester_iin:
        lines.append(escape(turn.text("op.card.requester", iin=mask_iin(app.requester_iin))))
    channel_key = f"op.channel.{app.channel}"
    channel = turn.text(channel_key) if turn.t.has(turn.lang, channel_key) else app.channel
    lines.append(escape(turn.text("op.card.channel", channel=channel)))
    return "\n".join(lines)


async def find(turn: Turn, arg: str) -> None:
    if not arg.strip():
        await steps.go(turn, OpFind())
        await turn.say("op.find.ask", reply_markup=back_to_console(turn))
        return
    found = await turn.services.staff.view_application(turn.user_id, arg)
    if found is None:
        await steps.go(turn, OpFind())
        await turn.say("op.find.not_found", number=arg.strip()[:40], reply_markup=back_to_console(turn))
        return
    app, events = found
    await steps.go(turn, Menu())
    await turn.send(operator_card(turn, app, events), back_to_console(turn, status_buttons(turn, app)))


async def on_find_text(turn: Turn, message: Message, step: OpFind) -> None:
    if not await turn.services.staff.is_operator(turn.user_id):  # the role was taken away meanwhile
        await show_menu(turn, "menu.hint")
        return
    await find(turn, (message.text or "")[:100])


# What is overdue ------------------------------------------------------------------------------------------

def overdue_line(turn: Turn, item: OverdueItem) -> str:
    app = item.app
    late = (turn.t.plural(turn.lang, "op.overdue.days", item.working_days) if item.working_days
            else turn.text("op.overdue.today"))
    return escape(turn.text("op.overdue.line", number=app.number, service=turn.text(f"service.{app.service}.short"),
                            status=render.status_name(turn.t, turn.lang, app.status),
                            due=render.when(app.due_at, turn.lang), late=late))


async def overdue(turn: Turn, arg: str) -> None:
    offset = int(arg) if arg.strip().isdigit() else 0
    page = await turn.services.staff.overdue(turn.user_id, offset, OVERDUE_PAGE)
    await steps.go(turn, Menu())
    if not page.items:
        await turn.say("op.overdue.none", reply_markup=back_to_console(turn))
        return
    lines = [escape(turn.text("op.overdue.title", total=page.total, first=offset + 1,
                              last=offset + len(page.items)))]
    lines += [f"{offset + i + 1}. {overdue_line(turn, item)}" for i, item in enumerate(page.items)]
    rows = [[InlineKeyboardButton(item.app.number, callback_data=f"op:find:{item.app.number}"[:64])]
            for item in page.items]
    nav = []
    if offset > 0:
        nav.append(InlineKeyboardButton(turn.text("op.btn.prev"),
                                        callback_data=f"op:overdue:{max(offset - OVERDUE_PAGE, 0)}"))
    if offset + len(page.items) < page.total:
        nav.append(InlineKeyboardButton(turn.text("op.btn.next"), callback_data=f"op:overdue:{offset + OVERDUE_PAGE}"))
    if nav:
        rows.append(nav)
    await turn.send("\n".join(lines), back_to_console(turn, rows))


# Set the status of an application -------------------------------------------------------------------------

def status_buttons(turn: Turn, app: Application) -> list[list[InlineKeyboardButton]]:
    """One button per status the application may move to (none once it is final)."""
    rows = []
    for status in FEED_STATUSES:
        data = f"op:setstatus:{app.number}:{status}"
        if can_move(app.status, status) and len(data.encode()) <= 64:
            rows.append([InlineKeyboardButton(f"→ {render.status_name(turn.t, turn.lang, status)}",
                                              callback_data=data)])
    return rows


async def set_status(turn: Turn, arg: str) -> None:
    # "/setstatus NUMBER STATUS [note]" or the button's "NUMBER:STATUS".
    if ":" in arg and " " not in arg.strip():
        number, _, rest = arg.strip().rpartition(":")
        parts = [number, rest]
    else:
        parts = arg.split(maxsplit=2)
    await steps.go(turn, Menu())
    if len(parts) < 2:
        await turn.say("op.setstatus.usage", reply_markup=back_to_console(turn))
        return
    note = parts[2][:MAX_NOTE] if len(parts) > 2 else None
    services = turn.services
    outcome = await services.feed.set_by_operator(services.staff, turn.user_id, parts[0][:60], parts[1][:30], note)
    if outcome.result == "not_found":
        await turn.say("op.setstatus.not_found", number=outcome.number, reply_markup=back_to_console(turn))
    elif outcome.result in ("rejected", "invalid"):
        key = f"op.setstatus.reason.{outcome.reason_code}"
        reason = turn.text(key if turn.t.has(turn.lang, key) else "op.setstatus.reason.other")
        await turn.say("op.setstatus.rejected", number=outcome.number, reason=reason,
                       reply_markup=back_to_console(turn))
    elif outcome.result == "duplicate":
        await turn.say("op.setstatus.duplicate", number=outcome.number, reply_markup=back_to_console(turn))
    elif not outcome.changed:
        await turn.say("op.setstatus.history_only", number=outcome.number, reply_markup=back_to_console(turn))
    else:
        await turn.say("op.setstatus.done", number=outcome.number,
                       status=render.status_name(turn.t, turn.lang, parts[1]), reply_markup=back_to_console(turn))


def register() -> None:
    """The console actions on applications (after console.register())."""
    console.add_action("find", find, label_key="op.btn.find", command="find", order=10)
    routes.text_state(OpFind, on_find_text, hint="op.find.ask")
    console.add_action("overdue", overdue, label_key="op.btn.overdue", command="overdue", order=20)
    console.add_action("setstatus", set_status, label_key="op.btn.setstatus", command="setstatus", order=40)
