"""The main menu: the rows feature modules add (``menu_entry``, through routes.py) and the keyboard drawn from
them for one person. Kept apart from the conversation (menu.py, turn.py) because the outbox worker
(delivery.py) draws the menu too, with no update at hand: so this module needs nothing of a turn."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import InlineKeyboardMarkup

from bot.domain.model import UserSnapshot
from bot.i18n import Lang, as_lang
from bot.services import TelegramServices
from handlers.telegram import keyboards

# fn(services, user_id, identified, known) -> whether the menu shows the entry to this person (e.g. operators
# only); ``known`` is what the turn already read about the person (None outside a turn: read it yourself).
VisibleFn = Callable[[TelegramServices, int, bool, UserSnapshot | None], Awaitable[bool]]


@dataclass(frozen=True)
class MenuEntry:
    label_key: str
    callback_data: str
    order: int
    visible: VisibleFn | None = None


MENU: list[MenuEntry] = []


def menu_entry(label_key: str, callback_data: str, order: int, visible: VisibleFn | None = None) -> None:
    """Add a row to the main menu. ``order`` places it: built-in rows are 10 (own), 20 (other),
    30 (status), 40 (guide); help/language are always last."""
    entry = MenuEntry(label_key, callback_data, order, visible)
    if entry in MENU:
        return
    assert all(e.callback_data != callback_data for e in MENU), f"menu entry {callback_data} registered twice"
    MENU.append(entry)
    MENU.sort(key=lambda e: e.order)


async def menu_keyboard(services: TelegramServices, user_id: int, lang: Lang, identified: bool,
                        known: UserSnapshot | None = None) -> InlineKeyboardMarkup:
    """The main menu with the rows registered by feature modules that this person may see."""
    extra = [(entry.order, services.texts(lang, entry.label_key), entry.callback_data) for entry in MENU
             if entry.visible is None or await entry.visible(services, user_id, identified, known)]
    return keyboards.menu(services.texts, as_lang(lang), identified, extra)
