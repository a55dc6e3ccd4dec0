"""The status of one's applications: the list, and the card of one (by its number)."""

from __future__ import annotations

from html import escape

from bot.domain.application_status import is_open
from bot.domain.deadlines import overdue_working_days
from handlers.telegram import keyboards, render, routes
from handlers.telegram.states import MENU
from handlers.telegram.turn import Turn


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


async def status_after_identity(turn: Turn, then: dict) -> None:
    await status_list(turn)


def register() -> None:
    """The status list asked before identification is shown after it."""
    routes.after_identity("status", status_after_identity)
