"""Commands that open a citizen's feature directly: /about_me (requests about me), /new_complaint (file one),
/my_complaints (one's complaints; /complaint and /complaints are the operator console's). Each does what the
feature's menu row does, after the language if none is chosen yet (the command is then taken up again:
menu.ask_language)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from handlers.telegram import about_me, citizen_complaints, steps
from handlers.telegram.menu import ask_language
from handlers.telegram.turn import Turn, turn_for

# The commands /help lists and Telegram's command menu shows (with command.<name> texts), in that order.
COMMANDS = ("start", "status", "about_me", "new_complaint", "my_complaints", "verify", "settings", "language", "help",
            "logout")


def _command(open_feature: Callable[[Turn], Awaitable[None]]
             ) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        turn = await turn_for(update, context)
        if await turn.chosen_lang() is None:
            await ask_language(turn)
        else:
            await open_feature(turn)
    return handle


async def _file_complaint(turn: Turn) -> None:
    await citizen_complaints.start_filing(turn, "", await steps.current(turn))


async def _my_complaints(turn: Turn) -> None:
    await citizen_complaints.list_mine(turn, "", await steps.current(turn))


def add_handlers(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Before the catch-all unknown-command handler."""
    application.add_handler(CommandHandler(["about_me", "aboutme"], _command(about_me.show)))
    application.add_handler(CommandHandler("new_complaint", _command(_file_complaint)))
    application.add_handler(CommandHandler("my_complaints", _command(_my_complaints)))
