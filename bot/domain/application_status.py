"""Which application statuses are final: an application in one of them is no longer open (not overdue, not
in a "people with an open application" broadcast audience)."""

from __future__ import annotations

from typing import Final

# result_ready / refused are what the bot and the status feed write; issued / closed / withdrawn are the
# final words of providers' systems that a feed may carry.
FINAL_STATUSES: Final = ("result_ready", "refused", "issued", "closed", "withdrawn")


def is_open(status: str) -> bool:
    return status not in FINAL_STATUSES
