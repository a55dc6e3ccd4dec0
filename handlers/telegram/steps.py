"""Where a person's conversation stands: one type per step, holding exactly what that step must remember.

The conversation is kept in the database (``chat_states``: the step's name and its data as a JSON object), written
with the update that moved it (turn.py), so a restart in the middle of a flow continues where the person was.
This module turns the stored pair into a typed step and back, and is the one way handlers read and move it:
``current(turn)`` and ``go(turn, step)``.

A step's fields are the keys of its JSON object, the very keys the earlier untyped version wrote and read: a state
saved by an older version loads, and a rollback reads what this one saved. A stored state that no longer fits
(a step that was removed, data of an unknown shape) is the menu, never an error — the person sees the menu's hint,
as for any text typed there.

Where the conversation goes on once the person has identified is a ``Then`` (one type per action, the key
``action`` naming it), carried by the identification steps. Features define their steps and their ``Then``s next
to their handlers and register the types with the ``@step`` and ``@then`` decorators (a type registry, the same
for every Application; routes.py keeps the handlers).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, SerializeAsAny, ValidationError, field_validator, model_serializer
from pydantic_core.core_schema import SerializerFunctionWrapHandler

from bot.core.conversation import AWAITING_CONSENT_CODE, MENU
from bot.domain.model import ChatState
from handlers.telegram.turn import Turn

log = logging.getLogger(__name__)

_FROZEN = ConfigDict(frozen=True, extra="ignore")


class Step(BaseModel):
    """A step of the conversation; ``NAME`` is the state stored in ``chat_states``."""
    model_config = _FROZEN
    NAME: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        """The step's data as stored: every field, so that the previous version reads it too (a rollback)."""
        return self.model_dump(mode="json")


class Then(BaseModel):
    """What was asked before identification; ``ACTION`` is its ``action`` key (routes.after_identity)."""
    model_config = _FROZEN
    ACTION: ClassVar[str] = ""

    @model_serializer(mode="wrap")
    def _with_action(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        fields: dict[str, Any] = handler(self)
        return {"action": self.ACTION, **fields}

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


STEPS: dict[str, type[Step]] = {}
THENS: dict[str, type[Then]] = {}

S = TypeVar("S", bound=Step)
T = TypeVar("T", bound=Then)


def step(cls: type[S]) -> type[S]:
    """Register a step type by its NAME (a class decorator)."""
    assert cls.NAME and STEPS.setdefault(cls.NAME, cls) is cls, f"step {cls.NAME!r} registered twice"
    return cls


def then(cls: type[T]) -> type[T]:
    """Register a Then type by its ACTION (a class decorator)."""
    assert cls.ACTION and THENS.setdefault(cls.ACTION, cls) is cls, f"then {cls.ACTION!r} registered twice"
    return cls


def load(state: ChatState) -> Step:
    """The typed step of a stored state; the menu when it no longer fits (see the module docstring)."""
    cls = STEPS.get(state.state)
    if cls is None:
        if state.state != MENU:
            log.warning("a stored conversation state %r is no step of this version; the menu instead",
                        state.state[:40])
        return Menu()
    try:
        return cls.model_validate(state.data)
    except ValidationError as exc:  # the field names only: the data may hold an IIN or a phone
        log.warning("a stored %r step does not fit (%s); the menu instead", state.state,
                    ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())[:200])
        return Menu()


def load_then(data: object) -> Then | None:
    """A Then from its JSON object; None (the menu follows identification) when it fits no known action."""
    if isinstance(data, Then) or data is None:
        return data
    if not isinstance(data, dict):
        return None
    cls = THENS.get(str(data.get("action")))
    if cls is None:
        return None
    try:
        return cls.model_validate(data)
    except ValidationError:
        return None


async def current(turn: Turn) -> Step:
    """Where the conversation stands."""
    return load(await turn.chat_state())


async def go(turn: Turn, to: Step) -> None:
    """Move the conversation to ``to`` (written when the update closes, with its replies)."""
    await turn.set_state(to.NAME, to.to_json())


# The core conversation's steps (menu.py, identification.py, registry_requests.py) ----------------------------

@step
class Menu(Step):
    """Nothing asked: text is read as a command of the menu (an application number, …)."""
    NAME = MENU


@step
class ChoosingLanguage(Step):
    """The language prompt, and what it interrupted: the step then (``state``, ``data``: as stored) and, when
    the interrupted update is to be handled again once the language is chosen, that update (``resume``)."""
    NAME = "lang"
    resume: dict[str, Any] | None = None
    state: str | None = None
    data: dict[str, Any] = {}

    def interrupted(self) -> Step:
        return load(ChatState(self.state or MENU, self.data))


class _Identifying(Step):
    then: SerializeAsAny[Then] | None = None

    @field_validator("then", mode="before")
    @classmethod
    def _then(cls, value: object) -> Then | None:
        return load_then(value)


@step
class SharingContact(_Identifying):
    NAME = "id_contact"


@step
class TypingIin(_Identifying):
    NAME = "id_iin"
    phone: str


@step
class TypingIdentityCode(_Identifying):
    NAME = "id_code"
    phone: str
    iin: str
    attempt: str


@step
class TypingSubjectIin(Step):
    """Another person's IIN, for a request about them."""
    NAME = "tp_iin"
    service: str


@step
class TypingConsentCode(Step):
    """The code the data subject was sent (the core ends this step itself: bot/core/conversation.py)."""
    NAME = AWAITING_CONSENT_CODE
    number: str

