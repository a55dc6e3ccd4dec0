"""Application statuses and the moves between them.

Which statuses are final: an application in one of them is no longer open (not overdue, not in a "people with
an open application" broadcast audience), and nothing changes it any more.

Moves: a status may only go forward — awaiting_consent → accepted → in_progress → result_ready | refused
(a stage may be skipped: providers' systems do not always report every one). A status never goes back and
does not repeat (the same status again is not a change), and after a final status nothing moves.
"""

from __future__ import annotations

from typing import Final

# result_ready / refused are what the bot and the status feed write; issued / closed / withdrawn are the
# final words of providers' systems that older data may carry.
FINAL_STATUSES: Final = ("result_ready", "refused", "issued", "closed", "withdrawn")

# What the status feed contract (DESIGN.md) lets a provider's system or an operator report.
FEED_STATUSES: Final = ("accepted", "in_progress", "result_ready", "refused")

# Every status the bot knows, in the order of the stages.
_RANK: Final[dict[str, int]] = {"awaiting_consent": 0, "accepted": 1, "in_progress": 2, "result_ready": 3,
                                "refused": 3, "issued": 3, "closed": 3, "withdrawn": 3}
STATUSES: Final = tuple(_RANK)


def is_open(status: str) -> bool:
    return status not in FINAL_STATUSES


def can_move(current: str, new: str) -> bool:
    """Whether an application in ``current`` may go to ``new`` (forward only, never from a final status)."""
    if not is_open(current) or current not in _RANK or new not in _RANK:
        return False
    return _RANK[new] > _RANK[current]
