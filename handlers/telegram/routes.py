"""Where a feature plugs into the conversation.

The core conversation is menu.py (language, menu), identification.py, registry_requests.py and status.py, its
steps in steps.py. Other features (complaints, notices settings, the operator console, …) live in their own
modules and register here: the steps in which they read text or files, the buttons (callback-data prefixes) they
own, their menu entry, and where the conversation continues after identification. The dispatcher (dispatch.py)
consults these tables, so adding a feature never edits the dispatcher.

Nothing registers when imported: each feature module has a ``register()`` that build_application (app.py)
calls. The tables are the same for every Application in a process — they are a function of the code, and the
outbox worker (delivery.py) draws the main menu with no Application at hand — so registering the same handler
again changes nothing (the tests build many Applications); a second, different handler for a step, button or
action taken already is a mistake and fails.

The handlers are typed by their step: a handler of ``CpText`` gets the ``CpText`` the conversation stands in,
one of an after-identity action its ``Then``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import Message

from handlers.telegram.main_menu import MENU, menu_entry
from handlers.telegram.steps import Step, Then
from handlers.telegram.turn import Turn

S = TypeVar("S", bound=Step)
T = TypeVar("T", bound=Then)

# fn(turn, message, step) — a text (or, for file steps, any message) in a step the feature owns.
MessageHandlerFn = Callable[[Turn, Message, Any], Awaitable[None]]
# fn(turn, argument after "prefix:", the step the conversation stands in) — a button whose data starts with prefix.
ButtonHandlerFn = Callable[[Turn, str, Step], Awaitable[None]]
# fn(turn, what was asked) — where a feature's conversation continues once the person has identified.
AfterIdentityFn = Callable[[Turn, Any], Awaitable[None]]
AskAheadFn = Callable[[Turn, Any, str], Awaitable[None]]


TEXT_STATES: dict[str, MessageHandlerFn] = {}
OTHER_STATES: dict[str, MessageHandlerFn] = {}
STATE_HINTS: dict[str, str] = {}
BUTTONS: dict[str, ButtonHandlerFn] = {}
AFTER_IDENTITY: dict[str, AfterIdentityFn] = {}
ASK_AHEAD: dict[str, AskAheadFn] = {}


def _put(table: dict[str, Any], key: str, value: object, what: str) -> None:
    present = table.setdefault(key, value)
    assert present == value, f"{what} {key} registered twice"


def text_state(step: type[S], fn: Callable[[Turn, Message, S], Awaitable[None]], hint: str | None = None) -> None:
    """Register the handler of text typed in ``step``; ``hint`` is said when something else arrives."""
    _put(TEXT_STATES, step.NAME, fn, "state")
    if hint:
        _put(STATE_HINTS, step.NAME, hint, "hint of state")


def other_state(step: type[S], fn: Callable[[Turn, Message, S], Awaitable[None]]) -> None:
    """Register the handler of a non-text message (photo, document, …) in ``step``."""
    _put(OTHER_STATES, step.NAME, fn, "state")


def button(prefix: str, fn: ButtonHandlerFn) -> None:
    """Register the handler of buttons whose callback data is ``prefix`` or ``prefix:argument``."""
    _put(BUTTONS, prefix, fn, "button")


def after_identity(action: type[T], fn: Callable[[Turn, T], Awaitable[None]]) -> None:
    """Register where the conversation continues after identification asked by require_identity(turn, action)."""
    _put(AFTER_IDENTITY, action.ACTION, fn, "after-identity action")


def ask_ahead(action: type[T], fn: Callable[[Turn, T, str], Awaitable[None]]) -> None:
    """Register what an after-identity ``action`` needs from outside systems, asked with the person's IIN once
    their code is known to be right and before the update writes anything (no unit of work has begun then);
    ``fn`` keeps the answer in ``turn.ahead``."""
    _put(ASK_AHEAD, action.ACTION, fn, "ask-ahead action")


__all__ = ["AFTER_IDENTITY", "ASK_AHEAD", "BUTTONS", "MENU", "OTHER_STATES", "STATE_HINTS", "TEXT_STATES",
           "after_identity", "ask_ahead", "button", "menu_entry", "other_state", "text_state"]
