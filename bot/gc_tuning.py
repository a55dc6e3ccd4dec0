"""The garbage collector of long-running processes, tuned for what they keep.

Reference counting frees nearly every object an update makes; the cyclic collector only has cycles to find. Its
full collections walk every tracked object, so their pause grows with the heap: what a process keeps for its
whole life (modules, catalogs, the calendar, the Application, an emulator's record of every message) is moved out
of its reach with ``gc.freeze``.
"""

from __future__ import annotations

import gc
from typing import Any


def freeze_startup_heap() -> None:
    """What start-up built lives as long as the process: it is moved out of the collector's reach, so that a
    collection walks only what the work made since. Updates make many short-lived objects, nearly all freed by
    reference counting: the youngest generation is collected every 5,000 allocations instead of 700. Measured
    (`python -m bench --quick`, two pairs of runs): the bot's CPU per update 1.78 → 1.51 ms."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(5000, 10, 10)


def freeze_survivors() -> None:
    """For a process whose heap only grows (the standalone Bot API emulator keeps every message and update it
    saw): after start-up, and after each full collection, what survived is frozen, so that the next full
    collection walks only what came since. Its pauses stay short however long a benchmark runs, instead of
    reaching 50–100 ms and showing as the measured bot's latency. Garbage that forms a cycle only after being
    frozen is never collected: acceptable for a test double, not for the bot."""
    freeze_startup_heap()

    def after_full(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    gc.callbacks.append(after_full)
