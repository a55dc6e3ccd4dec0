"""``qyzmet import FILE.jsonl``: status feed events from a file, one JSON object a line, through the same
use case as the HTTP feed (bot/core/status_feed.py). Blank lines are skipped; a bad line is reported with its
number and does not stop the others."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.core.status_feed import Conflict, InvalidEvent, StatusFeed, parse_event
from bot.gateways.state_systems import StateSystemUnavailable

MAX_LINE = 16 * 1024  # the HTTP feed's body limit


@dataclass
class ImportReport:
    counts: Counter[str] = field(default_factory=Counter)  # created / updated / duplicate / rejected
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    @property
    def rejected(self) -> int:
        return self.counts["rejected"]

    def summary(self) -> str:
        return ", ".join(f"{name}: {self.counts[name]}" for name in ("created", "updated", "duplicate", "rejected"))


async def import_events(feed: StatusFeed, lines: Iterable[str]) -> ImportReport:
    report = ImportReport()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            if len(line) > MAX_LINE:
                raise InvalidEvent("line too long")
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                raise InvalidEvent("malformed JSON") from None
            recorded = await feed.record(parse_event(data), "import")
        except InvalidEvent as exc:
            report.counts["rejected"] += 1
            report.errors.append((number, f"{exc.field}: {exc}" if exc.field else str(exc)))
        except Conflict as exc:
            report.counts["rejected"] += 1
            report.errors.append((number, f"conflict: {exc}"))
        except StateSystemUnavailable:  # nothing of the line was kept: importing the file again takes it
            report.counts["rejected"] += 1
            report.errors.append((number, "the citizen directory is not answering (needed for an SMS notice); "
                                          "import the file again later"))
        else:
            report.counts[recorded.result] += 1
    return report
