"""The "Notices" screen: status notices about one's applications on/off, news broadcasts on/off, with the
current state shown. Buttons carry the wanted state ("set:status:off"), so a stale button sets what it says
and shows the screen again — pressing it twice is harmless."""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from handlers.telegram import routes, steps
from handlers.telegram.menu import show_menu
from handlers.telegram.steps import Menu, Step
from handlers.telegram.turn import Turn


async def show_settings(turn: Turn, note: str | None = None) -> None:
    services = turn.services
    prefs = await services.subscriptions.preferences(turn.user_id)
    status_on, news_on = prefs.status_notices, prefs.news
    text = turn.text("settings.title", status=turn.text("settings.on" if status_on else "settings.off"),
                     news=turn.text("settings.on" if news_on else "settings.off"))
    if note:
        text = turn.text(note) + "\n" + text
    markup = InlineKeyboardMarkup([
        [InlineKeyboardButton(turn.text("settings.btn.status_off" if status_on else "settings.btn.status_on"),
                              callback_data=f"set:status:{'off' if status_on else 'on'}")],
        [InlineKeyboardButton(turn.text("settings.btn.news_off" if news_on else "settings.btn.news_on"),
                              callback_data=f"set:news:{'off' if news_on else 'on'}")],
        [InlineKeyboardButton(turn.text("btn.menu"), callback_data="menu")],
    ])
    await steps.go(turn, Menu())
    await turn.send(escape(text), markup)


async def on_settings_button(turn: Turn, arg: str, step: Step) -> None:
    what, _, value = arg.partition(":")
    if what not in ("status", "news", "") or value not in ("on", "off", ""):
        await show_menu(turn, "stale.button")
        return
    if what == "status" and value:
        await turn.services.subscriptions.set_status_notices(turn.user_id, value == "on")
    elif what == "news" and value:
        await turn.services.subscriptions.set_news(turn.user_id, value == "on", turn.lang)
    await show_settings(turn, "settings.saved" if value else None)


def register() -> None:
    """The "Notices" row of the main menu and its buttons."""
    routes.menu_entry("btn.settings", "set", order=60)
    routes.button("set", on_settings_button)
