"""One backoff for every queue (bot/domain/retry.py)."""

from __future__ import annotations

import subprocess

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.retry import backoff


def test_the_pause_doubles_from_the_base_up_to_the_maximum():
    assert [backoff(n, 5.0, 300.0) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]
    assert backoff(0, 5.0, 300.0) == 5.0  # "no failure yet" is read as the first


@given(st.integers(min_value=-5, max_value=10**9), st.floats(0.01, 1e4), st.floats(0.01, 1e6))
def test_any_count_gives_a_pause_within_its_bounds(attempts, base, maximum):
    pause = backoff(attempts, base, maximum)
    assert 0 < pause <= maximum


def test_no_queue_writes_its_own_formula():
    """grep: every growing pause comes from this function."""
    found = subprocess.run(["grep", "-rnE", r"\* *2(\.0)? *\*\* *\(?attempt", "bot", "store", "handlers"],
                           capture_output=True, text=True).stdout
    assert found == "", found
