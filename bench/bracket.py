"""One bracketed round: both echo bots, the bot, both echo bots again — on one emulator, with one load generator.

Order: stock echo, same-plumbing echo, the bot (start-up, throughput, half load, third party, memory; then in
webhook mode, throughput), same-plumbing echo, stock echo. Each baseline runs once before and once after the bot,
at the same distance from it, so that a machine that drifts steadily over the round affects the bot and the mean
of each pair alike.
Every round starts from nothing: its own emulator, its own seeded SQLite file, its own citizens.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Coroutine
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from bench import load, procs, synth
from bench.meters import CpuMeter, collector_paused, rss_mb
from bench.stats import pct

ECHO_TEXTS = 7  # as many updates per echo session as the own flow has
WEBHOOK_SECRET = "bench-webhook-secret"
PROFILE = Path(__file__).resolve().parent / "profile.pyisession"  # --profile: the first round's bot


def rate(rec: load.Recorder, wall: float) -> float:
    return rec.updates / wall if wall > 0 else float("nan")


def phase_summary(rec: load.Recorder, wall: float, cpu: CpuMeter | None = None, measured: str = "bot") -> dict:
    """The figures of one phase; `measured` names the process whose CPU time per update is reported."""
    out = {
        "updates": rec.updates, "seconds": round(wall, 2), "updates_per_s": round(rate(rec, wall), 1),
        "sessions_ok": rec.sessions_ok, "failures": len(rec.failures), "failure_examples": rec.failures[:3],
        "reply_latency_ms": pct(rec.first_reply, 1000), "step_latency_ms": pct(rec.step_done, 1000),
    }
    if rec.to_result:
        out["code_to_certificate_ms"] = pct(rec.to_result, 1000)
    if rec.sms_to_result:
        out["sms_consent_to_certificate_ms"] = pct(rec.sms_to_result, 1000)
    if cpu is not None:
        out["cpu_percent_of_one_core"] = cpu.result
        out["cpu_seconds"] = {k: round(v, 3) for k, v in cpu.seconds.items()}
        if rec.updates:
            out["cpu_ms_per_update"] = round(1000 * cpu.seconds[measured] / rec.updates, 3)
    return out


class Round:
    """The processes and the load generator of one round (see the module docstring)."""

    def __init__(self, args: argparse.Namespace, work: Path, index: int) -> None:
        self.args = args
        self.work = work
        self.index = index
        self.results: dict = {"round": index + 1}

    async def run(self) -> dict:
        args, work, results = self.args, self.work, self.results
        self.emu_port, sms_port, http_port = procs.free_port(), procs.free_port(), procs.free_port()
        base = f"http://127.0.0.1:{self.emu_port}"
        self.emulator = procs.start_emulator(self.emu_port, work)
        self.sms = load.SmsSink()
        await self.sms.start(sms_port)
        try:
            await procs.wait_http(f"{base}/_emu/stats")
            database = work / "bot.sqlite3"
            env = procs.bot_env(self.emu_port, database, self.sms.url, http_port)
            K, M = args.citizens, args.third_party
            print(f"[bench] round {self.index + 1}: seeding {3 * K + 2 * M} citizens, {args.idle_users} users, "
                  f"{args.in_progress} conversations in progress ...", flush=True)
            persons = synth.people(3 * K + 2 * M)
            synth.write_seed(work / "seed.json", persons)
            procs.run_seed(env, work / "seed.json")
            mid_flow = synth.add_idle_users(database, args.idle_users, args.in_progress)

            connector = aiohttp.TCPConnector(limit=200)
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
                self.session = session
                self.emu = load.Emu(base, session)
                await self.emu.start()
                self.inbound = load.SmsInbound(f"http://127.0.0.1:{http_port}/sms/inbound", procs.SMS_SECRET,
                                               session)
                results["stock_echo_before"] = await self.echo("stock", "stock-before", 90_000_001)
                results["plumbing_echo_before"] = await self.echo("plumbing", "plumbing-before", 91_000_001)
                await self.bot(env, persons, mid_flow)
                await self.webhook_bot(env, persons[2 * K + 2 * M:], http_port)
                # The baselines again, in the reverse order: each pair brackets the bot at the same distance.
                results["plumbing_echo_after"] = await self.echo("plumbing", "plumbing-after", 92_000_001)
                results["stock_echo_after"] = await self.echo("stock", "stock-after", 93_000_001)
                results["emulator_stats"] = await self.emu.stats()
                await self.emu.stop()
        finally:
            self.emulator.stop()
            await self.sms.stop()
        self._ratios()
        return results

    async def bot(self, env: dict[str, str], persons: list[synth.Person], mid_flow: list[int]) -> None:
        """`qyzmet run` through its phases: throughput, half load, third party, memory."""
        args, results, emu, sms = self.args, self.results, self.emu, self.sms
        K, M = args.citizens, args.third_party
        full, half = persons[:K], persons[K:2 * K]
        requesters, subjects = persons[2 * K:2 * K + M], persons[2 * K + M:2 * K + 2 * M]
        before = (await emu.stats())["requests"].get("getUpdates", 0)
        proc = procs.start_bot(env, self.work, profile=PROFILE if args.profile and self.index == 0 else None)
        try:
            startup = await procs.wait_first_get_updates(self.session, emu.base, before, proc)
            results["startup_seconds"] = round(startup, 3)
            results["bot_rss_at_start"] = rss_mb(proc.pid)
            print(f"[bench] bot up in {startup:.2f}s; throughput: {K} citizens x 7 updates ...", flush=True)
            pids = {"bot": proc.pid, "emulator": self.emulator.pid, "bench": os.getpid()}

            def own(rec: load.Recorder, p: synth.Person) -> Coroutine[Any, Any, None]:
                return load.guarded(rec, load.Citizen(emu, sms, p, rec).own_flow())

            def third(rec: load.Recorder, p: synth.Person, s: synth.Person, by_sms: bool
                      ) -> Coroutine[Any, Any, None]:
                citizen = load.Citizen(emu, sms, p, rec, sms_inbound=self.inbound)
                return load.guarded(rec, citizen.third_party_flow(s, by_sms=by_sms))

            # 1. Closed loop: every citizen at once, each waiting for each answer.
            rec = load.Recorder()
            sms_before = sms.received
            with CpuMeter(pids) as cpu, collector_paused():
                wall = await load.closed_loop([own(rec, p) for p in full])
            results["throughput"] = {**phase_summary(rec, wall, cpu), "sms_sent": sms.received - sms_before}
            capacity = rate(rec, wall)
            print(f"[bench] {capacity:.1f} updates/s; half load ({capacity / 2:.1f}/s, open loop) ...", flush=True)

            # 2. Open loop at half the measured capacity: sessions arrive as a Poisson process.
            rec = load.Recorder()
            with CpuMeter(pids) as cpu, collector_paused():
                wall = await load.open_loop([partial(own, rec, p) for p in half],
                                            rate_per_s=max(capacity / 2 / 7, 0.1))
            results["half_load"] = {"offered_updates_per_s": round(capacity / 2, 1), **phase_summary(rec, wall, cpu)}

            # 3. Third party at half capacity: every other subject consents by passing the code to the
            # requester (typed in Telegram: 9 updates), the others by replying «ДА <code>» by SMS (8 updates).
            print(f"[bench] third party: {M} sessions (code typed / SMS reply) at half capacity ...", flush=True)
            rec = load.Recorder()
            sms_before = sms.received
            with CpuMeter(pids) as cpu, collector_paused():
                wall = await load.open_loop(
                    [partial(third, rec, p, s, i % 2 == 1) for i, (p, s) in enumerate(zip(requesters, subjects,
                                                                                           strict=True))],
                    rate_per_s=max(capacity / 2 / 8.5, 0.1))
            results["third_party"] = {**phase_summary(rec, wall, cpu), "sms_sent": sms.received - sms_before}

            # 4. Memory: the DB holds idle_users subscribers and in_progress conversations; a sample speaks.
            print(f"[bench] memory: {args.mem_sample} of {args.in_progress} mid-flow users write once ...",
                  flush=True)
            results["memory"] = {"idle_users": args.idle_users, "in_progress": args.in_progress,
                                 "after_flows": rss_mb(proc.pid)}
            rec = load.Recorder()
            sample = [synth.Person(i, "", "", uid) for i, uid in enumerate(mid_flow[:args.mem_sample])]
            sem = asyncio.Semaphore(100)

            async def one(p: synth.Person) -> None:
                async with sem:
                    await load.guarded(rec, load.Citizen(emu, sms, p, rec).one_text("здравствуйте"))

            t0 = time.perf_counter()
            await asyncio.gather(*(one(p) for p in sample))
            results["memory"]["sample"] = phase_summary(rec, time.perf_counter() - t0)
            results["memory"]["after_sample"] = rss_mb(proc.pid)
            results["bot_log_errors"] = proc.tail(400).count(" ERROR ")
        finally:
            proc.stop(timeout=60 if args.profile else 15)

    async def webhook_bot(self, env: dict[str, str], fresh: list[synth.Person], http_port: int) -> None:
        """`qyzmet run` again, on the same database, in webhook mode: the emulator posts each update to the bot,
        and the bot's first reply travels back in the HTTP answer (handlers/telegram/webhook_reply.py). The
        same closed loop as the polling bot's throughput phase, with citizens of its own."""
        url = f"http://127.0.0.1:{http_port}/telegram"
        env = {**env, "QYZMET_TELEGRAM_WEBHOOK_URL": url, "QYZMET_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET}
        print(f"[bench] the bot in webhook mode: {len(fresh)} citizens x 7 updates ...", flush=True)
        proc = procs.start_bot(env, self.work, log_name="bot-webhook.log")
        try:
            await procs.wait_ready(f"http://127.0.0.1:{http_port}/health/ready", proc)
            rec = load.Recorder()
            pids = {"bot": proc.pid, "emulator": self.emulator.pid, "bench": os.getpid()}
            before = await self.emu.stats()
            with CpuMeter(pids) as cpu, collector_paused():
                wall = await load.closed_loop([load.guarded(rec, load.Citizen(self.emu, self.sms, p, rec).own_flow())
                                               for p in fresh])
            after = await self.emu.stats()
            calls = {kind: sum(after[kind].values()) - sum(before[kind].values())
                     for kind in ("requests", "carried_calls")}
            self.results["webhook"] = {
                **phase_summary(rec, wall, cpu),
                # Bot API calls per update: sent as requests, and carried back in webhook answers instead.
                "requests_per_update": round(calls["requests"] / rec.updates, 2) if rec.updates else None,
                "carried_per_update": round(calls["carried_calls"] / rec.updates, 2) if rec.updates else None}
        finally:
            proc.stop()
            # The bot leaves its webhook set (its replicas share it); the echo bots that follow poll.
            async with self.session.post(f"{self.emu.base}/bot{procs.TOKEN}/deleteWebhook") as answer:
                answer.raise_for_status()

    async def echo(self, kind: str, label: str, first_user: int) -> dict:
        """The same emulator and closed loop against one of the echo bots (procs.ECHO_BOTS)."""
        K = self.args.citizens
        print(f"[bench] {kind} echo ({label}): {K} users x {ECHO_TEXTS} texts ...", flush=True)
        before = (await self.emu.stats())["requests"].get("getUpdates", 0)
        echo = procs.start_echo_bot(kind, self.emu_port, self.work, label)
        try:
            await procs.wait_first_get_updates(self.session, self.emu.base, before, echo)
            rec = load.Recorder()
            people = [synth.Person(i, "", "", first_user + i) for i in range(K)]
            with CpuMeter({"echo": echo.pid, "emulator": self.emulator.pid, "bench": os.getpid()}) as cpu, \
                    collector_paused():
                wall = await load.closed_loop([load.guarded(rec, load.Citizen(self.emu, self.sms, p, rec)
                                                            .echo_flow(ECHO_TEXTS)) for p in people])
        finally:
            echo.stop()
        return phase_summary(rec, wall, cpu, measured="echo")

    def _ratios(self) -> None:
        """The bot's throughput over the mean of each baseline's two runs."""
        r = self.results
        bot = r["throughput"]["updates_per_s"]
        for kind in procs.ECHO_BOTS:
            mean = (r[f"{kind}_echo_before"]["updates_per_s"] + r[f"{kind}_echo_after"]["updates_per_s"]) / 2
            r[f"{kind}_echo_updates_per_s"] = round(mean, 1)
            r[f"ratio_bot_to_{kind}_echo"] = round(bot / mean, 3) if mean else float("nan")
