"""The database engine the suite runs on: SQLite files (the default) or PostgreSQL when
``QYZMET_TEST_POSTGRES`` names a server (an admin URL, e.g. the one scripts/servers.sh starts).

On PostgreSQL every test gets a migrated database of its own, under a name no test used before, and with no rows
but what the migrations wrote (none today). A pool of such databases is copied from a template migrated once per
test session (``CREATE DATABASE … TEMPLATE``), then reused: when a test ends, its database is reset to the
template's state in the background while the next test runs on another one (a copy cost 0.1–0.2 s per test
with both runs of scripts/test.sh side by side, the checkpoints it forces included; a reset takes a few hundredths,
off the tests' path).

The reset (``_reset``): every session still in the database is ended (a pool left open, a process the test
started, a LISTEN, a session advisory lock all go with their sessions); the database is renamed, which the server
refuses while anyone is connected, so that nothing that knew the old name reaches it any more; the application
tables the test used are emptied in one ``TRUNCATE … RESTART IDENTITY CASCADE`` (``schema_migrations`` is kept);
and what remains is compared with the template (``_FINGERPRINT``: schema, sequences, migrations applied, rows the
migrations wrote). A database that differs (a test created a table or recorded a migration) or could not be reset
is dropped, and a new copy takes its place.

Databases without a schema (``empty_database``) are created from PostgreSQL's own template, and dropped at the end
of the test. Every name carries the process id: runs that share the server do not collide.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import itertools
import os
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from store.opening import open_database

ADMIN_URL = os.environ.get("QYZMET_TEST_POSTGRES", "")
ENGINE = "postgresql" if ADMIN_URL else "sqlite"
REDIS_URL = os.environ.get("QYZMET_TEST_REDIS", "")  # a Redis for the shared pace; tests use their own key prefix

_names = itertools.count(1)
_template: str | None = None
_lock = threading.Lock()
_template_lock = threading.Lock()

# Migrated databases in the pool: one lent to the running test, the other reset meanwhile.
POOL_SIZE = 2


def on_postgres() -> bool:
    return ENGINE == "postgresql"


def _url_of(name: str) -> str:
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(parts._replace(path="/" + name))


_loop: asyncio.AbstractEventLoop | None = None
_admin_conn: Any = None
_admin_lock: asyncio.Lock | None = None


def _submit(make: Callable[[], Coroutine[Any, Any, Any]]) -> concurrent.futures.Future[Any]:
    """Start a coroutine on the suite's own event loop, in a background thread kept for the session with its one
    admin connection (a connection per statement cost more than the statement)."""
    global _loop
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="postgres-admin", daemon=True).start()
    return asyncio.run_coroutine_threadsafe(make(), _loop)


def _run(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to completion from sync code, even inside a running event loop (see _submit)."""
    return _submit(make).result()


@contextlib.asynccontextmanager
async def _admin_session() -> AsyncIterator[Any]:
    """The admin connection, for one coroutine at a time (a reset in the background shares it)."""
    global _admin_conn, _admin_lock
    import asyncpg
    if _admin_lock is None:
        _admin_lock = asyncio.Lock()
    async with _admin_lock:
        if _admin_conn is None or _admin_conn.is_closed():
            _admin_conn = await asyncpg.connect(ADMIN_URL)
        yield _admin_conn


async def _admin(statement: str, *args: Any) -> None:
    async with _admin_session() as admin:
        await admin.execute(statement, *args)


# What a reset must bring back: the schema (every object of the database's own schemas), the sequences' state, the
# migrations applied, and what the migrations wrote into tables (the ``{seeded}`` part: md5 of each such table's
# rows). One text, compared with the template's; the catalogs' OIDs are left out (a copy has the same ones, but a
# dropped and recreated object would not, and that is a change the rest already shows).
_USER_SCHEMA = ("n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'"
                " AND n.nspname NOT LIKE 'pg\\_temp\\_%'")
_FINGERPRINT = f"""
SELECT string_agg(item, E'\\n' ORDER BY item) FROM (
    SELECT format('schema %s', n.nspname) FROM pg_namespace n WHERE {_USER_SCHEMA}
    UNION ALL
    SELECT format('rel %s.%s %s %s %s %s %s', n.nspname, c.relname, c.relkind, c.relpersistence, c.relrowsecurity,
                  c.relreplident, c.reloptions)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER_SCHEMA}
    UNION ALL
    SELECT format('col %s.%s %s %s %s %s %s %s %s %s', n.nspname, c.relname, a.attnum, a.attname,
                  format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity, a.attgenerated, a.attcollation,
                  pg_get_expr(d.adbin, d.adrelid))
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE {_USER_SCHEMA} AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT format('constraint %s.%s %s %s %s', n.nspname, coalesce(c.relname, co.contypid::regtype::text), co.conname,
                  pg_get_constraintdef(co.oid), co.convalidated)
    FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace LEFT JOIN pg_class c ON c.oid = co.conrelid
    WHERE {_USER_SCHEMA}
    UNION ALL
    SELECT format('index %s %s', pg_get_indexdef(i.indexrelid), i.indisvalid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE {_USER_SCHEMA}
    UNION ALL
    SELECT format('view %s.%s %s', n.nspname, c.relname, pg_get_viewdef(c.oid))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER_SCHEMA} AND c.relkind IN ('v', 'm')
    UNION ALL
    SELECT format('function %s.%s(%s) %s %s', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
                  p.prokind, md5(coalesce(p.prosrc, '')))
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {_USER_SCHEMA}
    UNION ALL
    SELECT format('type %s.%s %s', n.nspname, t.typname, t.typtype)
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {_USER_SCHEMA}
    UNION ALL
    SELECT format('enum %s %s %s', e.enumtypid::regtype, e.enumsortorder, e.enumlabel) FROM pg_enum e
    UNION ALL
    SELECT format('trigger %s %s', pg_get_triggerdef(t.oid), t.tgenabled) FROM pg_trigger t WHERE NOT t.tgisinternal
    UNION ALL
    SELECT format('rule %s.%s %s', schemaname, tablename, definition) FROM pg_rules
    UNION ALL
    SELECT format('policy %s.%s %s %s %s', schemaname, tablename, policyname, qual, with_check) FROM pg_policies
    UNION ALL
    SELECT format('event trigger %s %s %s', evtname, evtevent, evtenabled) FROM pg_event_trigger
    UNION ALL
    SELECT format('extension %s %s', extname, extversion) FROM pg_extension
    UNION ALL
    SELECT format('large objects %s', count(*)) FROM pg_largeobject_metadata
    UNION ALL
    SELECT format('database %s %s %s', datdba, datallowconn, datconnlimit) FROM pg_database
    WHERE datname = current_database()
    UNION ALL
    SELECT format('setting %s %s', s.setconfig, s.setrole) FROM pg_db_role_setting s
    WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
    UNION ALL
    SELECT format('sequence %s.%s %s %s %s %s %s %s', schemaname, sequencename, start_value, increment_by,
                  min_value, max_value, cycle, last_value)
    FROM pg_sequences
    UNION ALL
    SELECT format('migration %s', version) FROM schema_migrations
    {{seeded}}
) AS items(item)
"""


class _State:
    """What the template holds once migrated: the statement that finds the tables a test used (rows, or a
    sequence they own moved), the tables a reset may empty, and the fingerprint (``_FINGERPRINT``) a copy must
    have."""

    def __init__(self, used_sql: str, emptied: set[str], fingerprint_sql: str, fingerprint: str) -> None:
        self.used_sql, self.emptied = used_sql, emptied
        self.fingerprint_sql, self.fingerprint = fingerprint_sql, fingerprint


_state: _State | None = None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def _read_state(name: str) -> _State:
    """The application tables of the migrated template: those the migrations left empty are emptied by a reset;
    those they wrote rows into (none today) are left as they are, and compared instead."""
    import asyncpg
    conn = await asyncpg.connect(_url_of(name))
    try:
        tables = [row[0] for row in await conn.fetch(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            f" WHERE c.relkind IN ('r', 'p') AND {_USER_SCHEMA} AND c.relname <> 'schema_migrations'"
            " ORDER BY 1")]
        seeded = [table for table in tables if await conn.fetchval(f"SELECT EXISTS (SELECT FROM {table})")]
        emptied = [table for table in tables if table not in seeded]
        # The tables with rows, and those owning a sequence that moved (rows added, then deleted).
        used_sql = (
            "SELECT format('%I.%I', tn.nspname, t.relname) FROM pg_depend d"
            " JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
            " JOIN pg_namespace sn ON sn.oid = s.relnamespace"
            " JOIN pg_sequences ps ON ps.schemaname = sn.nspname AND ps.sequencename = s.relname"
            " JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace"
            " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
            " AND d.deptype IN ('a', 'i') AND ps.last_value IS NOT NULL")
        if emptied:
            used_sql += " UNION SELECT t FROM (VALUES {}) AS v(t, used) WHERE used".format(", ".join(
                f"({_literal(table)}, EXISTS (SELECT FROM {table}))" for table in emptied))
        fingerprint_sql = _FINGERPRINT.replace("{seeded}", "".join(
            f" UNION ALL SELECT format('rows %s %s', {_literal(table)}, md5(string_agg(r::text, ',' ORDER BY r::text)))"
            f" FROM {table} AS r" for table in seeded))
        fingerprint = await conn.fetchval(fingerprint_sql)
    finally:
        await conn.close()
    return _State(used_sql, set(emptied), fingerprint_sql, fingerprint)


def _ensure_template() -> str:
    global _template, _state
    with _template_lock:
        if _template is None:
            name = f"qyzmet_tpl_{os.getpid()}"

            async def build() -> _State:
                await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                await _admin(f"CREATE DATABASE {name}")
                db = await open_database(_url_of(name))
                await db.close()
                return await _read_state(name)

            atexit.register(_drop_all, name)  # even if the build fails half-way
            _state = _run(build)
            _template = name
    return _template


_idle: list[str] = []  # migrated databases in the template's state, each under a name no test has seen
_resetting: list[concurrent.futures.Future[str]] = []  # databases being reset (or replaced): their new names
_lent: list[str] = []  # the migrated databases of the running test
_created: list[str] = []  # the databases without a schema of the running test
_problems: list[str] = []  # what went wrong in the background, told at the next test
replaced = 0  # databases dropped and replaced by a new copy, rather than reset (the pool's own tests read it)


def _new_name() -> str:
    return f"t{os.getpid()}_{next(_names)}"


async def _copy() -> str:
    """A new copy of the template."""
    name = _new_name()
    # FILE_COPY: a small template is copied in ~20 ms, against ~150 ms through the WAL (PostgreSQL 15's default).
    await _admin(f"CREATE DATABASE {name} TEMPLATE {_template} STRATEGY FILE_COPY")
    return name


def _harvest() -> None:
    """Move the databases whose reset has ended to the idle ones; tell what failed."""
    for future in [f for f in _resetting if f.done()]:
        _resetting.remove(future)
        try:
            _idle.append(future.result())
        except Exception as exc:  # not even a new copy could be made: the pool has one database less
            _problems.append(f"a test database could not be reset nor replaced ({exc!r})")
    problems, _problems[:] = list(_problems), []
    for problem in problems:
        warnings.warn(problem, stacklevel=3)


def new_database(tmp_path: Path, name: str = "qyzmet") -> str:
    """A new database of the suite's engine with no rows (migrated on PostgreSQL, a file path on SQLite)."""
    if not on_postgres():
        return str(tmp_path / f"{name}.sqlite3")
    _ensure_template()
    _harvest()
    if not _idle and _resetting and len(_resetting) >= POOL_SIZE:
        concurrent.futures.wait(_resetting[:1])
        _harvest()
    db_name = _idle.pop(0) if _idle else _run(_copy)
    _lent.append(db_name)
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


class _Differs(Exception):
    """A database the reset could not bring back to the template's state."""


async def _reset(name: str, fresh: str) -> None:
    """Bring the database ``name`` back to the template's state, renamed ``fresh``."""
    import asyncpg
    assert _state is not None
    # End what is still connected, then rename: refused while anyone is connected (the server waits up to 5 s
    # for sessions on their way out); someone who connected meanwhile is ended on the next round.
    for attempt in itertools.count(1):
        async with _admin_session() as admin:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                " WHERE datname = $1 AND pid <> pg_backend_pid()", name)
            try:
                await admin.execute(f"ALTER DATABASE {name} RENAME TO {fresh}")
                break
            except asyncpg.ObjectInUseError:
                if attempt == 3:
                    raise
    # Nobody knows the new name: no session but this one is in the database from here on.
    conn = await asyncpg.connect(_url_of(fresh), server_settings={"lock_timeout": "10s"})
    try:
        if await conn.fetchval("SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()"):
            raise _Differs("prepared transactions")
        # Only the tables the test used: each table emptied costs new files, and most tests use a few.
        used = sorted(row[0] for row in await conn.fetch(_state.used_sql) if row[0] in _state.emptied)
        if used:
            await conn.execute(f"TRUNCATE {', '.join(used)} RESTART IDENTITY CASCADE")
        fingerprint = await conn.fetchval(_state.fingerprint_sql)
    finally:
        await conn.close()
    if fingerprint != _state.fingerprint:
        raise _Differs("not the template's schema, sequences, migrations or rows")


async def _recycle(name: str) -> str:
    """The database ``name`` reset, under a new name; or, if it cannot be, dropped and replaced by a new copy."""
    global replaced
    fresh = _new_name()
    try:
        await _reset(name, fresh)
        return fresh
    except Exception as exc:
        if not isinstance(exc, _Differs):
            _problems.append(f"test database {name} could not be reset ({exc!r}): replaced")
        for gone in (name, fresh):  # whichever it is called now
            await _admin(f"DROP DATABASE IF EXISTS {gone} WITH (FORCE)")
        replaced += 1
    return await _copy()


def release_databases() -> None:
    """At the end of each test: its migrated databases go back to the pool (reset in the background), its
    databases without a schema are dropped."""
    lent, _lent[:] = list(_lent), []
    for db_name in lent:
        _resetting.append(_submit(lambda db_name=db_name: _recycle(db_name)))
    names, _created[:] = list(_created), []
    for db_name in names:
        _run(lambda db_name=db_name: _admin(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))


def wait_for_resets() -> None:
    """Until the resets running in the background (of the databases earlier tests left) have ended: the suite's
    own tests of the pool count the replacements, which those would otherwise add to at any moment."""
    concurrent.futures.wait(_resetting, timeout=60)


def recycle_now(url: str) -> str:
    """For the suite's own tests of the pool: reset the running test's database ``url`` at once, as at the end
    of a test, and lend the test the result (its URL). Nothing is left in the background."""
    name = urlsplit(url).path.lstrip("/")
    _lent.remove(name)
    fresh = _run(lambda: _recycle(name))
    _lent.append(fresh)
    return _url_of(fresh)


def _drop_all(template: str) -> None:
    """At the end of the session: the server outlives it (a developer's own one, say)."""
    concurrent.futures.wait(_resetting, timeout=30)
    names = [*_lent, *_idle, *_created]
    for future in _resetting:
        if future.done() and future.exception() is None:
            names.append(future.result())
    _lent[:], _idle[:], _created[:], _resetting[:] = [], [], [], []
    for name in [*names, template]:
        try:
            _run(lambda name=name: _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        except Exception:  # the server went first (scripts/test.sh stops it): nothing left to tidy
            return


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
