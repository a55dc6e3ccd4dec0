"""Migration 015: the registry questions' and the state outbox's queue times become unix epoch seconds, on both
engines, and the rows already queued keep their moments (a question due at 12:00:05 is still due then)."""

from __future__ import annotations

from datetime import UTC, datetime

from store import postgres_engine, sqlite_engine
from store.db import migrations, utc_iso
from store.opening import open_database

DUE = datetime(2026, 12, 1, 12, 0, 5, tzinfo=UTC)
LEASE = datetime(2026, 12, 1, 12, 0, 35, tzinfo=UTC)
CREATED = datetime(2026, 12, 1, 11, 59, 0, tzinfo=UTC)


def _before_015(engine: str) -> list[tuple[int, str]]:
    return [(version, sql) for version, sql in migrations(engine) if version < 15]


async def test_queued_rows_keep_their_times_as_epoch_seconds(empty_database, monkeypatch):
    target = empty_database()
    for module in (sqlite_engine, postgres_engine):
        monkeypatch.setattr(module, "migrations", _before_015)
    db = await open_database(target)
    try:
        assert max(await db.applied_versions()) == 14
        async with db.unit("test/rows before 015"):
            await db.write(
                "INSERT INTO applications (number, service, iin, channel, submitted_at, due_at, status, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ("QZ-1", "tb_info", "900101300123", "seed", utc_iso(CREATED), utc_iso(CREATED), "accepted",
                 utc_iso(CREATED)))
            await db.write(
                "INSERT INTO registry_questions (number, status, next_attempt_at, lease_until, created_at) "
                "VALUES (?, 'asking', ?, ?, ?)", ("QZ-1", utc_iso(DUE), utc_iso(LEASE), utc_iso(CREATED)))
            await db.write(
                "INSERT INTO state_outbox (id, target, key, payload, next_attempt_at, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", ("monitoring:QZ-1", "monitoring", "QZ-1", "{}", utc_iso(DUE),
                                              utc_iso(CREATED)))
    finally:
        await db.close()
    monkeypatch.undo()

    db = await open_database(target)  # applies 015
    try:
        assert 15 in await db.applied_versions()
        row = await db.fetchone("SELECT next_attempt_at, lease_until, status FROM registry_questions")
        assert row is not None
        assert (row[0], row[1], row[2]) == (DUE.timestamp(), LEASE.timestamp(), "asking")
        assert isinstance(row[0], float)
        row = await db.fetchone("SELECT next_attempt_at, lease_until, created_at FROM state_outbox")
        assert row is not None
        assert (row[0], row[1]) == (DUE.timestamp(), None)
        # The queue reads them as any other: due at DUE, not a second before.
        from store.state_outbox import StateOutboxRepository
        repo = StateOutboxRepository(db)
        assert await repo.next_due_at() == DUE.timestamp()
        async with db.unit("test/claim"):
            assert await repo.claim_due(DUE.timestamp() - 1, 30) == []
            [post] = await repo.claim_due(DUE.timestamp(), 30)
        assert post.key == "QZ-1"
    finally:
        await db.close()
