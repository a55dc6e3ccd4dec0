"""`python -m bench` (or `make bench`): every figure in repeated rounds, a table on stdout and bench/results.json.

A round (bench/bracket.py) runs, on a fresh Bot API emulator: a stock python-telegram-bot echo bot, an echo bot on
the bot's own plumbing (bench/plumbing_echo.py), the bot (`qyzmet run` on a fresh seeded SQLite file, by polling
and then in webhook mode), then the two echo bots again in the reverse order. The load generator, a fake SMS
gateway and the data subjects' SMS replies live in this process. `--rounds` rounds (3 by default) give each figure
a median and a spread; the store figure (bench/store_bench.py) seeds its applications once and times the lookups
in as many rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import procs, store_bench
from bench.bracket import PROFILE, Round
from bench.report import table
from bench.summary import summarize
from bot.config import Settings

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3, help="bracketed rounds; each figure is reported as the median "
                   "and min–max over them (default 3)")
    p.add_argument("--citizens", type=int, default=300, help="simulated citizens in the throughput run (K)")
    p.add_argument("--third-party", type=int, default=150, help="third-party sessions for time-to-result")
    p.add_argument("--applications", type=int, default=1_000_000, help="applications in the store figure")
    p.add_argument("--lookups", type=int, default=10_000, help="lookups of each kind per round in the store figure")
    p.add_argument("--idle-users", type=int, default=100_000, help="users rows (subscribers) in the bot's DB")
    p.add_argument("--in-progress", type=int, default=10_000, help="conversations mid-flow in the bot's DB")
    p.add_argument("--mem-sample", type=int, default=1_000, help="mid-flow users that send one message")
    p.add_argument("--quick", action="store_true", help="small sizes and 2 rounds: a smoke run of about a minute")
    p.add_argument("--profile", action="store_true", help="run the bot of the first round under pyinstrument "
                   "(slower figures!); writes bench/profile.pyisession and bench/profile.txt")
    p.add_argument("--skip-store", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the work directory (DBs, logs)")
    p.add_argument("--out", default=str(HERE / "results.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.rounds = min(args.rounds, 2)
        args.citizens = min(args.citizens, 40)
        args.third_party = min(args.third_party, 20)
        args.applications = min(args.applications, 100_000)
        args.lookups = min(args.lookups, 2_000)
        args.idle_users = min(args.idle_users, 10_000)
        args.in_progress = min(args.in_progress, 1_000)
        args.mem_sample = min(args.mem_sample, 100)
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    return args


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def sms_pace(summary: dict) -> dict:
    """What the lifted SMS pace hides: the rates the default QYZMET_SMS_GLOBAL_PER_MINUTE would allow."""
    default = Settings.model_fields["sms_global_per_minute"].default
    per_flow = summary.get("sms_per_own_flow", {}).get("median")
    per_request = summary.get("sms_per_third_party", {}).get("median")
    per_second = default / 60
    return {"in_run_per_minute": procs.SMS_GLOBAL_PER_MINUTE_IN_RUN, "default_per_minute": default,
            "default_per_second": per_second, "sms_per_own_flow": per_flow, "sms_per_third_party": per_request,
            "default_cap_own_updates_per_s": per_second / per_flow * 7 if per_flow else None,
            "default_cap_third_party_per_s": per_second / per_request if per_request else None}


def render_profile(session: Path, out: Path) -> None:
    """The call tree (library frames folded) and a flat list of where the main thread spends its time."""
    parts = []
    for title, opts in (("call tree", ["-p", "processor_options.filter_threshold=0.005"]),
                        ("flat (self time per function)", ["-p", "flat=true"])):
        out_text = subprocess.run([sys.executable, "-m", "pyinstrument", "--load", str(session), "-r", "text",
                                   *opts], capture_output=True, text=True).stdout
        parts.append(f"===== {title} =====\n{out_text}")
    out.write_text("\n".join(parts), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="qyzmet-bench-"))
    results: dict = {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                     "when": time.strftime("%Y-%m-%d %H:%M:%S"), "args": vars(args), "workdir": str(work),
                     "load_average": {"start": load_average()}, "rounds": [], "rounds_done": 0}
    t0 = time.perf_counter()
    try:
        for index in range(args.rounds):
            folder = work / f"round-{index + 1}"
            folder.mkdir()
            results["rounds"].append(asyncio.run(Round(args, folder, index).run()))
            results["rounds_done"] = index + 1
        if not args.skip_store:
            print(f"[bench] store: {args.applications:,} applications, {args.lookups:,} lookups of each kind x "
                  f"{args.rounds} rounds ...", flush=True)
            results["store"] = asyncio.run(store_bench.run(work / "store.sqlite3", args.applications, args.lookups,
                                                           rounds=args.rounds))
    finally:
        results["total_seconds"] = round(time.perf_counter() - t0, 1)
        results["load_average"]["end"] = load_average()
        results["summary"] = summarize(results["rounds"], results.get("store", {}).get("rounds", []))
        results["sms_pace"] = sms_pace(results["summary"])
        Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(results))
    if args.profile:
        render_profile(PROFILE, HERE / "profile.txt")
    print(f"\nwrote {args.out} ({results['total_seconds']} s)"
          + (f"; profile of the bot: {HERE / 'profile.txt'}" if args.profile else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
