"""Broadcast figure: N synthetic subscribers through the emulator (which answers 429 above its global and
per-chat rates) while simulated citizens keep pressing /start; then the bot is killed mid-broadcast and
restarted.

    python -m bench.broadcast_bench --subscribers 100000            # real pace: emulator 30/s, bot 25/s
    python -m bench.broadcast_bench --subscribers 20000 --speedup 10   # time-compressed: 300/s and 250/s

Prints: achieved broadcast rate as a fraction of the configured rate, 429 answers, citizens' reply latency
p50/p99 during the broadcast, the bot's peak RSS, time from restart to the first resumed message, duplicates.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

from bench import procs
from bench.stats import pct

TEXT = "Bench broadcast"


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def prepare_db(path: Path, subscribers: int, citizens: list[int]) -> None:
    """Schema via the bot's own migrations (a `qyzmet operators list` run), then rows in bulk."""
    conn = sqlite3.connect(path)
    now = "2026-01-01T00:00:00+00:00"
    conn.executemany("INSERT OR IGNORE INTO users (user_id, lang, subscribed, created_at) VALUES (?, ?, 1, ?)",
                     ((10_000_000 + i, "kk" if i % 3 else "ru", now) for i in range(subscribers)))
    conn.executemany("INSERT OR IGNORE INTO users (user_id, lang, subscribed, created_at) VALUES (?, 'ru', 0, ?)",
                     ((c, now) for c in citizens))  # citizens chat but are not subscribed: replies only
    conn.commit()
    conn.close()


async def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.broadcast_bench", description=__doc__)
    p.add_argument("--subscribers", type=int, default=100_000)
    p.add_argument("--citizens", type=int, default=20, help="simulated citizens chatting during the broadcast")
    p.add_argument("--speedup", type=float, default=1.0, help="emulator 30×s /s, bot 25×s /s, per chat 1×s /s")
    p.add_argument("--kill-at", type=float, default=0.5, help="kill the bot when this share has been sent")
    args = p.parse_args(argv)
    s = args.speedup
    emu_rate, bot_rate, overall = 30 * s, 25 * s, 29 * s
    work = Path(tempfile.mkdtemp(prefix="qyzmet-bcbench-"))
    db = work / "bench.sqlite3"
    port = procs.free_port()
    base = f"http://127.0.0.1:{port}"
    emu = procs.Proc("emulator", [sys.executable, "-m", "bot.sandbox.emulator", "--port", str(port), "--token",
                                  procs.TOKEN, "--global-rate", str(emu_rate), "--per-chat-rate", str(s)],
                     log=work / "emulator.log")
    citizens = list(range(5_000_000, 5_000_000 + args.citizens))
    env = {**procs.bot_env(port, db, ""), "QYZMET_BROADCAST_RATE": str(bot_rate), "QYZMET_TELEGRAM_RATE": str(overall),
           "QYZMET_TELEGRAM_PER_CHAT_INTERVAL": str(1 / s), "QYZMET_BROADCAST_PROGRESS_SECONDS": "5",
           "QYZMET_HTTP_PORT": str(procs.free_port())}
    env.pop("QYZMET_SMS_GATEWAY_URL")
    env["QYZMET_SMS_GATEWAY"] = "print"  # no SMS in this benchmark: printed (in the bot's log file), not sent
    import os
    import subprocess
    subprocess.run([sys.executable, "-m", "bot.app.cli", "operators", "list"], cwd=procs.ROOT,
                   env={**os.environ, **env}, capture_output=True, check=True)
    prepare_db(db, args.subscribers, citizens)
    q = subprocess.run([sys.executable, "-m", "bot.app.cli", "broadcast", "--kk", TEXT, "--ru", TEXT,
                        "--audience", "all", "--yes"], cwd=procs.ROOT, env={**os.environ, **env},
                       capture_output=True, text=True)
    print(q.stdout.strip())
    bot = None
    try:
        await procs.wait_http(f"{base}/_emu/stats")
        async with aiohttp.ClientSession() as session:
            for first in range(10_000_000, 10_000_000 + args.subscribers, 50_000):
                n = min(50_000, 10_000_000 + args.subscribers - first)
                await session.post(f"{base}/_emu/users", json={"first": first, "count": n, "language_code": "kk"})
            await session.post(f"{base}/_emu/users", json={"first": citizens[0], "count": len(citizens)})

            async def sent_count() -> int:
                return (await procs.emu_stats(session, base))["requests"].get("sendMessage", 0)

            bot = procs.start_bot(env, work)
            t_start = time.perf_counter()
            latencies: list[float] = []
            stop = asyncio.Event()
            seq = {"last": (await (await session.get(f"{base}/_emu/messages", params={"after": 0})).json())["last_seq"]}

            async def citizen(uid: int) -> None:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    await session.post(f"{base}/_emu/send", json={"user_id": uid, "text": "/start"})
                    while not stop.is_set():
                        async with session.get(f"{base}/_emu/messages",
                                               params={"chat_id": uid, "after": seq["last"], "timeout": 5}) as r:
                            body = await r.json()
                        mine = [m for m in body["messages"] if m["chat_id"] == uid]
                        if mine:
                            latencies.append(time.perf_counter() - t0)
                            seq["last"] = max(seq["last"], max(m["seq"] for m in mine))
                            break
                    await asyncio.sleep(1.5 / s)  # a person reads, then presses again

            target = int(args.subscribers * args.kill_at)
            while await sent_count() < 1:
                await asyncio.sleep(0.05)
            t_first = time.perf_counter()
            chatting = [asyncio.create_task(citizen(u)) for u in citizens]
            while await sent_count() < target:
                await asyncio.sleep(0.2)
            t_kill = time.perf_counter()
            sent_before_kill = await sent_count()
            rss1 = peak_rss_mb(bot.pid)
            stop.set()
            for t in chatting:
                t.cancel()
            bot.popen.kill()  # SIGKILL: no graceful stop, rows may be left 'sending'
            bot.popen.wait()
            stats1 = await procs.emu_stats(session, base)
            sent_at_kill = stats1["requests"].get("sendMessage", 0)  # what was on the wire at the kill included
            with sqlite3.connect(db) as c:
                bc_sent = c.execute("SELECT count(*) FROM broadcast_recipients WHERE status IN ('sent', 'sending')"
                                    ).fetchone()[0]
            bot2 = procs.start_bot(env, work)
            bot = bot2
            t_restart = time.perf_counter()
            while await sent_count() <= sent_at_kill:
                await asyncio.sleep(0.01)
            resume_s = time.perf_counter() - t_restart
            conn = sqlite3.connect(db)
            while conn.execute("SELECT status FROM broadcasts WHERE id = 1").fetchone()[0] == "sending":
                await asyncio.sleep(0.5)
            t_end = time.perf_counter()
            rss2 = peak_rss_mb(bot.pid)
            counts = dict(conn.execute("SELECT status, count(*) FROM broadcast_recipients GROUP BY status").fetchall())
            conn.close()
            stats = await procs.emu_stats(session, base)
            async with session.get(f"{base}/_emu/messages", params={"after": 0}) as r:
                events = (await r.json())["messages"]
            per_chat = Counter(m["chat_id"] for m in events if m.get("text") == TEXT and m.get("kind") == "message")
            duplicates = sum(1 for c in per_chat.values() if c > 1)
            phase1 = t_kill - t_first
            rate1 = bc_sent / phase1
            print(f"subscribers {args.subscribers}, citizens {args.citizens}, speedup ×{s:g} "
                  f"(emulator {emu_rate:g}/s overall, {s:g}/s per chat; bot broadcast rate {bot_rate:g}/s)")
            print(f"achieved broadcast rate before the kill: {rate1:.1f}/s = {rate1 / bot_rate:.2f} of configured "
                  f"({bc_sent} broadcast messages in {phase1:.1f}s; "
                  f"all sends incl. replies {sent_before_kill / phase1:.1f}/s)")
            # The replies go first (QYZMET_TELEGRAM_RATE is shared, replies before bulk): what is left for the
            # broadcast is the overall rate less the replies' share, up to the broadcast's own rate.
            replies = max(sent_before_kill - bc_sent, 0) / phase1
            left = min(bot_rate, overall - replies)
            print(f"rate left after the replies' share ({replies:.1f}/s): {left:.1f}/s; the broadcast took "
                  f"{rate1 / left:.2f} of it")
            print(f"429 answers: {stats1['rate_limited']} before the kill, {stats['rate_limited']} in total")
            lat = pct(latencies, 1000)
            print(f"citizens' reply latency during the broadcast (ms): p50 {lat['p50']} p99 {lat['p99']} "
                  f"max {lat['max']} (n={lat['n']})")
            print(f"bot peak RSS: {rss1:.0f} MB before the kill, {rss2:.0f} MB after the restart")
            print(f"restart -> first resumed message: {resume_s:.2f}s (process start included)")
            print(f"ledger: {counts}; duplicates: {duplicates}; total wall {t_end - t_start:.0f}s")
    finally:
        if bot is not None:
            bot.stop()
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
