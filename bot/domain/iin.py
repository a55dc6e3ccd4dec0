"""Kazakhstan IIN (ЖСН / ИИН): parsing, checksum and masking.

The checksum is the only hard rule: since decree No. 853 (2013) the birth date and sex digits are not
guaranteed to match the person, so a citizen is never refused because an IIN "does not match" a date.
The same checksum applies to BINs.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["InvalidIIN", "check_digit", "is_valid_iin", "mask_iin", "parse_iin"]

IINErrorReason = Literal["format", "non_ascii", "checksum"]

_WEIGHTS_1 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_WEIGHTS_2 = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)

# `\d` and str.isdigit() accept Arabic-Indic or full-width digits; only ASCII 0-9 is an IIN digit.
_IIN_RE = re.compile(r"[0-9]{12}", re.ASCII)
_PREFIX_RE = re.compile(r"[0-9]{11}", re.ASCII)

# Separators a person types or pastes between digit groups: every Unicode space (NBSP, thin and
# narrow no-break spaces included), invisible joiners that come with copy-paste, and dash look-alikes.
_SEPARATORS_RE = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff\-\u2010-\u2015\u2212\ufe63\uff0d]+")

# Far longer than any IIN typed with separators; checked before any regex work.
_MAX_INPUT_LEN = 64


class InvalidIIN(ValueError):
    """The text is not a valid IIN; `reason` picks the message shown to the person."""

    def __init__(self, reason: IINErrorReason, message: str | None = None) -> None:
        super().__init__(message or f"invalid IIN ({reason})")
        self.reason: IINErrorReason = reason


def check_digit(prefix11: str) -> int | None:
    """Return the check digit for an 11-digit prefix, or None when the prefix has none.

    Two passes: weights 1..11, and if that gives 10, weights 3..11,1,2. A second 10 means no digit
    can complete the prefix (about 1 prefix in 121).
    """
    if not _PREFIX_RE.fullmatch(prefix11):
        raise ValueError("prefix must be exactly 11 ASCII digits")
    digits = [ord(ch) - 48 for ch in prefix11]
    c = sum(d * w for d, w in zip(digits, _WEIGHTS_1, strict=False)) % 11
    if c == 10:
        c = sum(d * w for d, w in zip(digits, _WEIGHTS_2, strict=False)) % 11
        if c == 10:
            return None
    return c


def _has_non_ascii_digit(text: str) -> bool:
    # Any Unicode digit other than 0-9 (Arabic-Indic, full-width, Devanagari, ...).
    # str.isdigit() also covers superscripts; those are refused the same way.
    return any(ch.isdigit() and not ("0" <= ch <= "9") for ch in text)


def parse_iin(text: str) -> str:
    """Turn what a person typed into a 12-digit IIN string, or raise InvalidIIN.

    Spaces and hyphens between groups ("900101 300 123") are dropped. Digits other than ASCII 0-9
    are refused (reason "non_ascii") rather than silently converted, so the stored value is exactly
    what the registry expects. The result stays a string: IINs of 2000s births start with 0.
    """
    if len(text) > _MAX_INPUT_LEN:
        raise InvalidIIN("format")
    compact = _SEPARATORS_RE.sub("", text)
    if not _IIN_RE.fullmatch(compact):
        if _has_non_ascii_digit(compact):
            raise InvalidIIN("non_ascii")
        raise InvalidIIN("format")
    if check_digit(compact[:11]) != ord(compact[11]) - 48:
        raise InvalidIIN("checksum")
    return compact


def is_valid_iin(s: str) -> bool:
    """True when `s` is exactly 12 ASCII digits with a correct check digit (no separators)."""
    if not _IIN_RE.fullmatch(s):
        return False
    return check_digit(s[:11]) == ord(s[11]) - 48


def mask_iin(iin: str) -> str:
    """Mask an IIN for logs and third parties: `******1234` (only the last four digits shown)."""
    digits = re.sub(r"[^0-9]", "", iin)
    return "******" + (digits[-4:] if len(digits) >= 4 else "")
