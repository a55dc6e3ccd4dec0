"""Why asyncpg: client CPU per statement of the PostgreSQL drivers for asyncio, on this machine.

`python -m bench.drivers --postgres URL [--n 5000]` times, in this process only (the client's CPU, not the
server's), a primary-key select and a one-row update through asyncpg and psycopg 3 (async), each over one
connection, N statements after a warm-up, in alternating rounds; it prints the median µs per statement. The
server's own work is the same for both. psycopg is only needed here (bench/requirements.txt).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import asyncpg

from bench.pg import fresh_database

Step = Callable[[int], Awaitable[object]]


async def _prepare(admin_url: str) -> str:
    url = await fresh_database(admin_url, "qyzmet_drivers_bench")
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE t (id bigint PRIMARY KEY, status text NOT NULL, n integer NOT NULL)")
        await conn.execute("INSERT INTO t SELECT g, 'queued', 0 FROM generate_series(1, 10000) AS g")
    finally:
        await conn.close()
    return url


async def _cpu_us(step: Step, n: int) -> float:
    for i in range(200):  # warm-up: prepared statements, caches
        await step(i)
    cpu = time.process_time()
    for i in range(n):
        await step(i % 10000 + 1)
    return (time.process_time() - cpu) / n * 1e6


async def _asyncpg(url: str, n: int) -> dict[str, float]:
    conn = await asyncpg.connect(url)
    try:
        async def select(i: int) -> object:
            return await conn.fetchrow("SELECT id, status, n FROM t WHERE id = $1", i)

        async def update(i: int) -> object:
            return await conn.execute("UPDATE t SET n = n + 1 WHERE id = $1", i)

        return {"select": await _cpu_us(select, n), "update": await _cpu_us(update, n)}
    finally:
        await conn.close()


async def _psycopg(url: str, n: int) -> dict[str, float]:
    import psycopg
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    try:
        async def select(i: int) -> object:
            cursor = await conn.execute("SELECT id, status, n FROM t WHERE id = %s", (i,))
            return await cursor.fetchone()

        async def update(i: int) -> object:
            cursor = await conn.execute("UPDATE t SET n = n + 1 WHERE id = %s", (i,))
            return cursor.rowcount

        return {"select": await _cpu_us(select, n), "update": await _cpu_us(update, n)}
    finally:
        await conn.close()


async def main(admin_url: str, n: int, rounds: int) -> None:
    url = await _prepare(admin_url)
    figures: dict[str, dict[str, list[float]]] = {"asyncpg": {"select": [], "update": []},
                                                  "psycopg": {"select": [], "update": []}}
    for _ in range(rounds):
        for name, run in (("asyncpg", _asyncpg), ("psycopg", _psycopg)):
            for kind, us in (await run(url, n)).items():
                figures[name][kind].append(us)
    print(f"client CPU per statement, µs (median of {rounds} rounds of {n:,}):")
    for name, kinds in figures.items():
        print(f"  {name:8} primary-key select {statistics.median(kinds['select']):6.1f}   "
              f"one-row update {statistics.median(kinds['update']):6.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.drivers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", required=True, help="an admin URL of a PostgreSQL server")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.postgres, args.n, args.rounds))
