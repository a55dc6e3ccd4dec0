"""Migrations (store/db.py, store/migrations/): on the suite's engine, opening twice is harmless, a database
migrated by a newer version is refused, a database not migrated yet is refused where migrating is left to
``qyzmet migrate``, and two processes migrating one new database at once both succeed."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from store.db import Database, SchemaMismatch, migrations, utc_iso
from store.opening import open_database
from tests import engines

ROOT = Path(__file__).resolve().parents[2]


def known_versions(database: Database) -> set[int]:
    return {version for version, _ in migrations(database.engine)}


async def test_both_engines_have_the_same_migration_numbers():
    assert [v for v, _ in migrations("sqlite")] == [v for v, _ in migrations("postgresql")]


async def test_opening_twice_is_harmless(empty_database):
    target = empty_database()
    first = await open_database(target)
    assert await first.applied_versions() == known_versions(first)
    await first.close()
    second = await open_database(target)
    try:
        assert await second.migrate() == []
        assert await second.applied_versions() == known_versions(second)
    finally:
        await second.close()
    checked = await open_database(target, migrate=False)  # exactly the code's schema: accepted
    await checked.close()


@pytest.mark.parametrize("migrate", [True, False])
async def test_a_database_migrated_by_a_newer_version_is_refused(database, migrate):
    db = await open_database(database)
    async with db.unit("test/future"):
        await db.write("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                       (999, utc_iso(datetime.now(UTC))))
    await db.close()
    with pytest.raises(SchemaMismatch, match="999.*newer version"):
        await open_database(database, migrate=migrate)


async def test_an_unmigrated_database_is_refused_without_migrate(empty_database):
    target = empty_database()
    with pytest.raises(SchemaMismatch, match="lacks migrations 1, 2, .*qyzmet migrate"):
        await open_database(target, migrate=False)
    db = await open_database(target)  # then migrating it works
    await db.close()


async def test_a_database_that_lacks_the_latest_migrations_is_refused_without_migrate(database):
    db = await open_database(database)
    latest = max(known_versions(db))
    async with db.unit("test/older"):
        await db.write("DELETE FROM schema_migrations WHERE version = ?", (latest,))
    await db.close()
    with pytest.raises(SchemaMismatch, match=f"lacks migrations {latest}:"):
        await open_database(database, migrate=False)


CHILD = """
import asyncio, sys
from store.opening import open_database

async def main():
    db = await open_database(sys.argv[1])
    try:
        print(sorted(await db.applied_versions()))
    finally:
        await db.close()

print("ready", flush=True)
sys.stdin.readline()  # both processes start migrating together
asyncio.run(main())
"""


def test_two_processes_migrating_one_new_database_at_once_both_succeed(empty_database):
    expected = str(sorted(v for v, _ in migrations(engines.ENGINE)))
    for round_ in range(5):
        target = empty_database(f"race{round_}")
        procs = [subprocess.Popen([sys.executable, "-c", CHILD, target], cwd=ROOT, env={"PYTHONPATH": str(ROOT)},
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            assert out.strip() == expected  # each one sees every migration applied, once
