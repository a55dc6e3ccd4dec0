"""The main menu, the language, help and /start.

The menu shows the built-in rows (keyboards.menu) and the rows features register (routes.menu_entry) that this
person may see; the outbox worker (delivery.py) draws it too, for the menu that follows a consent outcome.
"""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardMarkup

from bot.domain.model import UserSnapshot
from bot.i18n import Lang, as_lang
from bot.services import Services
from handlers.telegram import keyboards, routes
from handlers.telegram.states import LANG, MENU
from handlers.telegram.turn import Turn


async def show_menu(turn: Turn, intro_key: str = "menu.title") -> None:
    identified = await turn.identity() is not None
    await turn.set_state(MENU)
    await turn.say(intro_key, reply_markup=await menu_keyboard(turn.services, turn.user_id, turn.lang, identified,
                                                               turn.known))


async def menu_keyboard(services: Services, user_id: int, lang: Lang, identified: bool,
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
