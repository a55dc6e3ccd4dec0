"""The operator console in Telegram: /op and the "Operator console" menu row, the table of console actions and
what every action module needs (``allowed``, ``back_to_console``).

Only staff (operator or admin, see bot/core/staff.py) may use it. For anyone else the commands get exactly the
answer of an unknown command and the buttons the answer of a stale button, so the console reveals nothing.
Every console action is re-checked against the database role when it runs, and audited by the core.

Adding an action (e.g. "change status", "answer a complaint") is one function and one registration in its
module's ``register()``::

    async def change_status(turn: Turn, arg: str) -> None:
        ...  # call the core use case (it audits), reply with turn.say(...)

    def register() -> None:
        console.add_action("status", change_status, label_key="op.btn.<status>", command="setstatus", order=40)

``arg`` is what follows the command (/setstatus QZ-… in_progress) or the button's data after "op:status:".
An action gets the console button, the /command and the "op:<name>[:arg]" button route. An action that reads
typed text registers its own chat state with ``routes.text_state`` (see "op_find" in operator.py). The actions
live in operator.py (applications), op_broadcast.py and op_complaints.py; app.py registers them after
``register()`` here, and ``add_handlers`` adds their commands. Registering the same action again changes
nothing (see routes.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.core.staff import ROLES
from bot.domain.model import UserSnapshot
from bot.services import TelegramServices
from handlers.telegram import routes, steps
from handlers.telegram.menu import ask_language, show_menu
from handlers.telegram.steps import Menu, Step
from handlers.telegram.turn import Turn, turn_for

ConsoleFn = Callable[[Turn, str], Awaitable[None]]
CommandFn = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class ConsoleAction:
    name: str
    fn: ConsoleFn
    label_key: str | None
    command: str | None
    order: int
    admin_only: bool


ACTIONS: dict[str, ConsoleAction] = {}


def add_action(name: str, fn: ConsoleFn, *, label_key: str | None = None, command: str | None = None,
               order: int = 100, admin_only: bool = False) -> None:
    """Register a console action: a console button (``label_key``), a /``command`` and "op:<name>" buttons."""
    assert ":" not in name, f"bad console action name {name}"
    action = ConsoleAction(name, fn, label_key, command, order, admin_only)
    present = ACTIONS.setdefault(name, action)
    assert present == action, f"console action {name} registered twice"


async def allowed(services: TelegramServices, user_id: int, action: ConsoleAction | None = None) -> bool:
    if action is not None and action.admin_only:
        return await services.staff.is_admin(user_id)
    return await services.staff.is_operator(user_id)


async def _visible(services: TelegramServices, user_id: int, identified: bool, known: UserSnapshot | None) -> bool:
    if known is not None:  # the turn read the role with everything else (actions check it again when run)
        return known.role in ROLES
    return await services.staff.is_operator(user_id)


def console_keyboard(turn: Turn, actions: list[ConsoleAction]) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(turn.text(a.label_key), callback_data=f"op:{a.name}")]
            for a in sorted(actions, key=lambda a: a.order) if a.label_key]
    rows.append([InlineKeyboardButton(turn.text("btn.menu"), callback_data="menu")])
    return InlineKeyboardMarkup(rows)


def back_to_console(turn: Turn, extra: list[list[InlineKeyboardButton]] | None = None) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([*(extra or []), [InlineKeyboardButton(turn.text("op.btn.console_back"),
                                                                       callback_data="op")]])


async def show_console(turn: Turn) -> None:
    mine = [a for a in ACTIONS.values() if await allowed(turn.services, turn.user_id, a)]
    await steps.go(turn, Menu())
    await turn.say("op.console.title", reply_markup=console_keyboard(turn, mine))


async def on_console_button(turn: Turn, arg: str, step: Step) -> None:
    name, _, rest = arg.partition(":")
    action = ACTIONS.get(name) if name else None
    if (name and action is None) or not await allowed(turn.services, turn.user_id, action):
        await show_menu(turn, "stale.button")  # what anyone gets for a button that does not exist
        return
    if action is None:
        await show_console(turn)
    else:
        await action.fn(turn, rest)


def add_handlers(application: Application[Any, Any, Any, Any, Any, Any], unknown_command: CommandFn) -> None:
    """The console's commands; must be added before the catch-all unknown-command handler. Anyone who is not
    staff gets ``unknown_command``'s answer, exactly."""
    def guarded(action: ConsoleAction | None) -> CommandFn:
        async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            services: TelegramServices = context.application.bot_data["services"]
            assert update.effective_user is not None
            if not await allowed(services, update.effective_user.id, action):
                await unknown_command(update, context)
                return
            turn = await turn_for(update, context)
            if await turn.chosen_lang() is None:
                # The console speaks the operator's language: asked first, then this command is taken up again.
                await ask_language(turn)
                return
            if action is None:
                await show_console(turn)
            else:
                await action.fn(turn, " ".join(context.args or []))
        return handle

    application.add_handler(CommandHandler("op", guarded(None)))
    for action in ACTIONS.values():
        if action.command:
            application.add_handler(CommandHandler(action.command, guarded(action)))


def register() -> None:
    """The console's menu row (staff only) and its "op" buttons."""
    routes.menu_entry("op.btn.console", "op", order=90, visible=_visible)
    routes.button("op", on_console_button)
