"""Application status lookups with N applications, through the project's own store layer, on SQLite and (with
``--postgres URL``) on PostgreSQL beside it: `python -m bench.store_bench [--postgres URL] [--applications N]`.

`store.db.Database` and `store.applications.ApplicationRepository` as the bot uses them: the rows are written in
one unit of work (a write outside a unit raises NoUnitOfWork), the lookups are plain reads outside any unit, so
they go to the read-only connection like a citizen's /status. The lookups are repeated `rounds` times on the
same data, so that the figure comes with its spread.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.pg import fresh_database
from bench.stats import pct
from store.applications import ApplicationRepository
from store.db import Database, utc_iso
from store.opening import open_database

SERVICES = ("tb_info", "psychiatry_info", "narcology_info")
STATUSES = ("accepted", "result_ready", "refused", "awaiting_consent")
BASE = datetime(2025, 1, 1, tzinfo=UTC)


def _iin(i: int) -> str:
    # Lookups need distinct, realistic-looking keys, not valid checksums: the store does not check them.
    return f"{800000000000 + i:012d}"


def _number(i: int) -> str:
    return f"QZ-{250101 + (i // 10_000_000) % 9:06d}-{i % 10_000_000:07d}"


def _applications(count: int, people: int) -> Iterator[tuple]:
    for i in range(count):
        person = i % people
        at = BASE + timedelta(minutes=i)
        s = utc_iso(at)
        third = i % 10 == 0
        yield (_number(i), SERVICES[i % 3], _iin(person), _iin((person + 1) % people) if third else _iin(person),
               (10_000_000 + person) if i % 2 else None, "telegram" if i % 2 else "feed", s,
               utc_iso(at + timedelta(days=3)), STATUSES[i % 4], None, s)


def _events(count: int) -> Iterator[tuple]:
    for i in range(count):
        yield _number(i), STATUSES[i % 4], utc_iso(BASE + timedelta(minutes=i)), None


async def seed(db: Database, applications: int, per_person: int = 2) -> float:
    """`applications` rows and one event each, in one unit of work; returns the seconds it took."""
    people = max(1, applications // per_person)
    t0 = time.perf_counter()
    async with db.unit("bench/seed"):
        await db.write_many(
            "INSERT INTO applications (number, service, iin, requester_iin, requester_user_id, channel, "
            "submitted_at, due_at, status, refusal_ground, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _applications(applications, people))
        await db.write_many("INSERT INTO application_events (number, status, at, note) VALUES (?, ?, ?, ?)",
                            _events(applications))
    return time.perf_counter() - t0


async def lookups(db: Database, applications: int, count: int, seed_value: int, per_person: int = 2) -> dict:
    """One round of lookups: by number, a person's list (what /status does), an application's history."""
    repo = ApplicationRepository(db)
    people = max(1, applications // per_person)
    rng = random.Random(seed_value)
    by_number, by_person, events_t, found = [], [], [], 0
    for _ in range(count):
        number = _number(rng.randrange(applications))
        t = time.perf_counter()
        app = await repo.get(number)
        by_number.append(time.perf_counter() - t)
        found += app is not None
    for _ in range(count):
        person = rng.randrange(people)
        t = time.perf_counter()
        apps = await repo.for_person(_iin(person), 10_000_000 + person)
        by_person.append(time.perf_counter() - t)
        found += bool(apps)
    for _ in range(min(count, 2000)):
        number = _number(rng.randrange(applications))
        t = time.perf_counter()
        await repo.events(number)
        events_t.append(time.perf_counter() - t)
    return {"found": found, "of": 2 * count, "by_number_ms": pct(by_number, 1000), "by_iin_ms": pct(by_person, 1000),
            "events_ms": pct(events_t, 1000)}


_FOR_PERSON = ("SELECT number FROM applications WHERE requester_user_id = ? "
               "UNION SELECT number FROM applications WHERE iin = ? AND coalesce(requester_iin, iin) = iin "
               "UNION SELECT number FROM applications WHERE requester_iin = ?")


async def run(database: Path | str, applications: int, count: int, rounds: int = 1) -> dict:
    """Seed once, then `rounds` rounds of `count` lookups of each kind."""
    db = await open_database(database)
    try:
        insert_s = await seed(db, applications)
        per_round = [await lookups(db, applications, count, seed_value=1 + r) for r in range(rounds)]
        # The plan of for_person's query (the same SQL as ApplicationRepository.for_person): indexes, no scans.
        if db.engine == "sqlite":
            plan = [row[3] for row in await db.fetchall("EXPLAIN QUERY PLAN " + _FOR_PERSON, (1, "x", "x"))]
            size = Path(database).stat().st_size
        else:
            await db.fetchall("ANALYZE applications")
            plan = [row[0] for row in await db.fetchall("EXPLAIN " + _FOR_PERSON, (1, "x", "x"))]
            size = await db.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await db.close()
    return {
        "engine": db.engine,
        "applications": applications,
        "insert_seconds": round(insert_s, 2),
        "db_mb": round(size / 1e6, 1),
        "lookups_per_round": count,
        "rounds": per_round,
        "for_person_plan": plan,
    }


async def _both(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as work:
        targets: list[str] = [str(Path(work) / "store.sqlite3")]
        if args.postgres:
            targets.append(await fresh_database(args.postgres, "qyzmet_store_bench"))
        for target in targets:
            result = await run(target, args.applications, args.lookups, args.rounds)
            print(f"{result['engine']}: {args.applications:,} applications, seeded in {result['insert_seconds']} s, "
                  f"{result['db_mb']} MB")
            for index, found in enumerate(result["rounds"], 1):
                print(f"  round {index}: by number {found['by_number_ms']}, a person's list {found['by_iin_ms']}, "
                      f"history {found['events_ms']} (ms)")
            print("  plan of a person's list: " + " | ".join(str(line) for line in result["for_person_plan"]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.store_bench", description=__doc__)
    parser.add_argument("--postgres", help="an admin URL of a PostgreSQL server: also run there, beside SQLite")
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(_both(parser.parse_args()))
