"""The main menu, the language, help and /start.

The menu shows the built-in rows (keyboards.menu) and the rows features register (routes.menu_entry) that this
person may see; the outbox worker (delivery.py) draws it too, for the menu that follows a consent outcome.

The language prompt interrupts whatever a person without a language does (a command, a button, a step of a
flow such as an operator's broadcast); the interrupted update is kept in the prompt's chat state and handled
again once the language is chosen, in the state the conversation was in — so nothing they started is lost.
"""

from __future__ import annotations

from html import escape
from typing import Any, Literal

from telegram import Update

from bot.i18n import as_lang
from handlers.telegram import keyboards, steps
from handlers.telegram.main_menu import menu_keyboard
from handlers.telegram.steps import ChoosingLanguage, Menu
from handlers.telegram.turn import Turn


async def show_menu(turn: Turn, intro_key: str = "menu.title") -> None:
    identified = await turn.identity() is not None
    await steps.go(turn, Menu())
    await turn.say(intro_key, reply_markup=await menu_keyboard(turn.services, turn.user_id, turn.lang, identified,
                                                               turn.known))


async def ask_language(turn: Turn) -> None:
    now = await steps.current(turn)
    # Where the conversation stood before the prompt (the prompt may be asked again while it is shown).
    before = now.interrupted() if isinstance(now, ChoosingLanguage) else now
    what = _interruption(turn.update, before.NAME) if await turn.chosen_lang() is None else "drop"
    if what == "resume":  # this update is handled again once the language is chosen
        prompt = ChoosingLanguage(resume=turn.update.to_dict(), state=before.NAME, data=before.to_json())
    elif what == "keep" and isinstance(now, ChoosingLanguage):
        prompt = now  # something typed at the prompt: what it interrupted stays remembered
    else:
        prompt = ChoosingLanguage()
    await steps.go(turn, prompt)
    await turn.send(escape(turn.services.texts("kk", "lang.choose") + "\n" + turn.services.texts("ru", "lang.choose")),
                    keyboards.language())


def _interruption(update: Update, state: str) -> Literal["resume", "keep", "drop"]:
    """What the language prompt does with the update it interrupts: a command (but a bare /start or
    /language), a button, or anything sent in the middle of a flow is taken up again afterwards; other text
    leaves an earlier interruption as it is; a bare /start or /language starts afresh."""
    if update.callback_query is not None:
        return "keep" if (update.callback_query.data or "").startswith(("lang", "language")) else "resume"
    message = update.effective_message
    if message is None:
        return "keep"
    text = (message.text or "").strip()
    if text.startswith("/"):
        command, _, payload = text.partition(" ")
        name = command[1:].split("@")[0].lower()
        bare = name in ("start", "language", "lang", "til", "yazyk") and not payload.strip()
        return "drop" if bare else "resume"
    return "keep" if state in (Menu.NAME, ChoosingLanguage.NAME) else "resume"


async def start(turn: Turn) -> None:
    if turn.known is None or turn.known.blocked:  # writing again after blocking the bot: messages reach them
        await turn.services.subscriptions.clear_blocked(turn.user_id)
    if await turn.chosen_lang() is None:
        await ask_language(turn)
    else:
        await show_menu(turn, "menu.welcome")


async def choose_language(turn: Turn, lang: str) -> None:
    prompt = await steps.current(turn)
    await turn.set_language(as_lang(lang))
    if isinstance(prompt, ChoosingLanguage) and prompt.resume:
        await steps.go(turn, prompt.interrupted())
        await turn.say("lang.set")
        await _handle_again(turn, prompt.resume)
        return
    turn.note("lang.set")
    await show_menu(turn, "menu.welcome")


async def _handle_again(turn: Turn, update_json: dict[str, Any]) -> None:
    """The update the language prompt interrupted, through the same handlers (in this update's unit of work)."""
    application = turn.context.application
    await application.process_update(Update.de_json(update_json, application.bot))


async def help_text(turn: Turn) -> None:
    text = turn.text("help.text") + "\n\n" + turn.text("help.commands")
    await turn.send(escape(text), keyboards.back_to_menu(turn.t, turn.lang))
