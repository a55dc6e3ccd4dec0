"""Where a feature plugs into the conversation.

flows.py holds the core conversation (language, menu, identification, registry requests, status). Other
features (complaints, notices settings, the operator console, …) live in their own modules and register here:
the chat states in which they read text or files, the buttons (callback-data prefixes) they own, and their
menu entry. The dispatcher in flows.py consults these tables, so adding a feature never edits the dispatcher.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import Message

from bot.services import Services
from handlers.telegram.turn import Turn
from bot.domain.model import ChatState, UserSnapshot

# fn(turn, message, state data) — a text (or, for file states, any message) in a state the feature owns.
MessageHandlerFn = Callable[[Turn, Message, dict], Awaitable[None]]
# fn(turn, argument after "prefix:", current chat state) — a button whose callback data starts with the prefix.
ButtonHandlerFn = Callable[[Turn, str, ChatState], Awaitable[None]]
# fn(services, user_id, identified, known) -> whether the menu shows the entry to this person (e.g. operators
# only); ``known`` is what the turn already read about the person (None outside a turn: read it yourself).
VisibleFn = Callable[[Services, int, bool, UserSnapshot | None], Awaitable[bool]]


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
# fn(turn, what was asked) — where a feature's conversation continues once the person has identified.
AFTER_IDENTITY: dict[str, Callable[[Turn, dict], Awaitable[None]]] = {}


def text_state(state: str, hint: str | None = None) -> Callable[[MessageHandlerFn], MessageHandlerFn]:
    """Register the handler of text typed in ``state``; ``hint`` is said when something else arrives."""
    def register(fn: MessageHandlerFn) -> MessageHandlerFn:
        assert state not in TEXT_STATES, f"state {state} registered twice"
        TEXT_STATES[state] = fn
        if hint:
            STATE_HINTS[state] = hint
        return fn
    return register


def other_state(state: str) -> Callable[[MessageHandlerFn], MessageHandlerFn]:
    """Register the handler of a non-text message (photo, document, …) in ``state``."""
    def register(fn: MessageHandlerFn) -> MessageHandlerFn:
        assert state not in OTHER_STATES, f"state {state} registered twice"
        OTHER_STATES[state] = fn
        return fn
    return register


def button(prefix: str) -> Callable[[ButtonHandlerFn], ButtonHandlerFn]:
    """Register the handler of buttons whose callback data is ``prefix`` or ``prefix:argument``."""
    def register(fn: ButtonHandlerFn) -> ButtonHandlerFn:
        assert prefix not in BUTTONS, f"button {prefix} registered twice"
        BUTTONS[prefix] = fn
        return fn
    return register


def menu_entry(label_key: str, callback_data: str, order: int, visible: VisibleFn | None = None) -> None:
    """Add a row to the main menu. ``order`` places it: built-in rows are 10 (own), 20 (other),
    30 (status), 40 (guide); help/language are always last."""
    MENU.append(MenuEntry(label_key, callback_data, order, visible))
    MENU.sort(key=lambda e: e.order)


def after_identity(action: str) -> Callable[[Callable[[Turn, dict], Awaitable[None]]], Callable[[Turn, dict], Awaitable[None]]]:
    """Register where the conversation continues after identification asked by require_identity(turn,
    {"action": action, ...})."""
    def register(fn: Callable[[Turn, dict], Awaitable[None]]) -> Callable[[Turn, dict], Awaitable[None]]:
        assert action not in AFTER_IDENTITY, f"after-identity action {action} registered twice"
        AFTER_IDENTITY[action] = fn
        return fn
    return register
