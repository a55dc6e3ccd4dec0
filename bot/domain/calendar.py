"""Working days in Kazakhstan, in Asia/Almaty local dates.

Built on `holidays` (public holidays, the automatic "holiday on a weekend -> next working day off"
rule, and government transfers up to 2025). One-off transfers decreed later reach that package only
with new releases, so an override table (bundled `calendar_overrides.json`, or a file named in the
configuration) adds days off and turns weekend days into working days.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays

__all__ = ["ALMATY", "DEFAULT_OVERRIDES_FILE", "WorkingCalendar"]

# All of Kazakhstan is UTC+5 since 1 March 2024; tzdata keeps this right on every machine.
ALMATY = ZoneInfo("Asia/Almaty")

DEFAULT_OVERRIDES_FILE = "calendar_overrides.json"

_ONE_DAY = timedelta(days=1)


class WorkingCalendar:
    """Answers "is this a working day" for Kazakhstan, with configurable one-off transfers.

    Precedence: `extra_days_off` > `extra_working_days` > the `holidays` package (which already
    knows weekends, public holidays, weekend carry-overs and transfers up to 2025).
    """

    def __init__(
        self,
        extra_days_off: Mapping[date, str] | None = None,
        extra_working_days: Iterable[date] | None = None,
    ) -> None:
        self.extra_days_off: dict[date, str] = dict(extra_days_off or {})
        self.extra_working_days: set[date] = set(extra_working_days or ())
        both = self.extra_days_off.keys() & self.extra_working_days
        if both:
            listed = ", ".join(sorted(d.isoformat() for d in both))
            raise ValueError(f"dates both a day off and a working day: {listed}")
        # expand=True: years are added the first time a date of that year is asked about.
        self._holidays = holidays.country_holidays("KZ", years=(), expand=True)
        self._cache: dict[date, bool] = {}

    @classmethod
    def from_file(cls, path: Path | None = None) -> WorkingCalendar:
        """Load overrides from JSON `{"days_off": {"YYYY-MM-DD": "name"}, "working_days": [...]}`.

        `None` loads the bundled `bot/domain/calendar_overrides.json`. Keys starting with "_" are
        comments; any other unknown key is an error, so a typo cannot silently drop a decree.
        """
        if path is None:
            text = resources.files(__package__).joinpath(DEFAULT_OVERRIDES_FILE).read_text("utf-8")
            source = DEFAULT_OVERRIDES_FILE
        else:
            text = Path(path).read_text("utf-8")
            source = str(path)
        data = json.loads(text)
        return cls(**_parse_overrides(data, source))

    def is_working_day(self, d: date) -> bool:
        """True for a day on which offices work (Asia/Almaty calendar date)."""
        cached = self._cache.get(d)
        if cached is not None:
            return cached
        if d in self.extra_days_off:
            result = False
        elif d in self.extra_working_days:
            result = True
        else:
            result = self._holidays.is_working_day(d)
        self._cache[d] = result
        return result

    def holiday_name(self, d: date) -> str | None:
        """Name of the holiday or decreed day off on `d` (package names are kk/en, not ru)."""
        if d in self.extra_days_off:
            return self.extra_days_off[d]
        if d in self.extra_working_days:
            return None
        return self._holidays.get(d)

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after `d`."""
        d += _ONE_DAY
        while not self.is_working_day(d):
            d += _ONE_DAY
        return d

    def add_working_days(self, d: date, n: int) -> date:
        """The n-th working day after `d`, not counting `d` itself (n = 0 returns `d`).

        This is how legal terms in working days run: counting starts on the day after the event.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        for _ in range(n):
            d = self.next_working_day(d)
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """Number of working days in (a, b]; 0 when b <= a."""
        count = 0
        d = a + _ONE_DAY
        while d <= b:
            count += self.is_working_day(d)
            d += _ONE_DAY
        return count


def _parse_date(value: Any, source: str) -> date:
    if not isinstance(value, str):
        raise ValueError(f"{source}: dates must be 'YYYY-MM-DD' strings, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{source}: not a YYYY-MM-DD date: {value!r}") from None


def _parse_overrides(data: Any, source: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object")
    unknown = [k for k in data if not k.startswith("_") and k not in ("days_off", "working_days")]
    if unknown:
        raise ValueError(f"{source}: unknown keys {unknown}")
    days_off_raw = data.get("days_off", {})
    working_raw = data.get("working_days", [])
    if not isinstance(days_off_raw, dict) or not isinstance(working_raw, list):
        raise ValueError(f"{source}: 'days_off' must be an object and 'working_days' a list")
    days_off = {_parse_date(k, source): str(v) for k, v in days_off_raw.items()}
    working = {_parse_date(v, source) for v in working_raw}
    return {"extra_days_off": days_off, "extra_working_days": working}
