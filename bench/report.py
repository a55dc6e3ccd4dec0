"""The printed table: each figure's median over the rounds, its spread (min–max), and its target if it has one."""

from __future__ import annotations

from bench.summary import ROUND_FIGURES, STORE_FIGURES, Figure


def _fmt(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _met(fig: Figure, s: dict) -> str:
    """yes: every round within the target; median: the median only; NO: not even the median."""
    if fig.target is None or s["median"] is None:
        return "—"
    if fig.at_least:
        if s["min"] >= fig.target:
            return "yes"
        return "median" if s["median"] >= fig.target else "NO"
    if s["max"] <= fig.target:
        return "yes"
    return "median" if s["median"] <= fig.target else "NO"


def _row(fig: Figure, s: dict) -> tuple[str, str, str, str, str]:
    unit = f" {fig.unit}" if fig.unit else ""
    median = _fmt(s["median"], fig.digits) + unit
    rng = f"{_fmt(s['min'], fig.digits)}–{_fmt(s['max'], fig.digits)}"
    return fig.label, median, rng, fig.target_text, _met(fig, s)


def table(r: dict) -> str:
    summary = r.get("summary", {})
    rows: list[tuple[str, ...]] = []
    for fig in ROUND_FIGURES:
        if fig.key in summary:
            rows.append(_row(fig, summary[fig.key]))
    store = r.get("store")
    if store:
        rows.append((f"store: {store['applications']:,} applications, {store['lookups_per_round']:,} lookups "
                     f"x {len(store['rounds'])} rounds", "", "", "", ""))
        rows += [_row(fig, summary[fig.key]) for fig in STORE_FIGURES if fig.key in summary]
    header = ("figure", "median", f"min–max ({r['rounds_done']} rounds)", "target", "met?")
    widths = [max(len(x[i]) for x in [*rows, header]) for i in range(5)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    load = r.get("load_average", {})
    out = [f"Qyzmet bench — {r['cpu_count']} CPU cores, Python {r['python']}, {r['when']}; load average "
           f"{load.get('start', '?')} at start, {load.get('end', '?')} at the end (other work on the machine "
           f"moves every figure: read the spread)",
           f"per round: {r['args']['citizens']} citizens x 7 updates closed loop, as many at half capacity "
           f"(open loop), {r['args']['third_party']} third-party requests (half consent by code typed, half by "
           f"SMS reply); each echo bot before and after the bot",
           line(header), line(tuple("-" * w for w in widths))]
    out += [line(x) for x in rows]
    pace = r.get("sms_pace")
    if pace:
        out.append("")
        out.append(f"SMS pace: lifted to {pace['in_run_per_minute']:,}/min for the run (QYZMET_SMS_GLOBAL_PER_MINUTE);"
                   f" the default {pace['default_per_minute']}/min allows {pace['default_per_second']:g} SMS/s, i.e. "
                   f"about {_fmt(pace['default_cap_own_updates_per_s'], 0)} updates/s of own flows at the "
                   f"{_fmt(pace['sms_per_own_flow'], 2)} SMS per flow measured, or about "
                   f"{_fmt(pace['default_cap_third_party_per_s'], 1)} third-party requests/s at "
                   f"{_fmt(pace['sms_per_third_party'], 2)} SMS each.")
    return "\n".join(out)
