"""How many billed SMS segments a text takes.

Any Kazakh or Russian letter forces UCS-2 (70 units single, 67 per part); only pure GSM-7 text gets
160 / 153. Segments are counted the way a gateway splits: an extension character (2 septets) or a
surrogate pair (emoji, 2 UTF-16 units) is never cut between two parts, so a part may carry one unit
less than its maximum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["GSM7_BASIC", "GSM7_EXTENSION", "Segments", "count_segments"]

# GSM 03.38 default alphabet (one septet each), LF and CR included.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: reached through ESC, so two septets each.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

_LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@dataclass(frozen=True)
class Segments:
    """Encoding chosen, total units (septets or UTF-16 code units), and billed segments."""

    encoding: Literal["GSM-7", "UCS-2"]
    units: int
    segments: int


def _pack(costs: list[int], single: int, per_part: int) -> tuple[int, int]:
    """Total units, and parts needed when each character's units must stay in one part."""
    total = sum(costs)
    if total <= single:
        return total, 1
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts += 1
            used = 0
        used += cost
    return total, parts


def count_segments(text: str) -> Segments:
    """Count segments for `text`; the empty text is one (empty) SMS of 0 units."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        encoding: Literal["GSM-7", "UCS-2"] = "GSM-7"
        costs = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    else:
        encoding = "UCS-2"
        costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    single, per_part = _LIMITS[encoding]
    units, parts = _pack(costs, single, per_part)
    return Segments(encoding=encoding, units=units, segments=parts)
