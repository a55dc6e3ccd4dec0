"""The status of one's applications: the list, and the card of one (by its number).

Without a verified identity a person sees only what they filed in this chat; the list and a card offer the
identity step right there (cards.py handles the button) and come back to what was asked afterwards. The card
of a refused or overdue application says how to complain about it (the complaint button, filled in with the
application) and, for a refusal, that the court is open.
"""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.applications import normalize_number
from bot.domain.application_status import is_open
from bot.domain.deadlines import overdue_working_days
from handlers.telegram import keyboards, render, routes, steps
from handlers.telegram.steps import Menu, Then
from handlers.telegram.turn import Turn


@steps.then
class StatusList(Then):
    """The status list, asked before identification."""
    ACTION = "status"


def identify_button(turn: Turn, what: str) -> InlineKeyboardButton:
    """The identity step, then ``what`` ("status", "card:<number>"): see cards.on_identify."""
    return InlineKeyboardButton(turn.text("btn.identify"), callback_data=f"idn:{what}"[:64])


def _menu_row(turn: Turn) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(turn.text("btn.menu"), callback_data="menu")]


async def status_list(turn: Turn) -> None:
    identity = await turn.identity()
    apps = await turn.services.tracking.mine(identity, turn.user_id)
    await steps.go(turn, Menu())
    identify = [] if identity else [[identify_button(turn, "status")]]
    if not apps:
        key = "status.none" if identity else "status.none_identify"
        await turn.say(key, reply_markup=InlineKeyboardMarkup([*identify, _menu_row(turn)]))
        return
    lines = [escape(turn.text("status.list_title"))]
    lines += [render.application_line(turn.t, turn.lang, app, identity.iin if identity else None) for app in apps]
    lines.append(escape(turn.text("status.list_hint" if identity else "status.list_hint_identify")))
    markup = keyboards.applications(turn.t, turn.lang, [a.number for a in apps])
    await turn.send("\n".join(lines), InlineKeyboardMarkup([*identify, *markup.inline_keyboard]))


async def status_of(turn: Turn, text: str) -> None:
    identity = await turn.identity()
    found = await turn.services.tracking.find(identity, turn.user_id, text)
    if found is None:
        number = normalize_number(text)
        if identity is None and number is not None:
            # The same answer whether the number exists or not: it may be theirs, seen once they are verified.
            await turn.say("status.not_found_identify", reply_markup=InlineKeyboardMarkup([
                [identify_button(turn, f"card:{number}")], _menu_row(turn)]))
        else:
            await turn.say("status.not_found", reply_markup=keyboards.back_to_menu(turn.t, turn.lang))
        return
    app, events = found
    now = turn.services.clock.now()
    late = (overdue_working_days(app.due_at, now, turn.services.calendar)
            if is_open(app.status) and now > app.due_at else None)
    rows = [_menu_row(turn)]
    card = render.application_card(turn.t, turn.lang, app, events, overdue_days=late,
                                   viewer_iin=identity.iin if identity else None)
    appeal = "app.refused.appeal" if app.status == "refused" else "app.late.complain" if late is not None else None
    if appeal:  # a complaint about this very application, one press away
        card += "\n\n" + escape(turn.text(appeal))
        rows.insert(0, [InlineKeyboardButton(turn.text("cp.btn.file"), callback_data=f"cpf:{app.number}"[:64])])
    await turn.send(card, InlineKeyboardMarkup(rows))


async def status_after_identity(turn: Turn, then: StatusList) -> None:
    await status_list(turn)


def register() -> None:
    """The status list asked before identification is shown after it."""
    routes.after_identity(StatusList, status_after_identity)
