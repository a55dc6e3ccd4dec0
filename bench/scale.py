"""`python -m bench.scale`: the bot as several processes over one PostgreSQL and one Redis — figures, no pass/fail.

Phases (each on a database and an emulator of its own; the proxy, the SMS sink and the servers are shared):

A. Scaling. Two `qyzmet web` replicas, each in a cgroup of its own capped to the same CPU share (cgroup v1
   cpu.cfs_quota_us; `--share`, 0.3 of one CPU by default), one uncapped `qyzmet worker`, behind the round-robin
   proxy (bench/scale_proxy.py, uncapped) that the emulator posts every update to. Simulated citizens
   (bench/load.py) run the own-request flow back to back, `--citizens` at once, with fresh people, all through
   the phase. Rounds alternate 1, 2, 1, 2, … replicas (`--rounds` of each): the proxy sends to one replica
   (alternately the first and the second) or to both; after `--settle` seconds, `--round-seconds` are
   measured: updates answered per second, reply latency, CPU of every process from /proc. The idle replica
   stays up (warm, idle). Then, if not skipped, the same closed loop against one `qyzmet run` on SQLite in
   webhook mode, capped alike: the engines side by side.
B. CPU per update, from A's rounds: the replicas' utime+stime and PostgreSQL's (the postmaster and all its
   children, exited ones included), 1 replica against 2.
C. Broadcast. `--subscribers` users rows, a broadcast to all queued by `qyzmet broadcast`, sent by 2 workers
   (one holds the sender's lock, the other stands by) while 2 uncapped web replicas serve citizens arriving
   as a Poisson stream of own flows. The emulator answers 429 above 30·k messages/s overall (a burst of one
   second's worth, as the bot's own overall bucket has) and k per chat (a burst of one message); the bot runs at
   QYZMET_TELEGRAM_RATE 29·k, QYZMET_BROADCAST_RATE 25·k, one broadcast message per 1/k s per chat, 8·k
   broadcast messages on the wire at once; citizens read for `--think`/k s: time compressed k-fold
   (`--compression`). A 429's retry_after is whole seconds: not compressed. Measured over
   `--broadcast-seconds`: broadcast messages per second against 25·k, 429 answers, chats that got the
   broadcast twice, citizens' reply latency.
D. Kill. Right after C, on the same processes: SIGKILL one web replica and the worker that sends the broadcast,
   the load going on; both restarted `--restart-after` seconds later. Then every citizen's update must have
   had its answer (sent against answered, the emulator posting again what was not acknowledged), no answer
   twice (bot messages per chat against the flow's usual count), no broadcast twice (the emulator's record).

Then `store_bench` (lookups among N applications) on SQLite and on PostgreSQL. Prints a table and writes
bench/scale_results.json. Without --postgres/--redis it starts private servers with scripts/servers.sh.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp

from bench import load, procs, store_bench, synth
from bench.meters import CpuMeter
from bench.scale_cluster import (
    WEBHOOK_SECRET,
    Cluster,
    Proxy,
    database_url,
    log_problems,
    pg_admin,
    postmaster_pid,
    redis_pid,
)
from bench.scale_report import table
from bench.stats import pct
from bot.config import Settings

HERE = Path(__file__).resolve().parent
BROADCAST_TEXT = "Bench scale broadcast"
SENDING = "sending to"  # what a worker logs when it starts (or resumes) sending a broadcast (LogReporter)
MAX_UPDATES_PER_S = 400  # generous bound on the throughput of phase A, to seed enough fresh citizens
FLOW_UPDATES = 7
BROADCAST_CONCURRENCY = Settings.model_fields["broadcast_concurrency"].default


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--postgres", help="admin URL of a PostgreSQL server (databases qyzmet_scale_* are created "
                   "there and dropped after); default: a private server started with scripts/servers.sh")
    p.add_argument("--redis", help="URL of a Redis (keys under a prefix of the run's own); default: private")
    p.add_argument("--quick", action="store_true", help="short rounds, a smaller broadcast: about 2.5 minutes")
    p.add_argument("--share", type=float, default=0.3, help="CPU share of one core per web replica in phase A")
    p.add_argument("--rounds", type=int, default=4, help="rounds of each replica count in phase A (1,2,1,2,…)")
    p.add_argument("--round-seconds", type=float, default=15.0, help="measured seconds per round")
    p.add_argument("--settle", type=float, default=3.0, help="seconds after switching replicas, not measured")
    p.add_argument("--warmup", type=float, default=6.0, help="seconds of load on both replicas before round 1")
    p.add_argument("--citizens", type=int, default=60, help="citizens at once in phase A's closed loop")
    p.add_argument("--skip-scaling", action="store_true", help="skip phases A and B (and the SQLite loop)")
    p.add_argument("--skip-sqlite", action="store_true", help="no `qyzmet run` on SQLite beside phase A")
    p.add_argument("--subscribers", type=int, default=100_000, help="recipients of the broadcast (phase C)")
    p.add_argument("--compression", type=float, default=5.0, help="k: time compressed k-fold in phases C and D "
                   "(rates x k; the sending worker then needs k times the CPU it needs at the real pace)")
    p.add_argument("--broadcast-seconds", type=float, default=90.0, help="measured seconds of the broadcast")
    p.add_argument("--flows-per-s", type=float, default=0.2, help="citizens' own flows starting per second of "
                   "real time during phases C and D (Poisson; k times as many when time is compressed): the "
                   "replies must fit in what the broadcast leaves of the pace (29 - 25 = 4 messages/s)")
    p.add_argument("--think", type=float, default=2.0, help="phases C and D: seconds a citizen reads before "
                   "the next update, in real time (compressed like the rest: /k)")
    p.add_argument("--kill-after", type=float, default=5.0, help="phase D: seconds before the SIGKILLs")
    p.add_argument("--restart-after", type=float, default=10.0, help="phase D: seconds from kill to restart")
    p.add_argument("--kill-seconds", type=float, default=40.0, help="phase D: seconds of load in all")
    p.add_argument("--kill-citizens", type=int, default=20, help="phase D: citizens in a closed loop (with the "
                   "reading time) on top of the Poisson stream, so that updates are on the wire at the kill")
    p.add_argument("--skip-broadcast", action="store_true", help="skip phases C and D")
    p.add_argument("--store-applications", type=int, default=100_000)
    p.add_argument("--store-lookups", type=int, default=2_000)
    p.add_argument("--skip-store", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs) and the databases")
    p.add_argument("--out", default=str(HERE / "scale_results.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.rounds = min(args.rounds, 3)
        args.round_seconds = min(args.round_seconds, 5.0)
        args.settle = min(args.settle, 1.5)
        args.warmup = min(args.warmup, 3.0)
        args.subscribers = min(args.subscribers, 20_000)
        args.broadcast_seconds = min(args.broadcast_seconds, 15.0)
        args.kill_after = min(args.kill_after, 2.0)
        args.restart_after = min(args.restart_after, 5.0)
        args.kill_seconds = min(args.kill_seconds, 15.0)
        args.kill_citizens = min(args.kill_citizens, 10)
        args.store_applications = min(args.store_applications, 20_000)
        args.store_lookups = min(args.store_lookups, 500)
    if args.rounds < 1 or not 0 < args.share <= 4:
        p.error("--rounds must be at least 1 and --share in (0, 4]")
    return args


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def masked(text: str) -> str:
    """Failure texts quote what a chat showed: no phone-like or IIN-like digit runs in the output."""
    return re.sub(r"\+?\d[\d ]{6,}\d", "<n>", text)


def say(text: str) -> None:
    print(f"[scale] {text}", flush=True)


class Run:
    """The shared parts of a run: servers, proxy, SMS sink, the people to play, the HTTP session."""

    def __init__(self, args: argparse.Namespace, work: Path, admin_url: str, redis_url: str) -> None:
        self.args = args
        self.work = work
        self.admin_url = admin_url
        self.redis_url = redis_url
        self.sms = load.SmsSink()
        self.proxy = Proxy(work)
        self.session: aiohttp.ClientSession
        self.postgres_pid: int | None = None
        self.redis_pid: int | None = None
        self.people = PeoplePool()

    async def __aenter__(self) -> Run:
        await self.sms.start(procs.free_port())
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=400),
                                             timeout=aiohttp.ClientTimeout(total=120))
        await self.proxy.ready(self.session)
        self.postgres_pid = await postmaster_pid(self.admin_url)
        self.redis_pid = await redis_pid(self.redis_url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.proxy.proc.stop()
        await self.session.close()
        await self.sms.stop()

    def servers(self) -> dict[str, int]:
        """The shared servers' processes, measured as trees (PostgreSQL forks a backend per connection)."""
        out = {}
        if self.postgres_pid:
            out["postgres"] = self.postgres_pid
        if self.redis_pid:
            out["redis"] = self.redis_pid
        return out


class PeoplePool:
    """Synthetic citizens (distinct IINs, phones, Telegram ids), handed out once each across the run."""

    def __init__(self) -> None:
        self.next = 0

    def take(self, count: int) -> list[synth.Person]:
        # synth.people numbers from 0; a slice further on keeps IINs, phones and user ids apart between phases.
        people = synth.people(self.next + count)[self.next:]
        self.next += count
        return people


class People:
    """The citizens of a phase, each handed out once (`used`: in the order their flows started)."""

    def __init__(self, people: list[synth.Person]) -> None:
        self._left = iter(people)
        self.used: list[synth.Person] = []

    def next(self) -> synth.Person | None:
        person = next(self._left, None)
        if person is not None:
            self.used.append(person)
        return person


def own_flows(emu: load.Emu, sms: load.SmsSink, rec: load.Recorder, people: People,
              timeout: float = 60.0, think: float = 0.0) -> Callable[[], Coroutine[Any, Any, None] | None]:
    """A `fresh()` for load.closed_stream / open_stream: the next person's own flow, None when all are used."""

    def fresh() -> Coroutine[Any, Any, None] | None:
        person = people.next()
        if person is None:
            return None
        return load.guarded(rec, load.Citizen(emu, sms, person, rec, timeout=timeout, think=think).own_flow())
    return fresh


def messages_per_chat(emu: load.Emu, people: list[synth.Person]) -> Counter[int]:
    """How many chats got how many bot messages (edits and deletions not counted): each chat had one flow."""
    return Counter(sum(1 for m in emu.chat(p.user_id).messages if m.get("kind") == "message")
                   for p in people if emu.chat(p.user_id).messages)


def unusual_chats(emu: load.Emu, people: list[synth.Person], usual: int | None, examples: int = 3) -> list:
    """What the chats with more bot messages than `usual` were sent (kind, first words; digits masked)."""
    out = []
    for p in people:
        messages = emu.chat(p.user_id).messages
        if usual is None or sum(1 for m in messages if m.get("kind") == "message") <= usual:
            continue
        out.append([f"{m.get('kind')}: {masked(m.get('plain_text') or '')[:48]}" for m in messages])
        if len(out) >= examples:
            break
    return out


def flow_summary(rec: load.Recorder) -> dict:
    return {"updates_sent": rec.updates, "updates_answered": len(rec.replied), "flows_ok": rec.sessions_ok,
            "flows_failed": len(rec.failures), "failure_examples": [masked(f) for f in rec.failures[:3]]}


# --- A and B: scaling and CPU per update ----------------------------------------------------------------------

async def scaling(run: Run) -> dict:
    args = run.args
    schedule = [1, 2] * args.rounds
    total_s = len(schedule) * (args.settle + args.round_seconds) + args.warmup + 10
    people = run.people.take(math.ceil(total_s * MAX_UPDATES_PER_S / FLOW_UPDATES))
    caps: list[procs.CpuCap] = []
    cap_error = None
    try:
        for i in range(2):
            caps.append(procs.CpuCap.create(f"qyzmet-bench-{os.getpid()}-web{i}", args.share))
    except OSError as exc:
        for cap in caps:
            cap.remove()
        caps = []
        cap_error = f"{type(exc).__name__}: {exc}"
        say(f"CPU quota NOT applied ({cap_error}): the replicas run uncapped; 1 vs 2 is then not scaling")
    cluster = Cluster("a", run.work, run.admin_url, run.redis_url, run.sms, run.proxy, replicas=2, workers=1)
    result: dict = {"share": args.share if caps else None, "cap_error": cap_error, "citizens": args.citizens,
                    "settle_s": args.settle, "round_s": args.round_seconds, "rounds": []}
    try:
        say(f"A: seeding {len(people):,} citizens into {cluster.db_name} ...")
        result["prepare"] = await cluster.prepare(people)
        await run.proxy.route(run.session, cluster.web_urls, active=[0])
        web = [await cluster.start_web(i, caps[i] if caps else None) for i in range(2)]
        worker = await cluster.start_worker(0)
        emu = load.Emu(cluster.emu_base, run.session)
        await emu.start()
        rec = load.Recorder()
        stop = asyncio.Event()
        say(f"A: {args.citizens} citizens in a closed loop; rounds {schedule} of {args.round_seconds:g} s "
            f"(+{args.settle:g} s settling), replicas capped at {args.share if caps else 'NO cap'}")
        queue = People(people)
        stream = asyncio.create_task(load.closed_stream(args.citizens, stop, own_flows(emu, run.sms, rec, queue)))
        pids = {"web0": web[0].pid, "web1": web[1].pid, "worker": worker.pid,
                "emulator": cluster.emulator.pid if cluster.emulator else 0, "proxy": run.proxy.proc.pid,
                "bench": os.getpid()}
        await run.proxy.route(run.session, active=[0, 1])
        await asyncio.sleep(args.warmup)  # both replicas warm (imports, statement caches, pools) before round 1
        windows = []
        for index, replicas in enumerate(schedule):
            active = [(index // 2) % 2] if replicas == 1 else [0, 1]
            await run.proxy.route(run.session, active=active)
            await asyncio.sleep(args.settle)
            if stream.done():
                say("A: the load ended early (citizens used up or a failure): rounds stop here")
                break
            throttled0 = [cap.throttling() for cap in caps]
            with CpuMeter(pids, trees=run.servers(), machine=True) as cpu:
                t0 = time.perf_counter()
                await asyncio.sleep(args.round_seconds)
                t1 = time.perf_counter()
            windows.append((t0, t1))
            updates = rec.answered_between(t0, t1)
            one = round_figures(index, replicas, active, updates, cpu, caps, throttled0)
            result["rounds"].append(one)
            say(f"A: round {index + 1}: {replicas} replica(s) {active}: {one['updates_per_s']} updates/s, "
                f"replicas' CPU {one['cpu_percent']['replicas']}% of a core, "
                f"{one['cpu_ms_per_update']['replicas']} ms/update, PostgreSQL "
                f"{one['cpu_ms_per_update'].get('postgres')} ms/update")
        stop.set()
        await stream
        for one, (t0, t1) in zip(result["rounds"], windows, strict=False):
            one["reply_latency_ms"] = pct(rec.latencies_sent_between(t0, t1), 1000)
        result["flows"] = flow_summary(rec)
        result["messages_per_chat"] = dict(messages_per_chat(emu, queue.used))
        await emu.stop()
        result["emulator"] = await cluster.emu_stats(run.session)
        result["problems"] = cluster.problems()
        summarize_scaling(result)
        if not args.skip_sqlite:
            result["sqlite"] = await sqlite_run(run, cluster, caps)
    finally:
        cluster.stop()
        for cap in caps:
            cap.remove()
        if not args.keep:
            await cluster.drop()
    return result


def round_figures(index: int, replicas: int, active: list[int], updates: int, cpu: CpuMeter,
                  caps: list[procs.CpuCap], throttled0: list[dict]) -> dict:
    s = cpu.seconds
    replicas_s = s["web0"] + s["web1"]
    per = (lambda x: round(1000 * x / updates, 3)) if updates else (lambda x: None)
    one: dict = {
        "round": index + 1, "replicas": replicas, "active": active, "seconds": round(cpu.wall, 2),
        "updates": updates, "updates_per_s": round(updates / cpu.wall, 1),
        "cpu_s": {k: round(v, 3) for k, v in s.items()},
        "cpu_percent": {**cpu.result, "replicas": round(100 * replicas_s / cpu.wall, 1),
                        "others": round(100 * (s["machine"] - sum(v for k, v in s.items() if k != "machine"))
                                        / cpu.wall, 1)},
        "cpu_ms_per_update": {"replicas": per(replicas_s), **{k: per(s[k]) for k in ("postgres", "redis", "worker",
                                                                                        "emulator", "proxy", "bench")
                                                              if k in s}},
        "load_average": load_average(),
    }
    if caps:
        one["throttled_share"] = {}
        for i, cap in enumerate(caps):
            now, before = cap.throttling(), throttled0[i]
            periods = now["periods"] - before["periods"]
            one["throttled_share"][f"web{i}"] = round((now["throttled"] - before["throttled"]) / periods, 3) \
                if periods else 0.0
    return one


def _median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def summarize_scaling(result: dict) -> None:
    rounds = result["rounds"]
    by = {n: [r for r in rounds if r["replicas"] == n] for n in (1, 2)}
    summary: dict = {}
    for n, rs in by.items():
        summary[f"updates_per_s_{n}"] = _median([r["updates_per_s"] for r in rs])
        summary[f"updates_per_s_{n}_range"] = [min((r["updates_per_s"] for r in rs), default=None),
                                               max((r["updates_per_s"] for r in rs), default=None)]
        for what in ("replicas", "postgres", "redis", "worker"):
            summary[f"cpu_ms_{what}_{n}"] = _median([r["cpu_ms_per_update"].get(what) for r in rs])
        summary[f"replica_cpu_percent_{n}"] = _median([r["cpu_percent"]["replicas"] / n for r in rs])
        summary[f"machine_cpu_percent_{n}"] = _median([r["cpu_percent"]["machine"] for r in rs])
        summary[f"others_cpu_percent_{n}"] = _median([r["cpu_percent"]["others"] for r in rs])
        summary[f"latency_p50_ms_{n}"] = _median([r.get("reply_latency_ms", {}).get("p50") for r in rs])
        summary[f"latency_p99_ms_{n}"] = _median([r.get("reply_latency_ms", {}).get("p99") for r in rs])
    one, two = summary["updates_per_s_1"], summary["updates_per_s_2"]
    summary["ratio"] = round(two / one, 3) if one and two else None
    # Each 2-replica round against the 1-replica round just before it (drift between distant rounds cancels).
    pairs = [b["updates_per_s"] / a["updates_per_s"] for a, b in zip(rounds[::2], rounds[1::2], strict=False)
             if a["replicas"] == 1 and b["replicas"] == 2 and a["updates_per_s"]]
    summary["pair_ratios"] = [round(x, 3) for x in pairs]
    summary["pair_ratio_median"] = _median(pairs)
    for what in ("replicas", "postgres"):
        a, b = summary[f"cpu_ms_{what}_1"], summary[f"cpu_ms_{what}_2"]
        summary[f"cpu_ratio_{what}"] = round(b / a, 3) if a and b else None
    result["summary"] = summary


async def sqlite_run(run: Run, cluster: Cluster, caps: list[procs.CpuCap]) -> dict:
    """The same closed loop against one `qyzmet run` on a SQLite file, webhook through the proxy, capped alike."""
    args = run.args
    folder = run.work / "sqlite"
    folder.mkdir(exist_ok=True)
    people = run.people.take(math.ceil((args.settle + args.round_seconds + 10) * MAX_UPDATES_PER_S / FLOW_UPDATES))
    port = procs.free_port()
    env = {**procs.bot_env(cluster.emu_port, folder / "bot.sqlite3", run.sms.url, port),
           "QYZMET_TELEGRAM_WEBHOOK_URL": run.proxy.url, "QYZMET_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET}
    synth.write_seed(folder / "seed.json", people)
    procs.run_seed(env, folder / "seed.json")
    cap = None
    if caps:
        cap = procs.CpuCap.create(f"qyzmet-bench-{os.getpid()}-sqlite", args.share)
    proc = procs.Proc("sqlite-run", [sys.executable, "-m", "bot.app.cli", "run"], env=env, log=folder / "run.log",
                      cap=cap)
    try:
        await procs.wait_ready(f"http://127.0.0.1:{port}/health/ready", proc, 60)
        await run.proxy.route(run.session, [*cluster.web_urls, f"http://127.0.0.1:{port}"], active=[2])
        emu = load.Emu(cluster.emu_base, run.session)
        await emu.start()
        rec = load.Recorder()
        stop = asyncio.Event()
        say(f"A: the same closed loop against one `qyzmet run` on SQLite (webhook, capped at "
            f"{args.share if cap else 'NO cap'}) ...")
        stream = asyncio.create_task(load.closed_stream(args.citizens, stop,
                                                        own_flows(emu, run.sms, rec, People(people))))
        await asyncio.sleep(args.settle)
        with CpuMeter({"run": proc.pid}, machine=True) as cpu:
            t0 = time.perf_counter()
            await asyncio.sleep(args.round_seconds)
            t1 = time.perf_counter()
        stop.set()
        await stream
        await emu.stop()
        updates = rec.answered_between(t0, t1)
        out = {"updates": updates, "seconds": round(cpu.wall, 2), "updates_per_s": round(updates / cpu.wall, 1),
               "cpu_percent": cpu.result.get("run"), "cpu_ms_per_update":
                   round(1000 * cpu.seconds["run"] / updates, 3) if updates else None,
               "reply_latency_ms": pct(rec.latencies_sent_between(t0, t1), 1000), "flows": flow_summary(rec),
               "problems": log_problems([folder / "run.log"])}
        say(f"A: SQLite `qyzmet run`: {out['updates_per_s']} updates/s, {out['cpu_ms_per_update']} ms/update")
        return out
    finally:
        proc.stop()
        if cap is not None:
            cap.remove()


# --- C and D: a broadcast, then kills ---------------------------------------------------------------------------

async def broadcast_and_kill(run: Run, baseline: Counter[int] | None) -> dict:
    args = run.args
    k = args.compression
    flows_per_s = args.flows_per_s * k  # in compressed time
    flows_needed = (flows_per_s * (args.broadcast_seconds + args.kill_seconds + 30) * 1.5
                    + args.kill_citizens * args.kill_seconds)  # a flow in D takes a second or more
    people = run.people.take(math.ceil(flows_needed) + 50)
    cluster = Cluster(
        "cd", run.work, run.admin_url, run.redis_url, run.sms, run.proxy, replicas=2, workers=2,
        # Per chat: a burst of one message, as at 1/s. Overall: one second's worth, like the bot's own overall
        # bucket (its burst is one second of QYZMET_TELEGRAM_RATE at any rate): at k times the rates both bursts
        # grow k-fold and keep the proportion they have at the real pace (29 within 30).
        emulator_flags=("--global-rate", f"{30 * k:g}", "--per-chat-rate", f"{k:g}", "--per-chat-burst-seconds",
                        f"{1 / k:g}"),
        env={"QYZMET_TELEGRAM_RATE": f"{29 * k:g}", "QYZMET_BROADCAST_RATE": f"{25 * k:g}",
             "QYZMET_TELEGRAM_PER_CHAT_INTERVAL": f"{1 / k:g}", "QYZMET_BROADCAST_PROGRESS_SECONDS": "5",
             # Messages on the wire at once: k times the default 8, so that the pipeline covers the same
             # real-time round trip (mark, send, settle) at k times the rate.
             "QYZMET_BROADCAST_CONCURRENCY": str(round(BROADCAST_CONCURRENCY * k))})
    result: dict = {"k": k, "subscribers": args.subscribers,
                    "emulator_rates": {"global_per_s": 30 * k, "per_chat_per_s": k, "global_burst": 30 * k,
                                       "per_chat_burst": 1},
                    "bot_rates": {"telegram_rate": 29 * k, "broadcast_rate": 25 * k, "per_chat_interval_s": 1 / k,
                                  "broadcast_concurrency": round(BROADCAST_CONCURRENCY * k)},
                    "real_rates": {"global_per_s": 30, "per_chat_per_s": 1, "telegram_rate": 29,
                                   "broadcast_rate": 25},
                    "flows_per_s": flows_per_s, "think_s": args.think / k}
    loads: list[asyncio.Task[None]] = []
    stop = asyncio.Event()
    try:
        say(f"C: {args.subscribers:,} subscribers and {len(people):,} citizens into {cluster.db_name} ...")
        result["prepare"] = await cluster.prepare(people, subscribers=args.subscribers)
        await run.proxy.route(run.session, cluster.web_urls, active=[0, 1])
        for i in range(2):
            await cluster.start_web(i)
        await cluster.start_worker(0)
        emu = load.Emu(cluster.emu_base, run.session)
        await emu.start()
        broadcast_id, total = cluster.broadcast(BROADCAST_TEXT)
        result["broadcast"] = {"id": broadcast_id, "recipients": total}
        t_queued = time.perf_counter()
        counter = BroadcastCounter(emu, args.subscribers)
        while counter.count() == 0:
            if time.perf_counter() - t_queued > 30:
                raise TimeoutError("the worker sent no broadcast message within 30 s")
            await asyncio.sleep(0.1)
        result["broadcast"]["first_message_s"] = round(time.perf_counter() - t_queued, 2)
        await cluster.start_worker(1)  # stands by: worker0 holds the sender's lock
        rec = load.Recorder()
        queue = People(people)
        flows = own_flows(emu, run.sms, rec, queue, timeout=120, think=args.think / k)
        loads.append(asyncio.create_task(load.open_stream(flows_per_s, stop, flows)))
        say(f"C: broadcast {broadcast_id} to {total:,} sending; worker1 standing by; citizens: "
            f"{flows_per_s:g} own flows/s; measuring {args.broadcast_seconds:g} s (k={k:g}) ...")
        await asyncio.sleep(3)  # past the buckets' first burst and the citizens' start
        stats0 = await cluster.emu_stats(run.session)
        pids = {name: proc.pid for name, proc in (("web0", cluster.web[0]), ("web1", cluster.web[1]),
                                                   ("worker0", cluster.workers[0]), ("worker1", cluster.workers[1]),
                                                   ("emulator", cluster.emulator), ("proxy", run.proxy.proc))
                if proc is not None}
        with CpuMeter({**pids, "bench": os.getpid()}, trees=run.servers(), machine=True) as cpu:
            t0 = time.perf_counter()
            await asyncio.sleep(args.broadcast_seconds)
            t1 = time.perf_counter()
        stats1 = await cluster.emu_stats(run.session)
        c = result["window"] = {"seconds": round(t1 - t0, 2), "cpu_percent": cpu.result}
        sent_in_window = counter.count_between(t0, t1)
        c["broadcast_messages"] = sent_in_window
        c["broadcast_per_s"] = round(sent_in_window / (t1 - t0), 1)
        c["configured_per_s"] = 25 * k
        c["achieved_share"] = round(sent_in_window / (t1 - t0) / (25 * k), 3)
        c["all_messages_per_s"] = round((stats1["sent"] - stats0["sent"]) / (t1 - t0), 1)
        c["rate_limited"] = stats1["rate_limited"] - stats0["rate_limited"]
        c["rate_limited_by"] = {key: stats1["rate_limited_by"].get(key, 0) - stats0["rate_limited_by"].get(key, 0)
                                for key in set(stats1["rate_limited_by"]) | set(stats0["rate_limited_by"])}
        c["citizen_updates"] = sum(1 for sent, _ in rec.replied if t0 <= sent < t1)
        c["reply_latency_ms"] = pct(rec.latencies_sent_between(t0, t1), 1000)
        say(f"C: {c['broadcast_per_s']}/s broadcast = {c['achieved_share']:.1%} of {25 * k:g}/s; 429: "
            f"{c['rate_limited']}; citizens' reply p99 {c['reply_latency_ms']['p99']} ms")

        # D: more citizens (the replicas busier: updates on the wire when one dies); kill the replica web1 and
        # the worker that sends, keep the load, restart both.
        d = result["kill"] = {"extra_citizens": args.kill_citizens}
        loads.append(asyncio.create_task(load.closed_stream(args.kill_citizens, stop, flows)))
        await asyncio.sleep(args.kill_after)
        senders = cluster.logged(SENDING)
        holder = int(senders[-1].removeprefix("worker").split("-")[0]) if senders else 0
        d["killed"] = ["web1", f"worker{holder}"]
        sent_before = counter.count()
        t_kill = time.perf_counter()
        web1, victim = cluster.web[1], cluster.workers[holder]
        assert web1 is not None and victim is not None
        web1.kill()
        victim.kill()
        say(f"D: SIGKILL web1 and worker{holder} (the broadcast's sender) at {sent_before:,} broadcast messages")
        await asyncio.sleep(args.restart_after)
        await cluster.start_web(1)
        await cluster.start_worker(holder)
        d["restarted_after_s"] = round(time.perf_counter() - t_kill, 2)
        say("D: both restarted; the load continues ...")
        await asyncio.sleep(max(args.kill_seconds - args.kill_after - args.restart_after, 0))
        stop.set()
        await asyncio.gather(*loads)
        say("D: load stopped; every flow ended; cancelling the broadcast and counting ...")
        await cluster_cancel(cluster, broadcast_id)
        await asyncio.sleep(2)
        await emu.stop()
        d["broadcast_longest_pause_s"] = counter.longest_pause(t_kill - 1.0, t_kill + args.kill_seconds)
        d["logs_that_sent_the_broadcast"] = cluster.logged(SENDING)  # who took over after the kill
        d["citizens"] = flow_summary(rec)
        d["updates_unanswered"] = rec.updates - len(rec.replied)
        per_chat = messages_per_chat(emu, queue.used)
        d["messages_per_chat"] = dict(per_chat)
        # The usual count: the most frequent in phase A (or, without it, here: most flows are undisturbed).
        usual_from = baseline or per_chat
        usual = max(usual_from, key=lambda n: usual_from[n]) if usual_from else None
        d["usual_messages_per_flow"] = usual
        d["usual_from"] = "phase A" if baseline else "phase D itself"
        d["chats_with_more_than_usual"] = sum(n for count, n in per_chat.items() if usual and count > usual)
        d["unusual_examples"] = unusual_chats(emu, queue.used, usual)
        d["broadcast"] = await broadcast_record(cluster, counter, broadcast_id)
        stats = await cluster.emu_stats(run.session)
        d["emulator"] = {"rate_limited": stats["rate_limited"], "rate_limited_by": stats["rate_limited_by"],
                         "webhook": stats["webhook"], "sent": stats["sent"]}
        d["proxy"] = await run.proxy.stats(run.session)
        result["problems"] = cluster.problems()
    finally:
        stop.set()
        for task in loads:
            task.cancel()
        await asyncio.gather(*loads, return_exceptions=True)
        cluster.stop()
        if not args.keep:
            await cluster.drop()
    return result


class BroadcastCounter:
    """The broadcast messages the emulator recorded, read from the load generator's view of every chat."""

    def __init__(self, emu: load.Emu, subscribers: int) -> None:
        self.emu = emu
        self.first = synth.IDLE_USER_BASE
        self.last = synth.IDLE_USER_BASE + subscribers

    def _arrivals(self) -> list[float]:
        out = []
        for chat_id, view in list(self.emu.chats.items()):
            if self.first <= chat_id < self.last:
                out += [at for m, at in zip(view.messages, view.arrived, strict=False)
                        if m.get("kind") == "message" and m.get("plain_text") == BROADCAST_TEXT]
        return out

    def count(self) -> int:
        return len(self._arrivals())

    def count_between(self, start: float, end: float) -> int:
        return sum(1 for at in self._arrivals() if start <= at < end)

    def longest_pause(self, start: float, end: float) -> float | None:
        """The longest time without a broadcast message between `start` and `end` (or the last message)."""
        times = sorted(at for at in self._arrivals() if start <= at <= end)
        if not times:
            return None
        return round(max(b - a for a, b in itertools.pairwise([start, *times])), 2)

    def per_chat(self) -> Counter[int]:
        return Counter(chat_id for chat_id, view in self.emu.chats.items() if self.first <= chat_id < self.last
                       for m in view.messages if m.get("kind") == "message" and m.get("plain_text") == BROADCAST_TEXT)


async def cluster_cancel(cluster: Cluster, broadcast_id: int) -> None:
    ledger = await cluster.ledger(broadcast_id)
    if ledger.get("queued") or ledger.get("sending"):
        cluster.cancel_broadcast(broadcast_id)
    for _ in range(50):  # the messages on the wire settle
        if not (await cluster.ledger(broadcast_id)).get("sending"):
            return
        await asyncio.sleep(0.2)


async def broadcast_record(cluster: Cluster, counter: BroadcastCounter, broadcast_id: int) -> dict:
    """The ledger against the emulator's record: duplicates, and what 'unknown' rows really were."""
    import asyncpg
    per_chat = counter.per_chat()
    conn = await asyncpg.connect(cluster.db_url)
    try:
        rows = await conn.fetch("SELECT user_id, status FROM broadcast_recipients WHERE broadcast_id = $1",
                                broadcast_id)
    finally:
        await conn.close()
    status = {int(r[0]): r[1] for r in rows}
    ledger = Counter(status.values())
    unknown = [u for u, s in status.items() if s == "unknown"]
    return {
        "ledger": dict(ledger),
        "emulator_messages": sum(per_chat.values()),
        "chats_reached": len(per_chat),
        "duplicates": sum(1 for n in per_chat.values() if n > 1),
        "sent_in_ledger_not_in_emulator": sum(1 for u, s in status.items() if s == "sent" and u not in per_chat),
        "in_emulator_not_sent_in_ledger": sum(1 for u in per_chat if status.get(u) not in ("sent", "unknown")),
        "unknown_delivered": sum(1 for u in unknown if u in per_chat),
        "unknown_not_delivered": sum(1 for u in unknown if u not in per_chat),
    }


# --- the store, on both engines -------------------------------------------------------------------------------

async def stores(run: Run) -> dict:
    args = run.args
    out = {}
    say(f"store: {args.store_applications:,} applications, {args.store_lookups:,} lookups of each kind, on SQLite "
        f"and PostgreSQL ...")
    out["sqlite"] = await store_bench.run(run.work / "store.sqlite3", args.store_applications, args.store_lookups)
    name = "qyzmet_scale_store"
    await pg_admin(run.admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    try:
        out["postgresql"] = await store_bench.run(database_url(run.admin_url, name), args.store_applications,
                                                  args.store_lookups)
    finally:
        await pg_admin(run.admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return out


# --- the run --------------------------------------------------------------------------------------------------

def conditions(args: argparse.Namespace) -> dict:
    return {"cpu_count": os.cpu_count(), "python": platform.python_version(),
            "when": time.strftime("%Y-%m-%d %H:%M:%S"), "load_average_start": load_average(),
            "cgroup_v1_cpu": procs.CGROUP_CPU.joinpath("cpu.cfs_quota_us").exists()}


async def run_all(args: argparse.Namespace, work: Path, admin_url: str, redis_url: str, results: dict) -> None:
    async with Run(args, work, admin_url, redis_url) as run:
        results["servers"] = {"postgres_pid_found": run.postgres_pid is not None,
                              "redis_pid_found": run.redis_pid is not None}
        if not args.skip_scaling:
            await phase(results, "scaling", scaling(run))
        if not args.skip_broadcast:
            counts = results.get("scaling", {}).get("messages_per_chat", {})
            baseline = Counter({int(k): v for k, v in counts.items()})
            await phase(results, "broadcast", broadcast_and_kill(run, baseline))
        if not args.skip_store:
            await phase(results, "store", stores(run))


async def phase(results: dict, name: str, work: Coroutine[Any, Any, dict]) -> None:
    """One phase's figures into `results`; a phase that fails is reported as such and the next ones still run."""
    try:
        results[name] = await work
    except Exception as exc:
        traceback.print_exc()
        results[name] = {"error": f"{type(exc).__name__}: {masked(str(exc))[:300]}"}
        say(f"{name}: FAILED ({results[name]['error']})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="qyzmet-scale-"))
    results: dict = {"conditions": conditions(args), "args": vars(args), "workdir": str(work)}
    servers = None
    t0 = time.perf_counter()
    try:
        if not (args.postgres and args.redis):
            say("starting a private PostgreSQL and Redis (scripts/servers.sh) ...")
            # A folder of its own under /tmp: the postgres user must reach it (the work folder is root's alone).
            servers = procs.Servers(Path(tempfile.mkdtemp(prefix="qyzmet-scale-servers-"))).start()
        admin_url = args.postgres or (servers.postgres if servers else "")
        redis_url = args.redis or (servers.redis if servers else "")
        results["conditions"]["servers"] = "given" if servers is None else "private (scripts/servers.sh)"
        import uvloop
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run_all(args, work, admin_url, redis_url, results))
    finally:
        results["total_seconds"] = round(time.perf_counter() - t0, 1)
        results["conditions"]["load_average_end"] = load_average()
        from bench.scale_cluster import json_dump
        json_dump(Path(args.out), results)
        if servers is not None:
            servers.stop()
            shutil.rmtree(servers.folder, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(results))
    print(f"\nwrote {args.out} ({results['total_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
