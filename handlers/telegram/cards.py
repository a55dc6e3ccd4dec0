"""Opening an application or a complaint by its number, wherever the number comes from — a deep link
(``/start QZ-261125-0482913``), a typed number, a notice's button — and the identity step offered right where
a verified identity would show more (the status list, a card), coming back to it afterwards.

Someone else's number and a number that does not exist get the same answer, with or without identity.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.applications import normalize_number
from bot.core.complaints import normalize_number as complaint_number
from handlers.telegram import citizen_complaints, routes, status, steps
from handlers.telegram.identification import continue_after_identity, require_identity
from handlers.telegram.menu import ask_language, show_menu, start
from handlers.telegram.status import StatusList
from handlers.telegram.steps import Menu, Step, Then
from handlers.telegram.turn import Turn

IDENTIFY = "idn"  # "idn:status": then the status list; "idn:card:<number>": then that card


@steps.then
class Card(Then):
    """The card of an application or a complaint, opened before identification."""
    ACTION = "card"
    number: str = ""


async def deep_link(turn: Turn, payload: str) -> None:
    """/start with a payload: the card of that application or complaint (after the language, if none yet).
    A payload that is no number at all (a link shared with some other tag) is a plain /start."""
    payload = payload[:64]
    if complaint_number(payload) is None and not _application_number(payload):
        await start(turn)
        return
    if turn.known is None or turn.known.blocked:  # writing again after blocking the bot: messages reach them
        await turn.services.subscriptions.clear_blocked(turn.user_id)
    if await turn.chosen_lang() is None:
        await ask_language(turn)  # the /start is taken up again once the language is chosen
        return
    await open_card(turn, payload)


def _application_number(text: str) -> bool:
    """Ours (QZ-…) or a provider's: a number has at least one digit (as the status feed requires)."""
    number = normalize_number(text)
    return number is not None and any(ch.isdigit() for ch in number)


async def open_card(turn: Turn, text: str) -> None:
    number = complaint_number(text)
    if number is None:
        await status.status_of(turn, text)
    elif await turn.identity() is None:  # only the filer sees a complaint: identity first, then the card
        await turn.say("card.identify", reply_markup=InlineKeyboardMarkup([
            [status.identify_button(turn, f"card:{number}")],
            [InlineKeyboardButton(turn.text("btn.menu"), callback_data="menu")]]))
    else:
        await citizen_complaints.show_card(turn, number)


async def on_identify(turn: Turn, arg: str, step: Step) -> None:
    what, _, number = arg.partition(":")
    then: Then
    if what == "status" and not number:
        then = StatusList()
    elif what == "card" and (normalize_number(number) or complaint_number(number)):
        then = Card(number=number)
    else:
        await show_menu(turn, "stale.button")
        return
    if await require_identity(turn, then):  # verified meanwhile: straight on
        await continue_after_identity(turn, then)


async def card_after_identity(turn: Turn, then: Card) -> None:
    await steps.go(turn, Menu())  # identification is over: what is typed next is read from the menu
    await open_card(turn, then.number)


def register() -> None:
    """The identity step offered by the status list and the cards, and where it leads back to."""
    routes.button(IDENTIFY, on_identify)
    routes.after_identity(Card, card_after_identity)
