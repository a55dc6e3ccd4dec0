"""Opening a database: the one place that knows both engines (store/sqlite_engine.py, store/postgres_engine.py),
so that store/db.py, which both engines build on, knows neither of them."""

from __future__ import annotations

from pathlib import Path

from store.db import Database, is_postgres
from store.postgres_engine import PostgresDatabase
from store.sqlite_engine import SqliteDatabase


async def open_database(target: str | Path, migrate: bool = True, pool_size: int = 10) -> Database:
    """Open the database: a ``postgresql://`` URL, or a SQLite file. ``migrate``: bring its schema up to date
    (running twice is harmless); otherwise check that it is exactly the code's (SchemaMismatch if not: ``qyzmet
    migrate`` first). ``pool_size``: the most connections a PostgreSQL pool opens (SQLite has its two)."""
    db: Database
    if is_postgres(target):
        db = await PostgresDatabase.connect(str(target), pool_size=pool_size)
    else:
        db = await SqliteDatabase.connect(str(target))
    try:
        if migrate:
            db.migrated = await db.migrate()
        else:
            await db.check_schema()
    except BaseException:
        await db.close()
        raise
    return db
