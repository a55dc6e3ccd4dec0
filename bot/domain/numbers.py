"""Application and complaint numbers: one rule for how they are made and how a typed number is read.

A number is a prefix, the day (Asia/Almaty) and a random serial nobody can guess: QZ-261125-0482913 for an
application the bot registers, CP-261125-0012345 for a complaint. People type them with spaces, without
dashes, in lower case, and the prefix in Cyrillic letters that look Latin (С, Р, …).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.domain.calendar import ALMATY

# Cyrillic letters that look like the Latin ones of the prefixes.
_LOOKALIKES = str.maketrans({"С": "C", "Р": "P", "с": "C", "р": "P", "З": "Z", "з": "Z"})
_SPACES = re.compile(r"[\s\u00a0]")


class NumberScheme:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._pattern = re.compile(rf"{prefix}-?([0-9]{{6}})-?([0-9]{{7}})")

    def format(self, day: str, serial: int) -> str:
        return f"{self.prefix}-{day}-{serial:07d}"

    def compact(self, text: str) -> str:
        return _SPACES.sub("", text[:60]).translate(_LOOKALIKES).upper()

    def parse(self, text: str) -> str | None:
        """The canonical form of a number as a person may type it, or None when it is not one of ours."""
        match = self._pattern.fullmatch(self.compact(text))
        return self.format(match.group(1), int(match.group(2))) if match else None

    async def fresh(self, now: datetime, exists: Callable[[str], Awaitable[bool]]) -> str:
        """A number not used yet (``exists`` asks the store)."""
        day = now.astimezone(ALMATY).strftime("%y%m%d")
        while True:
            number = self.format(day, secrets.randbelow(10_000_000))
            if not await exists(number):
                return number


APPLICATIONS = NumberScheme("QZ")
COMPLAINTS = NumberScheme("CP")
