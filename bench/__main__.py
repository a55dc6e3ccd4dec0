"""`python -m bench` (or `make bench`): one run, every figure side by side, a table on stdout and bench/results.json.

Processes: the Bot API emulator (standalone); a bare PTB echo bot on it, then the bot (`qyzmet run`, fresh seeded
SQLite), then the echo bot again — the two echo runs bracket the bot's, so drift of a shared machine cancels; the
load generator and a fake SMS gateway live in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

try:
    import psutil  # bench/requirements.txt; without it, /proc is read directly (Linux)
except ImportError:  # pragma: no cover
    psutil = None

from bench import load, procs, store_bench, synth
from bench.stats import pct

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--citizens", type=int, default=300, help="simulated citizens in the throughput run (K)")
    p.add_argument("--third-party", type=int, default=150, help="third-party sessions for time-to-result")
    p.add_argument("--applications", type=int, default=1_000_000, help="applications in the store figure")
    p.add_argument("--lookups", type=int, default=10_000, help="lookups of each kind in the store figure")
    p.add_argument("--idle-users", type=int, default=100_000, help="users rows (subscribers) in the bot's DB")
    p.add_argument("--in-progress", type=int, default=10_000, help="conversations mid-flow in the bot's DB")
    p.add_argument("--mem-sample", type=int, default=1_000, help="mid-flow users that send one message")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run in well under a minute")
    p.add_argument("--profile", action="store_true", help="run the bot under pyinstrument (slower figures!); "
                   "writes bench/profile.pyisession and bench/profile.txt")
    p.add_argument("--skip-store", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the work directory (DBs, logs)")
    p.add_argument("--out", default=str(HERE / "results.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.citizens = min(args.citizens, 40)
        args.third_party = min(args.third_party, 20)
        args.applications = min(args.applications, 100_000)
        args.lookups = min(args.lookups, 2_000)
        args.idle_users = min(args.idle_users, 10_000)
        args.in_progress = min(args.in_progress, 1_000)
        args.mem_sample = min(args.mem_sample, 100)
    return args


def cpu_seconds(pid: int) -> float:
    if psutil is None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            return float("nan")
    try:
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except psutil.Error:
        return float("nan")


def rss_mb(pid: int) -> dict:
    rss = peak = None
    if psutil is not None:
        rss = psutil.Process(pid).memory_info().rss / 2**20
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
            elif line.startswith("VmRSS:") and rss is None:
                rss = int(line.split()[1]) / 1024
    except OSError:
        pass
    return {"rss_mb": round(rss, 1) if rss else None, "peak_rss_mb": round(peak, 1) if peak else None}


class CpuMeter:
    """CPU seconds of each process over a phase, as % of one core."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def __enter__(self) -> CpuMeter:
        self.t0 = time.perf_counter()
        self.c0 = {k: cpu_seconds(p) for k, p in self.pids.items()}
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.t0
        self.result = {k: round(100 * (cpu_seconds(p) - self.c0[k]) / wall, 1) for k, p in self.pids.items()}


def rate(rec: load.Recorder, wall: float) -> float:
    return rec.updates / wall if wall > 0 else float("nan")


def phase_summary(rec: load.Recorder, wall: float, cpu: dict | None = None) -> dict:
    out = {
        "updates": rec.updates, "seconds": round(wall, 2), "updates_per_s": round(rate(rec, wall), 1),
        "sessions_ok": rec.sessions_ok, "failures": len(rec.failures), "failure_examples": rec.failures[:3],
        "reply_latency_ms": pct(rec.first_reply, 1000), "step_latency_ms": pct(rec.step_done, 1000),
    }
    if rec.to_result:
        out["code_to_certificate_ms"] = pct(rec.to_result, 1000)
    if cpu is not None:
        out["cpu_percent_of_one_core"] = cpu
    return out


async def interactive(args: argparse.Namespace, work: Path, results: dict) -> None:
    emu_port, sms_port = procs.free_port(), procs.free_port()
    base = f"http://127.0.0.1:{emu_port}"
    emulator = procs.start_emulator(emu_port, work)
    sms = load.SmsSink()
    await sms.start(sms_port)
    bot = echo = None
    K, M = args.citizens, args.third_party
    try:
        await procs.wait_http(f"{base}/_emu/stats")
        database = work / "bot.sqlite3"
        env = procs.bot_env(emu_port, database, sms.url)

        print(f"[bench] seeding {2 * K + 2 * M} citizens, {args.idle_users} users, {args.in_progress} "
              f"conversations in progress ...", flush=True)
        persons = synth.people(2 * K + 2 * M)
        full, half = persons[:K], persons[K:2 * K]
        requesters, subjects = persons[2 * K:2 * K + M], persons[2 * K + M:]
        synth.write_seed(work / "seed.json", persons)
        procs.run_seed(env, work / "seed.json")
        mid_flow = synth.add_idle_users(database, args.idle_users, args.in_progress)

        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
            emu = load.Emu(base, session)
            await emu.start()

            async def echo_round(first_user: int) -> dict:
                """The same emulator and closed loop against a bare PTB echo bot (bench/echo_bot.py)."""
                nonlocal echo
                print(f"[bench] echo baseline: {K} users x 7 texts ...", flush=True)
                before = (await emu.stats())["requests"].get("getUpdates", 0)
                echo = procs.start_echo_bot(emu_port, work)
                await procs.wait_first_get_updates(session, base, before, echo)
                rec = load.Recorder()
                people = [synth.Person(i, "", "", first_user + i) for i in range(K)]
                with CpuMeter({"echo": echo.pid, "emulator": emulator.pid, "bench": os.getpid()}) as cpu:
                    wall = await load.closed_loop([load.guarded(rec, load.Citizen(emu, sms, p, rec).echo_flow(7))
                                                   for p in people])
                echo.stop()
                echo = None
                return phase_summary(rec, wall, cpu.result)

            results["echo_before"] = await echo_round(90_000_001)
            before = (await emu.stats())["requests"].get("getUpdates", 0)
            profile_path = HERE / "profile.pyisession" if args.profile else None
            bot = procs.start_bot(env, work, profile=profile_path)
            startup = await procs.wait_first_get_updates(session, base, before, bot)
            results["startup_seconds"] = round(startup, 3)
            results["bot_rss_at_start"] = rss_mb(bot.pid)
            print(f"[bench] bot up in {startup:.2f}s; throughput: {K} citizens x 7 updates ...", flush=True)
            pids = {"bot": bot.pid, "emulator": emulator.pid, "bench": os.getpid()}

            # 1. Closed loop: every citizen at once, each waiting for each answer.
            rec = load.Recorder()
            with CpuMeter(pids) as cpu:
                wall = await load.closed_loop([load.guarded(rec, load.Citizen(emu, sms, p, rec).own_flow())
                                               for p in full])
            results["throughput"] = phase_summary(rec, wall, cpu.result)
            capacity = rate(rec, wall)
            print(f"[bench] {capacity:.1f} updates/s; half load ({capacity / 2:.1f}/s, open loop) ...", flush=True)

            # 1b. Open loop at half the measured capacity: sessions arrive as a Poisson process.
            rec = load.Recorder()
            with CpuMeter(pids) as cpu:
                wall = await load.open_loop(
                    [lambda p=p: load.guarded(rec, load.Citizen(emu, sms, p, rec).own_flow()) for p in half],
                    rate_per_s=max(capacity / 2 / 7, 0.1))
            results["half_load"] = {"offered_updates_per_s": round(capacity / 2, 1), **phase_summary(rec, wall,
                                                                                                      cpu.result)}

            # 4. Third party: consent code typed -> protected certificate, also at half capacity.
            print(f"[bench] third party: {M} sessions x 9 updates at half capacity ...", flush=True)
            rec = load.Recorder()
            with CpuMeter(pids) as cpu:
                wall = await load.open_loop(
                    [lambda p=p, s=s: load.guarded(rec, load.Citizen(emu, sms, p, rec).third_party_flow(s))
                     for p, s in zip(requesters, subjects, strict=False)],
                    rate_per_s=max(capacity / 2 / 9, 0.1))
            results["third_party"] = phase_summary(rec, wall, cpu.result)

            # 3. Memory: the DB holds idle_users subscribers and in_progress conversations; a sample speaks.
            print(f"[bench] memory: {args.mem_sample} of {args.in_progress} mid-flow users write once ...",
                  flush=True)
            results["memory"] = {"idle_users": args.idle_users, "in_progress": args.in_progress,
                                 "after_flows": rss_mb(bot.pid)}
            rec = load.Recorder()
            sample = [synth.Person(i, "", "", uid) for i, uid in enumerate(mid_flow[:args.mem_sample])]
            sem = asyncio.Semaphore(100)

            async def one(p: synth.Person) -> None:
                async with sem:
                    await load.guarded(rec, load.Citizen(emu, sms, p, rec).one_text("здравствуйте"))

            t0 = time.perf_counter()
            await asyncio.gather(*(one(p) for p in sample))
            results["memory"]["sample"] = phase_summary(rec, time.perf_counter() - t0)
            results["memory"]["after_sample"] = rss_mb(bot.pid)
            results["bot_log_errors"] = bot.tail(400).count(" ERROR ")
            bot.stop(timeout=60 if args.profile else 15)
            bot = None

            # Baseline again, after the bot: the two echo runs bracket it, so drift of the machine cancels.
            results["echo"] = await echo_round(91_000_001)
            e0, e1 = results["echo_before"]["updates_per_s"], results["echo"]["updates_per_s"]
            results["ratio_real_to_echo"] = round(results["throughput"]["updates_per_s"] / ((e0 + e1) / 2), 3)
            results["emulator_stats"] = await emu.stats()
            await emu.stop()
    finally:
        for p in (bot, echo, emulator):
            if p is not None:
                p.stop()
        await sms.stop()


def row(figure: str, value: str, target: str = "—", met: bool | None = None) -> tuple[str, str, str, str]:
    return figure, value, target, {True: "yes", False: "NO", None: "—"}[met]


def table(r: dict) -> str:
    rows = []
    t = r.get("throughput")
    if t:
        lat = t["reply_latency_ms"]
        rows.append(row(f"throughput, {r['args']['citizens']} citizens own flow (closed loop)",
                        f"{t['updates_per_s']} updates/s ({t['failures']} failed sessions)"))
        rows.append(row("  reply latency p50/p90/p99", f"{lat['p50']:.0f}/{lat['p90']:.0f}/{lat['p99']:.0f} ms"))
        rows.append(row("  CPU % of one core bot/emulator/bench",
                        "/".join(str(t['cpu_percent_of_one_core'][k]) for k in ("bot", "emulator", "bench"))))
        e0, e = r.get("echo_before", r["echo"]), r["echo"]
        rows.append(row("echo bot, same emulator and load, before / after",
                        f"{e0['updates_per_s']} / {e['updates_per_s']} updates/s"))
        rows.append(row("  ratio real / mean of the two echo runs", f"{r['ratio_real_to_echo']:.2f}"))
        h = r["half_load"]
        hl = h["reply_latency_ms"]
        rows.append(row(f"reply latency at 50% capacity ({h['offered_updates_per_s']}/s offered) p50/p99",
                        f"{hl['p50']:.0f}/{hl['p99']:.0f} ms ({h['updates_per_s']}/s done)"))
    s = r.get("store")
    if s:
        for key, name in (("by_number_ms", "by number"), ("by_iin_ms", "by IIN (for_person)")):
            v = s[key]
            rows.append(row(f"store lookup {name}, {s['applications']:,} apps p50/p99",
                            f"{v['p50']:.3f}/{v['p99']:.3f} ms", "p99 ≤ 2 ms", v["p99"] <= 2.0))
    m = r.get("memory")
    if m:
        worst = max(m["after_flows"]["rss_mb"], m["after_sample"]["rss_mb"])
        rows.append(row(f"bot RSS, {m['idle_users']:,} users + {m['in_progress']:,} in progress",
                        f"{m['after_sample']['rss_mb']} MB (peak {m['after_sample']['peak_rss_mb']} MB)",
                        "≤ 200 MB", (m["after_sample"]["peak_rss_mb"] or worst) <= 200))
    tp = r.get("third_party")
    if tp and tp.get("code_to_certificate_ms"):
        v = tp["code_to_certificate_ms"]
        rows.append(row("third party: code typed -> certificate p50/p99",
                        f"{v['p50']:.0f}/{v['p99']:.0f} ms", "p99 ≤ 1 s", v["p99"] <= 1000))
    if "startup_seconds" in r:
        rows.append(row("start-up: `qyzmet run` -> first getUpdates", f"{r['startup_seconds']:.2f} s"))
    widths = [max(len(x[i]) for x in rows + [("figure", "value", "target", "met?")]) for i in range(4)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False))  # noqa: E731
    out = [f"Qyzmet bench — {r['cpu_count']} CPU cores, Python {r['python']}, {r['when']}",
           line(("figure", "value", "target", "met?")), line(tuple("-" * w for w in widths))]
    out += [line(x) for x in rows]
    return "\n".join(out)


def render_profile(session: Path, out: Path) -> None:
    """The call tree (library frames folded) and a flat list of where the main thread spends its time."""
    import subprocess
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
                     "when": time.strftime("%Y-%m-%d %H:%M:%S"), "args": vars(args), "workdir": str(work)}
    t0 = time.perf_counter()
    try:
        asyncio.run(interactive(args, work, results))
        if not args.skip_store:
            print(f"[bench] store: {args.applications:,} applications, {args.lookups:,} lookups each ...",
                  flush=True)
            results["store"] = asyncio.run(store_bench.run(work / "store.sqlite3", args.applications,
                                                           args.lookups))
    finally:
        results["total_seconds"] = round(time.perf_counter() - t0, 1)
        Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(results))
    if args.profile:
        render_profile(HERE / "profile.pyisession", HERE / "profile.txt")
    print(f"\nwrote {args.out} ({results['total_seconds']} s)"
          + (f"; profile of the bot: {HERE / 'profile.txt'}" if args.profile else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
