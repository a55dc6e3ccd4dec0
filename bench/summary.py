"""Every figure of a run, per round, and its median and spread (min–max) over the rounds.

One bracketed round does not cancel the drift of a shared machine: the same figure moves from one round to the
next by more than most changes one would want to measure. So each figure is taken in every round and reported
as its median with the smallest and largest value seen; a difference between two runs that falls inside the
spreads is not a difference.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    key: str          # the name in results.json "summary"
    label: str        # the table's wording
    unit: str
    get: Callable[[dict], Any]
    digits: int = 1
    target: float | None = None  # the bound the figure should keep (None: no target)
    target_text: str = "—"
    at_least: bool = False  # the target is a lower bound (a ratio to reach), not an upper one


def _lat(phase: str, field: str, q: str) -> Callable[[dict], Any]:
    return lambda r: r[phase][field][q] if field in r[phase] else None


def _failed(r: dict) -> int:
    phases = ("stock_echo_before", "plumbing_echo_before", "throughput", "half_load", "third_party", "webhook",
              "plumbing_echo_after", "stock_echo_after")
    return sum(r[p]["failures"] for p in phases) + r["memory"]["sample"]["failures"]


def _per(total_key: str, phase: str, per: int) -> Callable[[dict], Any]:
    return lambda r: r[phase][total_key] / r[phase]["updates"] * per if r[phase]["updates"] else None


ROUND_FIGURES = [
    Figure("bot_updates_per_s", "bot: own flow, closed loop", "updates/s", lambda r: r["throughput"]["updates_per_s"]),
    Figure("stock_echo_updates_per_s", "stock PTB echo (httpx, asyncio, 1 at a time), mean of 2", "updates/s",
           lambda r: r["stock_echo_updates_per_s"]),
    Figure("plumbing_echo_updates_per_s", "echo on the bot's plumbing (aiohttp, uvloop, 16, 10 ms), mean of 2",
           "updates/s", lambda r: r["plumbing_echo_updates_per_s"]),
    Figure("ratio_bot_to_stock_echo", "ratio bot / stock echo", "", lambda r: r["ratio_bot_to_stock_echo"], 2, 2.5,
           "≥ 2.5", at_least=True),
    Figure("ratio_bot_to_plumbing_echo", "ratio bot / same-plumbing echo", "",
           lambda r: r["ratio_bot_to_plumbing_echo"], 2, 0.8, "≥ 0.8", at_least=True),
    Figure("bot_cpu_ms_per_update", "bot CPU per update (closed loop)", "ms", lambda r: r["throughput"].get(
        "cpu_ms_per_update"), 2, 0.5, "≤ 0.5 ms"),
    Figure("stock_echo_cpu_ms_per_update", "stock echo CPU per update", "ms",
           lambda r: _mean(r["stock_echo_before"].get("cpu_ms_per_update"),
                           r["stock_echo_after"].get("cpu_ms_per_update")), 2),
    Figure("plumbing_echo_cpu_ms_per_update", "same-plumbing echo CPU per update", "ms",
           lambda r: _mean(r["plumbing_echo_before"].get("cpu_ms_per_update"),
                           r["plumbing_echo_after"].get("cpu_ms_per_update")), 2),
    Figure("bot_cpu_percent", "bot CPU, % of one core (closed loop)", "%",
           lambda r: r["throughput"]["cpu_percent_of_one_core"]["bot"]),
    Figure("emulator_cpu_percent", "emulator CPU, % of one core (closed loop)", "%",
           lambda r: r["throughput"]["cpu_percent_of_one_core"]["emulator"]),
    Figure("bench_cpu_percent", "load generator CPU, % of one core (closed loop)", "%",
           lambda r: r["throughput"]["cpu_percent_of_one_core"]["bench"]),
    Figure("webhook_updates_per_s", "bot in webhook mode: own flow, closed loop", "updates/s",
           lambda r: r["webhook"]["updates_per_s"]),
    Figure("ratio_webhook_to_plumbing_echo", "ratio bot in webhook mode / same-plumbing echo", "",
           lambda r: r["webhook"]["updates_per_s"] / r["plumbing_echo_updates_per_s"], 2),
    Figure("webhook_cpu_ms_per_update", "bot CPU per update in webhook mode (closed loop)", "ms",
           lambda r: r["webhook"].get("cpu_ms_per_update"), 2),
    Figure("webhook_emulator_cpu_percent", "emulator CPU, % of one core (webhook mode)", "%",
           lambda r: r["webhook"]["cpu_percent_of_one_core"]["emulator"]),
    Figure("webhook_requests_per_update", "Bot API requests per update in webhook mode", "",
           lambda r: r["webhook"]["requests_per_update"], 2),
    Figure("webhook_carried_per_update", "Bot API calls carried in webhook answers, per update", "",
           lambda r: r["webhook"]["carried_per_update"], 2),
    Figure("webhook_reply_p99_ms", "reply latency p99 in webhook mode (closed loop)", "ms",
           _lat("webhook", "reply_latency_ms", "p99"), 0),
    Figure("reply_p50_ms", "reply latency p50 (closed loop)", "ms", _lat("throughput", "reply_latency_ms", "p50"), 0),
    Figure("reply_p99_ms", "reply latency p99 (closed loop)", "ms", _lat("throughput", "reply_latency_ms", "p99"), 0),
    Figure("half_load_offered", "half capacity offered (open loop)", "updates/s",
           lambda r: r["half_load"]["offered_updates_per_s"]),
    Figure("half_load_reply_p50_ms", "reply latency p50 at half capacity", "ms",
           _lat("half_load", "reply_latency_ms", "p50"), 0),
    Figure("half_load_reply_p99_ms", "reply latency p99 at half capacity", "ms",
           _lat("half_load", "reply_latency_ms", "p99"), 0, 50, "≤ 50 ms"),
    Figure("bot_cpu_ms_per_update_half_load", "bot CPU per update at half capacity", "ms",
           lambda r: r["half_load"].get("cpu_ms_per_update"), 2),
    Figure("code_to_certificate_p50_ms", "consent code typed -> certificate p50", "ms",
           _lat("third_party", "code_to_certificate_ms", "p50"), 0),
    Figure("code_to_certificate_p99_ms", "consent code typed -> certificate p99", "ms",
           _lat("third_party", "code_to_certificate_ms", "p99"), 0, 100, "≤ 100 ms"),
    Figure("sms_consent_to_certificate_p50_ms", "consent SMS «ДА code» -> certificate p50", "ms",
           _lat("third_party", "sms_consent_to_certificate_ms", "p50"), 0),
    Figure("sms_consent_to_certificate_p99_ms", "consent SMS «ДА code» -> certificate p99", "ms",
           _lat("third_party", "sms_consent_to_certificate_ms", "p99"), 0, 100, "≤ 100 ms"),
    Figure("sms_per_own_flow", "SMS sent per own flow (7 updates)", "", _per("sms_sent", "throughput", 7), 2),
    Figure("sms_per_third_party", "SMS sent per third-party request", "",
           lambda r: r["third_party"]["sms_sent"] / (r["third_party"]["sessions_ok"] + r["third_party"]["failures"]),
           2),
    Figure("bot_rss_mb", "bot RSS after the memory sample", "MB", lambda r: r["memory"]["after_sample"]["rss_mb"]),
    Figure("bot_peak_rss_mb", "bot peak RSS", "MB", lambda r: r["memory"]["after_sample"]["peak_rss_mb"], 1, 200,
           "≤ 200 MB"),
    Figure("startup_s", "start-up: `qyzmet run` -> first getUpdates", "s", lambda r: r["startup_seconds"], 2),
    Figure("failed_sessions", "failed sessions (all phases)", "", _failed, 0, 0, "0"),
]

STORE_FIGURES = [
    Figure("store_by_number_p50_ms", "store lookup by number p50", "ms", lambda s: s["by_number_ms"]["p50"], 3),
    Figure("store_by_number_p99_ms", "store lookup by number p99", "ms", lambda s: s["by_number_ms"]["p99"], 3, 0.5,
           "≤ 0.5 ms"),
    Figure("store_by_iin_p50_ms", "store lookup by IIN (for_person) p50", "ms", lambda s: s["by_iin_ms"]["p50"], 3),
    Figure("store_by_iin_p99_ms", "store lookup by IIN (for_person) p99", "ms", lambda s: s["by_iin_ms"]["p99"], 3,
           0.5, "≤ 0.5 ms"),
    Figure("store_events_p99_ms", "store application history p99", "ms", lambda s: s["events_ms"]["p99"], 3),
]


def _mean(*values: float | None) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def spread(values: list[float | None]) -> dict:
    """Median, min and max of the finite values (NaN and None are left out, and counted)."""
    known = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not known:
        return {"median": None, "min": None, "max": None, "values": values}
    return {"median": statistics.median(known), "min": min(known), "max": max(known), "values": values}


def _value(fig: Figure, source: dict) -> float | None:
    try:
        value = fig.get(source)
    except (KeyError, TypeError, ZeroDivisionError):
        return None
    return None if value is None else round(float(value), max(fig.digits, 3))


def summarize(rounds: list[dict], store_rounds: list[dict]) -> dict:
    """{figure key: {"median", "min", "max", "values"}} over the rounds."""
    out = {f.key: spread([_value(f, r) for r in rounds]) for f in ROUND_FIGURES}
    out.update({f.key: spread([_value(f, s) for s in store_rounds]) for f in STORE_FIGURES})
    return out
