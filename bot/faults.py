"""Crash points for fault-injection tests: the process dies at a chosen moment, as under SIGKILL.

``QYZMET_CRASH_AT=<where>:<label>[#n]`` ends the process with ``os._exit`` (no clean-up, no flush, nothing
committed after it) the n-th time (default: the first) a unit of work that ``label`` joined reaches
``where``: ``before_commit`` or ``after_commit`` of a unit, ``before_settle`` of a delivery (the message
has left, its outbox row is not yet marked), or ``after_part`` of a Telegram delivery of several messages (one
has left and the row keeps the rest; more are to follow). Unset, every point is a no-op costing one comparison.
The tests restart the bot on the same database afterwards and check that nothing was lost or repeated.

``fail_once(where, label)`` is the in-process counterpart for tests: the next such unit raises InjectedFailure
there instead, a failure the process survives (the unit rolls back), e.g. to see a webhook update refused and
posted again.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

EXIT_CODE = 70

_spec = os.environ.get("QYZMET_CRASH_AT", "")
_where, _, _rest = _spec.partition(":")
_label, _, _nth = _rest.partition("#")
_remaining = int(_nth) if _nth.isdigit() else 1
_failures: list[tuple[str, str]] = []  # (where, label) to fail once each, in-process (fail_once)


class InjectedFailure(RuntimeError):
    """A failure a test asked for with fail_once."""


def fail_once(where: str, label: str) -> None:
    """Make the next unit of work that ``label`` joined raise InjectedFailure at ``where`` (tests only)."""
    _failures.append((where, label))


def point(where: str, labels: Iterable[str]) -> None:
    """Die here if this is the configured crash point (or raise, if a test asked for a failure here)."""
    global _remaining
    if _failures:
        labels = list(labels)
        for i, (fail_where, fail_label) in enumerate(_failures):
            if fail_where == where and fail_label in labels:
                del _failures[i]
                raise InjectedFailure(f"{where}:{fail_label}")
    if not _spec or where != _where or _label not in labels:
        return
    _remaining -= 1
    if _remaining == 0:
        sys.stderr.write(f"crash point reached: {where}:{_label}\n")
        sys.stderr.flush()
        os._exit(EXIT_CODE)
