"""Application statuses: forward only, nothing after a final status."""

from __future__ import annotations

import pytest

from bot.domain.application_status import FEED_STATUSES, FINAL_STATUSES, STATUSES, can_move, is_open


@pytest.mark.parametrize(("current", "new", "allowed"), [
    ("awaiting_consent", "accepted", True),
    ("accepted", "in_progress", True),
    ("accepted", "result_ready", True),  # a stage may be skipped
    ("in_progress", "refused", True),
    ("in_progress", "accepted", False),  # never back
    ("in_progress", "in_progress", False),  # the same status is no change
    ("result_ready", "refused", False),
    ("refused", "in_progress", False),
    ("accepted", "unknown", False),
])
def test_moves(current, new, allowed):
    assert can_move(current, new) is allowed


def test_nothing_leaves_a_final_status():
    for final in FINAL_STATUSES:
        assert not is_open(final)
        assert not any(can_move(final, s) for s in STATUSES)
    assert set(FEED_STATUSES) == {"accepted", "in_progress", "result_ready", "refused"}
