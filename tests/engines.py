"""The database engine the suite runs on: SQLite files (the default) or PostgreSQL when
``QYZMET_TEST_POSTGRES`` names a server (an admin URL, e.g. the one scripts/servers.sh starts).

On PostgreSQL every test gets a database of its own, copied from a template that was migrated once per test
session (``CREATE DATABASE … TEMPLATE``: a few milliseconds), and dropped when the test ends.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import os
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ADMIN_URL = os.environ.get("QYZMET_TEST_POSTGRES", "")
ENGINE = "postgresql" if ADMIN_URL else "sqlite"
REDIS_URL = os.environ.get("QYZMET_TEST_REDIS", "")  # a Redis for the shared pace; tests use their own key prefix

_names = itertools.count(1)
_template: str | None = None
_lock = threading.Lock()
_template_lock = threading.Lock()


def on_postgres() -> bool:
    return ENGINE == "postgresql"


def _url_of(name: str) -> str:
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(parts._replace(path="/" + name))


_loop: asyncio.AbstractEventLoop | None = None
_admin_conn: Any = None


def _run(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to completion from sync code, even inside a running event loop: on a loop of its own in
    a background thread, kept for the session with its one admin connection (a connection per statement cost
    more than the statement)."""
    global _loop
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="postgres-admin", daemon=True).start()
    return asyncio.run_coroutine_threadsafe(make(), _loop).result()


async def _admin(statement: str) -> None:
    global _admin_conn
    import asyncpg
    if _admin_conn is None or _admin_conn.is_closed():
        _admin_conn = await asyncpg.connect(ADMIN_URL)
    await _admin_conn.execute(statement)


def _ensure_template() -> str:
    global _template
    with _template_lock:
        if _template is None:
            from store.db import Database
            name = f"qyzmet_tpl_{os.getpid()}"

            async def build() -> None:
                await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                await _admin(f"CREATE DATABASE {name}")
                db = await Database.open(_url_of(name))
                await db.close()

            _run(build)
            _template = name
            atexit.register(_drop_template, name)
    return _template


def _drop_template(name: str) -> None:
    """At the end of the session: the server outlives it (a developer's own one, say)."""
    try:
        _run(lambda: _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    except Exception:  # the server went first (scripts/test.sh stops it): nothing left to tidy
        pass


def new_database(tmp_path: Path, name: str = "qyzmet") -> str:
    """A new, empty database of the suite's engine (migrated on PostgreSQL, a file path on SQLite)."""
    if not on_postgres():
        return str(tmp_path / f"{name}.sqlite3")
    template = _ensure_template()
    db_name = f"t{os.getpid()}_{next(_names)}"
    # FILE_COPY: a small template is copied in ~20 ms, against ~150 ms through the WAL (PostgreSQL 15's default).
    _run(lambda: _admin(f"CREATE DATABASE {db_name} TEMPLATE {template} STRATEGY FILE_COPY"))
    _created.append(db_name)
    return _url_of(db_name)


def empty_database(tmp_path: Path, name: str = "empty") -> str:
    """A new database of the suite's engine with no schema at all (not migrated): a file path that does not
    exist yet on SQLite, a database created from PostgreSQL's own template on PostgreSQL."""
    if not on_postgres():
        return str(tmp_path / f"{name}.sqlite3")
    db_name = f"e{os.getpid()}_{next(_names)}"
    _run(lambda: _admin(f"CREATE DATABASE {db_name} STRATEGY FILE_COPY"))
    _created.append(db_name)
    return _url_of(db_name)


_created: list[str] = []


def drop_databases() -> None:
    """Drop the databases made since the last call (at the end of each test)."""
    names, _created[:] = list(_created), []
    for db_name in names:
        _run(lambda db_name=db_name: _admin(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))


def redis_prefix() -> str:
    """A key prefix no other test uses (the suite may share its Redis with other runs)."""
    import uuid
    return f"qyzmet:test-{uuid.uuid4().hex[:10]}:"


async def drop_redis_keys(prefix: str) -> None:
    """Delete the keys a test wrote under its prefix, and only those."""
    import redis.asyncio as redis
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
