"""The printed table of `python -m bench.scale`: each figure as measured, its target if it has one, and whether
the measurement met it ("yes" / "NO"; "—" without a target; "n/a" when the figure could not be taken)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Row = tuple[str, str, str, str]


def _f(value: Any, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        text = f"{value:,.{digits}f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return text + (f" {unit}" if unit else "")


def _met(value: Any, ok: Callable[[Any], bool]) -> str:
    if value is None:
        return "n/a"
    return "yes" if ok(value) else "NO"


def _pair(a: Any, b: Any, digits: int = 1, unit: str = "") -> str:
    return f"{_f(a, digits)} / {_f(b, digits)}" + (f" {unit}" if unit else "")


def scaling_rows(a: dict) -> list[Row]:
    s = a.get("summary", {})
    capped = a.get("share") is not None
    n = len([r for r in a.get("rounds", []) if r["replicas"] == 1])
    lo1, hi1 = s.get("updates_per_s_1_range", [None, None])
    lo2, hi2 = s.get("updates_per_s_2_range", [None, None])
    rows: list[Row] = [
        ("A. scaling: " + (f"each web replica capped at {a['share']:.0%} of one CPU (cgroup v1)" if capped else
                           f"NO CPU QUOTA ({a.get('cap_error')}): uncapped, NOT a scaling figure"), "", "", ""),
        (f"  1 replica: updates/s, median (min–max of {n} rounds)",
         f"{_f(s.get('updates_per_s_1'))} ({_f(lo1)}–{_f(hi1)})", "", ""),
        ("  2 replicas: updates/s, median (min–max)", f"{_f(s.get('updates_per_s_2'))} ({_f(lo2)}–{_f(hi2)})",
         "", ""),
        ("  ratio 2 / 1 replicas (medians)", _f(s.get("ratio"), 2), "≥ 1.80" if capped else "(uncapped)",
         _met(s.get("ratio"), lambda x: x >= 1.8) if capped else "—"),
        ("  ratio of each 2-replica round to the 1-replica round before it",
         ", ".join(_f(x, 2) for x in s.get("pair_ratios", [])) + f" (median {_f(s.get('pair_ratio_median'), 2)})",
         "", ""),
        ("  CPU of each busy replica, % of one core: 1 / 2 replicas",
         _pair(s.get("replica_cpu_percent_1"), s.get("replica_cpu_percent_2"), unit="%"),
         f"quota {a['share']:.0%}: saturated if ≈" if capped else "", ""),
        ("  reply latency p50 / p99, 1 replica", _pair(s.get("latency_p50_ms_1"), s.get("latency_p99_ms_1"), 0,
                                                        "ms"), "", ""),
        ("  reply latency p50 / p99, 2 replicas", _pair(s.get("latency_p50_ms_2"), s.get("latency_p99_ms_2"), 0,
                                                         "ms"), "", ""),
        ("  whole machine busy, % of one core: 1 / 2 replicas",
         _pair(s.get("machine_cpu_percent_1"), s.get("machine_cpu_percent_2"), 0, "%"), "", ""),
        ("  of which processes not of this bench (other work on the machine)",
         _pair(s.get("others_cpu_percent_1"), s.get("others_cpu_percent_2"), 0, "%"), "", ""),
    ]
    flows = a.get("flows", {})
    rows.append(("  own flows: ok / failed; updates sent / answered",
                 f"{_f(flows.get('flows_ok'))} / {_f(flows.get('flows_failed'))}; "
                 f"{_f(flows.get('updates_sent'))} / {_f(flows.get('updates_answered'))}", "0 failed",
                 _met(flows.get("flows_failed"), lambda x: x == 0)))
    problems = a.get("problems", {})
    rows.append(("  bot processes' logs: errors / warnings", f"{_f(problems.get('errors'))} / "
                 f"{_f(problems.get('warnings'))}", "0 errors", _met(problems.get("errors"), lambda x: x == 0)))
    sq = a.get("sqlite")
    if sq:
        rows.append(("  SQLite, one `qyzmet run` (webhook) capped alike: updates/s; CPU ms/update",
                     f"{_f(sq['updates_per_s'])}; {_f(sq['cpu_ms_per_update'], 2)} ms", "", ""))
        lat = sq.get("reply_latency_ms", {})
        rows.append(("  SQLite: reply latency p50 / p99", _pair(lat.get("p50"), lat.get("p99"), 0, "ms"), "", ""))
    rows += [
        ("B. CPU per update, 1 replica / 2 replicas (ratio 2:1)", "", "", ""),
        ("  web replicas (sum of utime+stime)", _pair(s.get("cpu_ms_replicas_1"), s.get("cpu_ms_replicas_2"), 2,
                                                      "ms") + f" ({_f(s.get('cpu_ratio_replicas'), 2)})",
         "within 10 %", _met(s.get("cpu_ratio_replicas"), lambda x: abs(x - 1) <= 0.10)),
        ("  PostgreSQL (postmaster and all its children)",
         _pair(s.get("cpu_ms_postgres_1"), s.get("cpu_ms_postgres_2"), 2, "ms")
         + f" ({_f(s.get('cpu_ratio_postgres'), 2)})", "within 10 %",
         _met(s.get("cpu_ratio_postgres"), lambda x: abs(x - 1) <= 0.10)),
        ("  the worker / Redis (1 replica)", _pair(s.get("cpu_ms_worker_1"), s.get("cpu_ms_redis_1"), 2, "ms"),
         "", ""),
    ]
    return rows


def _cpu_line(window: dict) -> str:
    cpu = window.get("cpu_percent")
    if not cpu:
        return "n/a"
    ours = sum(v for k, v in cpu.items() if k != "machine")
    return (f"{_f(cpu.get('worker0', 0) + cpu.get('worker1', 0), 0)} / {_f(cpu.get('web0', 0) + cpu.get('web1', 0), 0)}"
            f" / {_f(cpu.get('postgres'), 0)} / {_f(cpu.get('machine'), 0)} ({_f(cpu.get('machine', 0) - ours, 0)}) %")


def broadcast_rows(c: dict) -> list[Row]:
    w = c.get("window", {})
    k = float(c.get("k") or 1)
    bc = c.get("broadcast", {})
    lat = w.get("reply_latency_ms", {})
    rows: list[Row] = [
        (f"C. broadcast to {_f(bc.get('recipients'))} subscribers by 2 workers, 2 web replicas serving citizens; "
         f"time compressed k={_f(k, 0)}", "", "", ""),
        ("  emulator: 429 above (per s) overall / per chat; bursts (messages)", f"{_f(30 * k, 0)} / {_f(k, 0)}; "
         f"{_f(c['emulator_rates']['global_burst'], 0)} / {_f(c['emulator_rates']['per_chat_burst'])} "
         "(= real 30/s, 1/s; bursts 30 / 1)", "", ""),
        ("  bot: QYZMET_TELEGRAM_RATE / QYZMET_BROADCAST_RATE; QYZMET_BROADCAST_CONCURRENCY",
         f"{_f(29 * k, 0)} / {_f(25 * k, 0)} per s (= real 29 / 25); "
         f"{_f(c['bot_rates'].get('broadcast_concurrency'))} (= 8 x k)", "", ""),
        ("  citizens: own flows starting per s; reading time before each update",
         f"{_f(c.get('flows_per_s'))} (= {_f((c.get('flows_per_s') or 0) / k, 2)} real); "
         f"{_f(c.get('think_s'), 2)} s (= {_f((c.get('think_s') or 0) * k, 1)} s real)",
         "", ""),
        (f"  achieved broadcast rate over {_f(w.get('seconds'), 0)} s", f"{_f(w.get('broadcast_per_s'))}/s = "
         f"{_f(100 * w['achieved_share'] if w.get('achieved_share') is not None else None)} % of configured",
         "≥ 97 %", _met(w.get("achieved_share"), lambda x: x >= 0.97)),
        ("  all bot messages per s (replies included)", _f(w.get("all_messages_per_s")), "", ""),
        ("  CPU, % of one core: workers / replicas / PostgreSQL / whole machine (of it not ours)", _cpu_line(w),
         "", ""),
        ("  429 answers in the window (global / per chat)",
         f"{_f(w.get('rate_limited'))} ({_f(w.get('rate_limited_by', {}).get('global', 0))} / "
         f"{_f(w.get('rate_limited_by', {}).get('per_chat', 0))})", "", ""),
        ("  citizens' reply latency p50 / p99 (first answer)", _pair(lat.get("p50"), lat.get("p99"), 0, "ms")
         + f" (n={_f(lat.get('n'))})", "p99 ≤ 500 ms", _met(lat.get("p99"), lambda x: x <= 500)),
    ]
    per_s = w.get("broadcast_per_s")
    if per_s:
        whole = (bc.get("recipients") or 0) / per_s
        rows.append(("  whole broadcast at this rate (extrapolated)", f"{whole:,.0f} s compressed = "
                     f"{whole * k / 60:,.0f} min at the real pace", "", ""))
    d = c.get("kill", {})
    if d:
        cit = d.get("citizens", {})
        b = d.get("broadcast", {})
        hook = d.get("emulator", {}).get("webhook", {})
        rows += [
            (f"D. SIGKILL {' and '.join(d.get('killed', []))} mid-load, restarted after "
             f"{_f(d.get('restarted_after_s'))} s", "", "", ""),
            ("  citizens' updates sent / answered", f"{_f(cit.get('updates_sent'))} / "
             f"{_f(cit.get('updates_answered'))}", "none lost", _met(d.get("updates_unanswered"), lambda x: x == 0)),
            ("  own flows ok / failed", f"{_f(cit.get('flows_ok'))} / {_f(cit.get('flows_failed'))}", "0 failed",
             _met(cit.get("flows_failed"), lambda x: x == 0)),
            (f"  chats with more bot messages than a flow's usual {_f(d.get('usual_messages_per_flow'))}",
             _f(d.get("chats_with_more_than_usual")), "0", _met(d.get("chats_with_more_than_usual"),
                                                                 lambda x: x == 0)),
            ("  chats that got the broadcast twice (C and D)", _f(b.get("duplicates")), "0",
             _met(b.get("duplicates"), lambda x: x == 0)),
            ("  broadcast ledger", ", ".join(f"{k}: {v:,}" for k, v in sorted(b.get("ledger", {}).items())), "", ""),
            ("  'unknown' rows that did / did not reach the chat", _pair(b.get("unknown_delivered"),
                                                                        b.get("unknown_not_delivered"), 0), "", ""),
            ("  ledger 'sent' missing in the emulator / delivered but not 'sent'",
             _pair(b.get("sent_in_ledger_not_in_emulator"), b.get("in_emulator_not_sent_in_ledger"), 0), "0 / 0",
             _met((b.get("sent_in_ledger_not_in_emulator"), b.get("in_emulator_not_sent_in_ledger")),
                  lambda x: x == (0, 0))),
            ("  longest pause of the broadcast around the kill (the other worker takes over)",
             _f(d.get("broadcast_longest_pause_s"), 2, "s")
             + f" (logs that sent it: {', '.join(d.get('logs_that_sent_the_broadcast', []))})", "", ""),
            ("  webhook posts refused / updates posted again", _pair(hook.get("refused"), hook.get("retried_updates"),
                                                                    0), "", ""),
        ]
    problems = c.get("problems", {})
    rows.append(("  bot processes' logs (C and D): errors / warnings", f"{_f(problems.get('errors'))} / "
                 f"{_f(problems.get('warnings'))}", "", ""))
    return rows


def store_rows(store: dict) -> list[Row]:
    rows: list[Row] = [(f"store lookups among {_f(store['sqlite']['applications'])} applications, "
                        "p50 / p99", "", "", "")]
    for engine in ("sqlite", "postgresql"):
        r = store.get(engine)
        if not r:
            continue
        one = r["rounds"][0]
        number, person = one["by_number_ms"], one["by_iin_ms"]
        rows.append((f"  {engine}: by number; a person's list",
                     f"{_pair(number['p50'], number['p99'], 3)} ms; {_pair(person['p50'], person['p99'], 3)} ms",
                     "", ""))
    return rows


def rounds_lines(a: dict) -> list[str]:
    """Phase A round by round: the spread of a figure often follows the other work on the machine."""
    out = ["", "A, round by round: replicas | updates/s | ms CPU per update: replicas, PostgreSQL | replicas' "
           "quota periods throttled | machine busy, of it not ours (% of one core)"]
    for r in a.get("rounds", []):
        ms = r["cpu_ms_per_update"]
        throttled = "/".join(f"{r.get('throttled_share', {}).get(f'web{i}', 0):.0%}" for i in r["active"])
        out.append(f"  {r['round']:>2}: {r['replicas']} {r['active']!s:<6} | {r['updates_per_s']:>6.1f} | "
                   f"{_f(ms.get('replicas'), 2):>5}, {_f(ms.get('postgres'), 2):>5} | {throttled:<9} | "
                   f"{r['cpu_percent']['machine']:>4.0f}, {r['cpu_percent']['others']:>4.0f}")
    return out


def table(r: dict) -> str:
    cond = r.get("conditions", {})
    rows: list[Row] = []
    for name, rows_of in (("scaling", scaling_rows), ("broadcast", broadcast_rows), ("store", store_rows)):
        if name not in r:
            continue
        if "error" in r[name]:
            rows.append((f"{name}: FAILED — {r[name]['error']}", "", "", ""))
        else:
            rows += rows_of(r[name])
    header: Row = ("figure", "measured", "target", "met?")
    widths = [max(len(x[i]) for x in [*rows, header]) for i in range(4)]

    def line(cells: Row) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [f"Qyzmet scale bench — {cond.get('cpu_count')} CPU cores, Python {cond.get('python')}, {cond.get('when')}; "
           f"load average {cond.get('load_average_start')} at start, {cond.get('load_average_end')} at the end; "
           f"servers: {cond.get('servers', '?')}; one machine: every process shares its cores",
           line(header), line(("-" * widths[0], "-" * widths[1], "-" * widths[2], "-" * widths[3]))]
    out += [line(x) for x in rows]
    if "rounds" in r.get("scaling", {}):
        out += rounds_lines(r["scaling"])
    problems = [(name, ph.get("problems", {})) for name, ph in (("A", r.get("scaling", {})),
                                                                ("C/D", r.get("broadcast", {})))]
    for name, p in problems:
        for top in p.get("top", [])[:3]:
            out.append(f"  log ({name}): {top}")
    return "\n".join(out)
