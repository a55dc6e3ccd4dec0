"""The state systems the core depends on, as small Protocols (DESIGN.md, "State systems").

Each has an embedded default and an HTTP implementation (bot/gateways/state_selection.py picks one from the
QYZMET_*_URL settings):
- the citizen directory: IIN → the person and their registered phone;
- the registries (TB, psychiatry, narcology): IIN + register → observed or not, and the answering system;
- monitoring of service stages, and the complaints intake of the addressee: what we post to them goes
  through an outbox (bot/core/state_outbox.py), so they exist only when their URL is set.

A system that cannot answer now raises ``StateSystemUnavailable``; the caller decides what that means (an
identification answers "try again later", a registry question waits in a queue, an outbox tries again). An
answer is used at once and forgotten: it is never logged, and never stored beyond what the embedded tables
hold already.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bot.domain.model import Citizen


class StateSystemUnavailable(Exception):
    """The system could not answer now: a timeout, no connection, 5xx or 429, an answer that is not the
    contract's, or its circuit breaker is open. Worth asking again later."""

    def __init__(self, system: str, reason: str) -> None:
        super().__init__(f"{system}: {reason}")
        self.system = system
        self.reason = reason


class StateSystemRejected(Exception):
    """The system refused what we posted (a 4xx other than 408 and 429): posting it again will not help."""


@dataclass(frozen=True)
class RegistryAnswer:
    observed: bool
    source_system: str | None  # None: the register's own information system (its name is ours to show)


NOT_OBSERVED = RegistryAnswer(False, None)


class CitizenDirectory(Protocol):
    async def person(self, iin: str) -> Citizen | None:
        """The person with this IIN (None: the directory does not know it); StateSystemUnavailable."""

    def reachable(self) -> bool:
        """False while calls are not even tried (the circuit breaker is open): the directory is down."""


class Registries(Protocol):
    async def lookup(self, iin: str, register: str) -> RegistryAnswer:
        """Whether the person is observed in ``register`` (tb | psychiatry | narcology); StateSystemUnavailable."""


class Monitoring(Protocol):
    async def post_stage(self, stage: dict[str, Any]) -> None:
        """Report one stage (its ``key`` makes a repeat one stage); StateSystemUnavailable, StateSystemRejected."""


class ComplaintsIntake(Protocol):
    async def deliver(self, complaint: dict[str, Any]) -> None:
        """Hand one complaint to the addressee's system; StateSystemUnavailable, StateSystemRejected."""
