"""Where a feature plugs into the conversation.

The core conversation is menu.py (language, menu), identification.py, registry_requests.py and status.py, its
states in states.py. Other features (complaints, notices settings, the operator console, …) live in their own
modules and register here: the chat states in which they read text or files, the buttons (callback-data
prefixes) they own, their menu entry, and where the conversation continues after identification. The
dispatcher (dispatch.py) consults these tables, so adding a feature never edits the dispatcher.

Nothing registers when imported: each feature module has a ``register()`` that build_application (app.py)
calls. The tables are the same for every Application in a process — they are a function of the code, and the
outbox worker (delivery.py) draws the main menu with no Application at hand — so registering the same handler
again changes nothing (the tests build many Applications); a second, different handler for a state, button or
action taken already is a mistake and fails.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import Message

from bot.domain.model import ChatState, UserSnapshot
from bot.services import Services
from handlers.telegram.turn import Turn

# fn(turn, message, state data) — a text (or, for file states, any message) in a state the feature owns.
MessageHandlerFn = Callable[[Turn, Message, dict], Awaitable[None]]
# fn(turn, argument after "prefix:", current chat state) — a button whose callback data starts with the prefix.
ButtonHandlerFn = Callable[[Turn, str, ChatState], Awaitable[None]]
# fn(services, user_id, identified, known) -> whether the menu shows the entry to this person (e.g. operators
# only); ``known`` is what the turn already read about the person (None outside a turn: read it yourself).
VisibleFn = Callable[[Services, int, bool, UserSnapshot | None], Awaitable[bool]]
# fn(turn, what was asked) — where a feature's conversation continues once the person has identified.
AfterIdentityFn = Callable[[Turn, dict], Awaitable[None]]


@dataclass(frozen=True)
class MenuEntry:
    label_key: str
    callback_data: str
    order: int
    visible: VisibleFn | None = None


TEXT_STATES: dict[str, MessageHandlerFn] = {}
OTHER_STATES: dict[str, MessageHandlerFn] = {}
STATE_HINTS: dict[str, str] = {}
BUTTONS: dict[str, ButtonHandlerFn] = {}
MENU: list[MenuEntry] = []
AFTER_IDENTITY: dict[str, AfterIdentityFn] = {}


def _put(table: dict, key: str, value: object, what: str) -> None:
    present = table.setdefault(key, value)
    assert present == value, f"{what} {key} registered twice"


def text_state(state: str, fn: MessageHandlerFn, hint: str | None = None) -> None:
    """Register the handler of text typed in ``state``; ``hint`` is said when something else arrives."""
    _put(TEXT_STATES, state, fn, "state")
    if hint:
        _put(STATE_HINTS, state, hint, "hint of state")


def other_state(state: str, fn: MessageHandlerFn) -> None:
    """Register the handler of a non-text message (photo, document, …) in ``state``."""
    _put(OTHER_STATES, state, fn, "state")


def button(prefix: str, fn: ButtonHandlerFn) -> None:
    """Register the handler of buttons whose callback data is ``prefix`` or ``prefix:argument``."""
    _put(BUTTONS, prefix, fn, "button")


def menu_entry(label_key: str, callback_data: str, order: int, visible: VisibleFn | None = None) -> None:
    """Add a row to the main menu. ``order`` places it: built-in rows are 10 (own), 20 (other),
    30 (status), 40 (guide); help/language are always last."""
    entry = MenuEntry(label_key, callback_data, order, visible)
    if entry in MENU:
        return
    assert all(e.callback_data != callback_data for e in MENU), f"menu entry {callback_data} registered twice"
    MENU.append(entry)
    MENU.sort(key=lambda e: e.order)


def after_identity(action: str, fn: AfterIdentityFn) -> None:
    """Register where the conversation continues after identification asked by require_identity(turn,
    {"action": action, ...})."""
    _put(AFTER_IDENTITY, action, fn, "after-identity action")
