"""Percentiles without numpy."""

from __future__ import annotations


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def pct(values: list[float], scale: float = 1.0) -> dict:
    return {"n": len(values), **{f"p{int(q * 100)}": round(quantile(values, q) * scale, 3)
                                 for q in (0.5, 0.9, 0.99)},
            "max": round(max(values) * scale, 3) if values else float("nan")}
