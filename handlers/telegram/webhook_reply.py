"""One Bot API call carried by the webhook's answer instead of a request of its own.

Telegram lets the 2xx answer to a webhook request carry one method call, which it then runs (its result is not
returned to the bot). The bot uses it for what needs no result and no durability: stopping the spinner of a
pressed button (answerCallbackQuery) — one HTTP request less per press on both sides. Replies are not sent that
way: they live in the outbox until Telegram has accepted them, which an answer's method call would not tell.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any


class Slot:
    """Room for the one call of a webhook answer (filled at most once)."""

    __slots__ = ("call",)

    def __init__(self) -> None:
        self.call: dict[str, Any] | None = None


_SLOT: ContextVar[Slot | None] = ContextVar("qyzmet_webhook_reply", default=None)


def offer() -> tuple[Slot, Any]:
    """Open a slot for the update being handled in this task (the webhook route); returns it and the token
    to close it with."""
    slot = Slot()
    return slot, _SLOT.set(slot)


def close(token: Any) -> None:
    _SLOT.reset(token)


def carry(method: str, **params: Any) -> bool:
    """Put the call in the webhook's answer if this update came by webhook and the answer has room: True then
    (the caller makes no request of its own)."""
    slot = _SLOT.get()
    if slot is None or slot.call is not None:
        return False
    slot.call = {"method": method, **params}
    return True
