"""Application status lookups with N applications in SQLite, through the project's own store layer."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.stats import pct
from store import db
from store.applications import ApplicationRepository

SERVICES = ("tb_info", "psychiatry_info", "narcology_info")
STATUSES = ("accepted", "result_ready", "refused", "awaiting_consent")


def _iin(i: int) -> str:
    # Lookups need distinct, realistic-looking keys, not valid checksums: the store does not check them.
    return f"{800000000000 + i:012d}"


async def run(database: Path, applications: int, lookups: int, per_person: int = 2) -> dict:
    """Bulk-insert `applications` rows (and one event each) in one transaction, then time lookups."""
    conn = await db.connect(database)
    try:
        repo = ApplicationRepository(conn)
        people = max(1, applications // per_person)
        base = datetime(2025, 1, 1, tzinfo=UTC)
        t0 = time.perf_counter()

        def rows():
            for i in range(applications):
                person = i % people
                at = base + timedelta(minutes=i)
                s = db.utc_iso(at)
                third = i % 10 == 0
                yield (f"QZ-{250101 + (i // 10_000_000) % 9:06d}-{i % 10_000_000:07d}", SERVICES[i % 3],
                       _iin(person), _iin((person + 1) % people) if third else _iin(person),
                       (10_000_000 + person) if i % 2 else None, "telegram" if i % 2 else "feed", s,
                       db.utc_iso(at + timedelta(days=3)), STATUSES[i % 4], None, s)

        def events():
            for i in range(applications):
                yield (f"QZ-{250101 + (i // 10_000_000) % 9:06d}-{i % 10_000_000:07d}", STATUSES[i % 4],
                       db.utc_iso(base + timedelta(minutes=i)), None)

        await conn.execute("BEGIN")
        await conn.executemany(
            "INSERT INTO applications (number, service, iin, requester_iin, requester_user_id, channel, "
            "submitted_at, due_at, status, refusal_ground, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows())
        await conn.executemany("INSERT INTO application_events (number, status, at, note) VALUES (?, ?, ?, ?)",
                               events())
        await conn.commit()
        insert_s = time.perf_counter() - t0

        rng = random.Random(1)
        by_number, by_person, found = [], [], 0
        for _ in range(lookups):
            i = rng.randrange(applications)
            number = f"QZ-{250101 + (i // 10_000_000) % 9:06d}-{i % 10_000_000:07d}"
            t = time.perf_counter()
            app = await repo.get(number)
            by_number.append(time.perf_counter() - t)
            found += app is not None
        # What /status does for an identified person: their own and filed applications (newest 20).
        for _ in range(lookups):
            person = rng.randrange(people)
            t = time.perf_counter()
            apps = await repo.for_person(_iin(person), 10_000_000 + person)
            by_person.append(time.perf_counter() - t)
            found += bool(apps)
        # The card of one application also reads its history.
        events_t = []
        for _ in range(min(lookups, 2000)):
            i = rng.randrange(applications)
            t = time.perf_counter()
            await repo.events(f"QZ-{250101 + (i // 10_000_000) % 9:06d}-{i % 10_000_000:07d}")
            events_t.append(time.perf_counter() - t)
        async with conn.execute("EXPLAIN QUERY PLAN SELECT number FROM applications WHERE requester_user_id = ? "
                                "UNION SELECT number FROM applications WHERE iin = ? AND coalesce(requester_iin, "
                                "iin) = iin UNION SELECT number FROM applications WHERE requester_iin = ?",
                                (1, "x", "x")) as cur:
            plan = [r[3] for r in await cur.fetchall()]
    finally:
        await conn.close()
    return {
        "applications": applications,
        "insert_seconds": round(insert_s, 2),
        "db_mb": round(database.stat().st_size / 1e6, 1),
        "lookups": lookups,
        "found": found,
        "by_number_ms": pct(by_number, scale=1000),
        "by_iin_ms": pct(by_person, scale=1000),
        "events_ms": pct(events_t, scale=1000),
        "for_person_plan": plan,
    }
