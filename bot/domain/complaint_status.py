"""The life of a complaint: states, addressees and which moves are allowed.

The marks follow version A of the rules ([000] item 13: delivery, registration, execution, answer on review or
refusal to review); the addressees and terms follow version B ([001] items 8-11): the head of the provider
answers within 5 working days, the authorised body for quality assessment and control within 15, and a
complaint to that body is filed with the provider, which forwards it within 3 working days.
"""

from __future__ import annotations

from typing import Final, Literal

Addressee = Literal["provider", "quality_authority"]
ADDRESSEES: Final[tuple[str, ...]] = ("provider", "quality_authority")

DELIVERED: Final = "delivered"
REGISTERED: Final = "registered"
FORWARDED: Final = "forwarded"
UNDER_REVIEW: Final = "under_review"
ANSWERED: Final = "answered"
REFUSED: Final = "refused_to_review"
# Version B item 11: the provider need not forward a complaint to the quality authority if, within the 3 working
# days, it takes a decision that fully satisfies it.
SATISFIED: Final = "satisfied_by_provider"

STATES: Final[tuple[str, ...]] = (DELIVERED, REGISTERED, FORWARDED, UNDER_REVIEW, ANSWERED, REFUSED, SATISFIED)
FINAL_STATES: Final[frozenset[str]] = frozenset({ANSWERED, REFUSED, SATISFIED})
# A complaint to the quality authority in these states still waits to be forwarded (3 working days).
BEFORE_FORWARDING: Final[frozenset[str]] = frozenset({DELIVERED, REGISTERED})
# States whose move needs a text (the reasoned answer, the reason of the refusal to review, the provider's
# decision that satisfied the complaint).
NEEDS_TEXT: Final[frozenset[str]] = frozenset({ANSWERED, REFUSED, SATISFIED})

# to-state -> the states it may be reached from, per addressee. A complaint to the quality authority is
# reviewed only after the provider forwarded it; the provider reviews its own complaints directly.
_FROM: Final[dict[str, dict[str, frozenset[str]]]] = {
    "provider": {
        REGISTERED: frozenset({DELIVERED}),
        UNDER_REVIEW: frozenset({REGISTERED}),
        ANSWERED: frozenset({REGISTERED, UNDER_REVIEW}),
        REFUSED: frozenset({REGISTERED, UNDER_REVIEW}),
    },
    "quality_authority": {
        REGISTERED: frozenset({DELIVERED}),
        FORWARDED: frozenset({REGISTERED}),
        UNDER_REVIEW: frozenset({FORWARDED}),
        ANSWERED: frozenset({FORWARDED, UNDER_REVIEW}),
        REFUSED: frozenset({FORWARDED, UNDER_REVIEW}),
        SATISFIED: frozenset({REGISTERED}),
    },
}


def allowed_from(addressee: str, to: str) -> frozenset[str]:
    """The states from which a complaint to ``addressee`` may move to ``to`` (empty: never)."""
    return _FROM.get(addressee, {}).get(to, frozenset())


def next_states(addressee: str, state: str) -> list[str]:
    """Where an operator may move a complaint next, in the order of the life cycle."""
    return [to for to in STATES if state in allowed_from(addressee, to)]


def is_open(state: str) -> bool:
    return state not in FINAL_STATES
