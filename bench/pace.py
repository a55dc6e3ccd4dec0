"""The Telegram pace shared by replicas: N processes x K broadcast senders (and a trickle of citizens' replies in
each process) through PriorityRateLimiter against one shared store, with fake sends (no HTTP).

    python -m bench.pace --redis redis://127.0.0.1:56379/0
    python -m bench.pace --redis redis://127.0.0.1:56379/0 --postgres postgresql://postgres@127.0.0.1:55432/postgres

Runs, one after the other: `local` (no shared pace: each process keeps its own, the baseline a shared pace must
fix), `redis` (bot/gateways/telegram_redis_pace.py, what QYZMET_REDIS_URL turns on) and, with --postgres, `postgres`:
the same two token buckets as one row updated by a plpgsql function (no per-chat gap, pauses or waiting set:
the buckets alone), in a database `pace_bench` created for the run and dropped after it.

Prints per store: the achieved aggregate rate against the configured one (all messages, broadcast, replies), the
busiest 1-second window in the second half, citizens' reply latency (call to send) while broadcasts saturate the
pace, the time of one pace decision, decisions per second and each process's CPU share; then the store's
capacity: every sender deciding back to back (each decision a write), decisions per second and their time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from bisect import bisect_right
from typing import Any

from bench.stats import pct
from bot.gateways.telegram_rate_limit import BULK, PriorityRateLimiter

PG_SCHEMA = """
CREATE TABLE pace (id int PRIMARY KEY, o double precision, b double precision, at double precision);
INSERT INTO pace VALUES (1, 0, 0, 0);
CREATE FUNCTION pace_take(bulk boolean, o_rate float8, o_cap float8, b_rate float8, b_cap float8)
RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
  r pace;
  now_s float8;
  v_o float8;
  v_b float8;
BEGIN
  SELECT * INTO r FROM pace WHERE id = 1 FOR UPDATE;
  now_s := extract(epoch FROM clock_timestamp());  -- the server's clock, read once the row is ours
  IF r.at = 0 THEN r.o := o_cap; r.b := b_cap; r.at := now_s; END IF;
  v_o := least(o_cap, r.o + greatest(now_s - r.at, 0) * o_rate);
  v_b := least(b_cap, r.b + greatest(now_s - r.at, 0) * b_rate);
  IF NOT bulk THEN
    UPDATE pace SET o = greatest(v_o - 1, -2 * o_cap), b = v_b, at = now_s WHERE id = 1;
    RETURN 0;
  END IF;
  IF v_o < 1 OR v_b < 1 THEN
    RETURN greatest((1 - v_o) / o_rate, (1 - v_b) / b_rate);
  END IF;
  UPDATE pace SET o = v_o - 1, b = v_b - 1, at = now_s WHERE id = 1;
  RETURN 0;
END $$;
"""


class PgPace:
    """The buckets of RedisPace as one PostgreSQL row (one function call per decision), for comparison."""

    def __init__(self, pool: Any, overall: tuple[float, float], bulk: tuple[float, float]) -> None:
        self.pool = pool
        self._args = (*overall, *bulk)

    async def interactive(self, waiter: str, chat_id: int | None, message: bool) -> float:
        if message:
            await self.pool.fetchval("SELECT pace_take(false, $1, $2, $3, $4)", *self._args)
        return 0.0

    async def bulk(self, chat_id: int | None) -> tuple[float, bool]:
        wait = await self.pool.fetchval("SELECT pace_take(true, $1, $2, $3, $4)", *self._args)
        return (0.0 if wait <= 0 else wait + random.uniform(0, 1 / self._args[2])), False

    async def pause(self, chat_id: int | None, seconds: float) -> None:
        pass


async def worker(args: argparse.Namespace) -> dict:
    """One replica: K bulk senders and a Poisson stream of replies, from start_at for `seconds`."""
    limiter = PriorityRateLimiter(args.overall, args.bulk, 0.0, redis_url=args.store_url if args.store == "redis"
                                  else None, redis_prefix=args.prefix)
    pool = None
    if args.store == "postgres":
        import asyncpg
        pool = await asyncpg.create_pool(args.store_url, min_size=args.senders + 2, max_size=args.senders + 2)
        limiter.shared = PgPace(pool, (args.overall, args.overall), (args.bulk, args.bulk / 10))  # type: ignore
    decisions: list[float] = []
    if limiter.shared is not None:  # time every decision the shared store makes
        shared: Any = limiter.shared
        for name in ("bulk", "interactive"):
            def timed(method: Any) -> Any:
                async def call(*a: Any, **kw: Any) -> Any:
                    t = time.perf_counter()
                    try:
                        return await method(*a, **kw)
                    finally:
                        decisions.append(time.perf_counter() - t)
                return call
            setattr(shared, name, timed(getattr(shared, name)))
    bulk_at: list[float] = []
    reply_at: list[float] = []
    reply_latency: list[float] = []

    async def sender(index: int) -> None:
        chat = 1_000_000 * (index + 1) + 100_000_000 * args.index

        async def sent() -> bool:
            bulk_at.append(time.time())
            return True
        while True:
            chat += 1
            await limiter.process_request(sent, (), {}, "sendMessage", {"chat_id": chat}, {"priority": BULK})

    async def citizens() -> None:
        chat = 10_000_000 * (args.index + 1)
        while True:
            await asyncio.sleep(random.expovariate(args.replies))
            chat += 1
            t0 = time.perf_counter()

            async def sent(t0: float = t0) -> bool:
                reply_latency.append(time.perf_counter() - t0)
                reply_at.append(time.time())
                return True
            await limiter.process_request(sent, (), {}, "sendMessage", {"chat_id": chat}, None)

    async def hammer(index: int) -> None:  # capacity: decisions back to back, each one a write
        assert limiter.shared is not None
        while True:
            await limiter.shared.interactive(f"h{index}", None, True)

    await asyncio.sleep(max(args.start_at - time.time(), 0))
    cpu0 = time.process_time()
    if args.hammer:
        tasks = [asyncio.create_task(hammer(i)) for i in range(args.senders)]
    else:
        tasks = [asyncio.create_task(sender(i)) for i in range(args.senders)]
        tasks.append(asyncio.create_task(citizens()))
    await asyncio.sleep(args.seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    cpu = time.process_time() - cpu0
    if pool is not None:
        await pool.close()
    elif limiter.shared is not None:
        await limiter.shutdown()
    return {"bulk_at": bulk_at, "reply_at": reply_at, "reply_latency": reply_latency, "decisions": decisions,
            "cpu": cpu, "redis_errors": limiter.stats["redis_errors"]}


def busiest_window(times: list[float], start: float, end: float, width: float = 1.0) -> int:
    """The most grants in any `width`-second window inside [start, end]."""
    times = sorted(t for t in times if start <= t <= end)
    return max((bisect_right(times, t + width) - i for i, t in enumerate(times) if t + width <= end), default=0)


def run_workers(args: argparse.Namespace, store: str, url: str, seconds: float, hammer: bool = False
                ) -> tuple[list[dict], float]:
    """The processes of one run; their results and the moment they started."""
    prefix = f"qyzmet:bench-{uuid.uuid4().hex[:8]}:"
    start_at = time.time() + 2.0  # the workers import and connect before that
    argv = [sys.executable, "-m", "bench.pace", "--worker", "--store", store, "--store-url", url, "--prefix", prefix,
            "--start-at", str(start_at), "--seconds", str(seconds), "--senders", str(args.senders),
            "--overall", str(args.overall), "--bulk", str(args.bulk), "--replies", str(args.replies)]
    procs = [subprocess.Popen(argv + ["--index", str(i)] + (["--hammer"] if hammer else []), stdout=subprocess.PIPE,
                              env={**os.environ}) for i in range(args.processes)]
    results = [json.loads(p.communicate()[0]) for p in procs]
    if store == "redis":
        asyncio.run(_drop_keys(url, prefix))
    return results, start_at


def run_store(args: argparse.Namespace, store: str, url: str) -> None:
    results, start_at = run_workers(args, store, url, args.seconds)
    end = start_at + args.seconds
    half = start_at + args.seconds / 2  # by then the second of burst the buckets start with is spent
    bulk = [t for r in results for t in r["bulk_at"]]
    replies = [t for r in results for t in r["reply_at"]]

    def rate(times: list[float], since: float = start_at) -> float:
        return sum(1 for t in times if since <= t <= end) / (end - since)
    expected_bulk = min(args.bulk, args.overall - args.replies * args.processes)
    print(f"\n[{store}] {args.processes} processes x {args.senders} senders, {args.seconds:g} s; configured "
          f"{args.overall:g}/s overall, {args.bulk:g}/s broadcast, replies ~{args.replies:g}/s per process")
    print(f"  achieved over the run: {rate(bulk + replies):.1f}/s in all (the buckets start full), broadcast "
          f"{rate(bulk):.1f}/s, replies {rate(replies):.1f}/s")
    steady = rate(bulk + replies, half)
    print(f"  second half: {steady:.1f}/s in all = {steady / args.overall:.2f} of {args.overall:g}; broadcast "
          f"{rate(bulk, half):.1f}/s (room left by replies {expected_bulk:g}/s), replies {rate(replies, half):.1f}/s")
    print("  broadcast messages per process: " + ", ".join(str(len(r["bulk_at"])) for r in results))
    print(f"  busiest 1-s window in the second half: {busiest_window(bulk + replies, half, end)} in all, "
          f"{busiest_window(bulk, half, end)} broadcast")
    lat = pct([x for r in results for x in r["reply_latency"]], 1000)
    print(f"  reply latency while broadcasts saturate (ms): p50 {lat['p50']} p99 {lat['p99']} max {lat['max']} "
          f"(n={lat['n']})")
    calls = [x for r in results for x in r["decisions"]]
    if calls:
        d = pct(calls, 1000)
        print(f"  one pace decision (ms): p50 {d['p50']} p99 {d['p99']} max {d['max']}; "
              f"{len(calls) / args.seconds:.0f} decisions/s")
    print("  CPU per process: " + ", ".join(f"{r['cpu'] / args.seconds:.0%}" for r in results)
          + (f"; Redis errors {sum(r['redis_errors'] for r in results)}" if store == "redis" else ""))
    if store != "local" and args.capacity > 0:
        results, _ = run_workers(args, store, url, args.capacity, hammer=True)
        calls = [x for r in results for x in r["decisions"]]
        d = pct(calls, 1000)
        print(f"  capacity: {args.processes} x {args.senders} callers deciding back to back for {args.capacity:g} s: "
              f"{len(calls) / args.capacity:.0f} decisions/s, p50 {d['p50']} p99 {d['p99']} ms per decision")


async def _drop_keys(url: str, prefix: str) -> None:
    import redis.asyncio as redis
    client = redis.Redis.from_url(url)
    keys = [key async for key in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def _pg_admin(url: str, *statements: str) -> None:
    import asyncpg
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.pace", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--redis", help="a Redis URL (keys under a prefix of their own, deleted after the run)")
    p.add_argument("--postgres", help="an admin URL: a database pace_bench is created there, and dropped after")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--senders", type=int, default=20, help="broadcast senders per process")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--overall", type=float, default=29.0, help="QYZMET_TELEGRAM_RATE")
    p.add_argument("--bulk", type=float, default=25.0, help="QYZMET_BROADCAST_RATE")
    p.add_argument("--replies", type=float, default=4.0, help="citizens' replies per second in each process")
    p.add_argument("--capacity", type=float, default=3.0, help="seconds of decisions back to back per store "
                   "(what one store can decide at most, and how long a decision takes then); 0: skip")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--hammer", action="store_true", help=argparse.SUPPRESS)
    for name in ("--store", "--store-url", "--prefix"):
        p.add_argument(name, default="", help=argparse.SUPPRESS)
    p.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(asyncio.run(worker(args))))
        return 0
    print(f"cpu_count {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    run_store(args, "local", "")
    if args.redis:
        run_store(args, "redis", args.redis)
    if args.postgres:
        from urllib.parse import urlsplit, urlunsplit
        db_url = urlunsplit(urlsplit(args.postgres)._replace(path="/pace_bench"))
        asyncio.run(_pg_admin(args.postgres, "DROP DATABASE IF EXISTS pace_bench WITH (FORCE)",
                              "CREATE DATABASE pace_bench"))
        try:
            asyncio.run(_pg_admin(db_url, PG_SCHEMA))
            run_store(args, "postgres", db_url)
        finally:
            asyncio.run(_pg_admin(args.postgres, "DROP DATABASE IF EXISTS pace_bench WITH (FORCE)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
