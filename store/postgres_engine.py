"""PostgreSQL (asyncpg): the engine for several replicas. A pool of connections: a begun unit of work holds one
for its transaction (units of different tasks and processes run at once; rows that workers share are claimed
with ``FOR UPDATE SKIP LOCKED`` in their repositories), reads outside any unit take any connection.

asyncpg is the fastest driver per statement here (client CPU ≈ 17 µs per primary-key select against 39 µs for
psycopg 3, see the README). Repositories write ``?`` placeholders, the subset both engines share; they are
numbered (``$1``…) here once per distinct statement. Moments are ``timestamptz`` columns that the code reads and
writes as ISO 8601 UTC text (store.db.utc_iso), through a codec installed on every connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bot.domain.retry import backoff
from store.db import Database, Held, Params, Row, UnitOfWork, _refuse_newer, migrations

log = logging.getLogger(__name__)

# A lost listening connection is opened again after this wait, doubled at each failure up to the maximum.
RELISTEN_FIRST_SECONDS = 0.5
RELISTEN_MAX_SECONDS = 30.0

# Any number will do, as long as every replica uses the same one: the key of the migration lock.
_MIGRATION_LOCK = 7_160_514_001


def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1``, ``$2``… (not inside quoted strings or identifiers)."""
    out: list[str] = []
    n = 0
    quote: str | None = None
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            n += 1
            out.append(f"${n}")
            continue
        out.append(ch)
    return "".join(out)


def _encode_moment(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.isoformat()
    return str(value)


def _decode_moment(text: str) -> str:
    moment = datetime.fromisoformat(text).astimezone(UTC)
    return moment.isoformat(timespec="seconds" if not moment.microsecond else "auto")


def _gone(conn: Any) -> bool:
    """A connection kept out of the pool (a hold, the listener) has broken: the pool took it back by itself,
    and what lived with its session (an advisory lock, the listeners) is gone."""
    try:
        return bool(conn.is_closed())
    except asyncpg.InterfaceError:  # "released back to the pool"
        return True


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What the pool does to a connection given back, beyond what asyncpg always does (roll back a transaction
    left open, drop the Python-side listeners): nothing. Its default would send ``SELECT pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL`` — one more round trip after every unit and every statement outside one, a
    quarter of all the bot's round trips. No pooled connection keeps anything in its session: the three that do
    (a hold's advisory lock, the listener, the migrations' lock) are reset by ``_give_back`` before they return."""


async def _setup(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("timestamptz", schema="pg_catalog", encoder=_encode_moment,
                              decoder=_decode_moment, format="text")


class PostgresDatabase(Database):
    engine = "postgresql"

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        super().__init__()
        self._pool = pool
        self.path = url
        self._sql: dict[str, str] = {}
        self._listening: asyncpg.Connection | None = None  # the connection LISTENing for wake-ups, kept
        self._wakes: dict[str, list[Callable[[], None]]] = {}  # channel -> what a notification on it wakes
        self._relistening: asyncio.Task[None] | None = None
        self._closing = False

    @classmethod
    async def connect(cls, url: str, pool_size: int = 10) -> PostgresDatabase:
        pool = await asyncpg.create_pool(
            url, min_size=1, max_size=pool_size, init=_setup, reset=_keep_session, statement_cache_size=512,
            server_settings={"timezone": "UTC", "datestyle": "ISO, YMD", "application_name": "qyzmet"})
        assert pool is not None
        return cls(pool, url)

    async def close(self) -> None:
        self._closing = True
        if self._relistening is not None:
            self._relistening.cancel()
        if self._listening is not None:
            listening, self._listening = self._listening, None
            if not _gone(listening):  # a broken one went back to the pool by itself
                listening.remove_termination_listener(self._listener_lost)
                await self._give_back(listening)  # without its LISTENs
        await self._pool.close()

    async def _give_back(self, conn: asyncpg.Connection) -> None:
        """Return a connection that kept something in its session (an advisory lock, LISTENs) to the pool, reset
        in full; one that cannot be reset is closed, so that nothing of its session reaches the next user."""
        try:
            await conn.reset()
        except BaseException:
            conn.terminate()
            raise
        finally:
            await self._pool.release(conn)

    async def notify(self, channel: str) -> None:
        await self.write("SELECT pg_notify(?, '')", (channel,))  # sent by the server at the commit

    async def listen(self, channel: str, wake: Callable[[], None]) -> None:
        new_channel = channel not in self._wakes
        self._wakes.setdefault(channel, []).append(wake)
        if self._listening is None:
            if self._relistening is None:  # (while it is being opened again, that adds this channel too)
                await self._open_listener()
        elif new_channel:
            await self._listening.add_listener(channel, self._notified)

    async def _open_listener(self) -> None:
        conn = await self._pool.acquire()
        try:
            added: set[str] = set()
            while missing := self._wakes.keys() - added:  # a channel may be added while this one awaits
                for channel in missing:
                    await conn.add_listener(channel, self._notified)
                    added.add(channel)
        except BaseException:
            await self._give_back(conn)
            raise
        conn.add_termination_listener(self._listener_lost)
        self._listening = conn

    def _notified(self, _conn: object, _pid: int, channel: str, _payload: str) -> None:
        for wake in self._wakes.get(channel, ()):
            wake()

    def _listener_lost(self, conn: object) -> None:
        """The listening connection broke (the server restarted, a failover, a network cut): wake-ups would stop
        for good, and the workers would be left to their slower schedule. It is opened again in the background."""
        if self._closing or self._relistening is not None:
            return
        self._listening = None
        log.warning("the connection listening for wake-ups was lost; opening it again")
        self._relistening = asyncio.get_running_loop().create_task(self._listen_again(), name="pg-relisten")

    async def _listen_again(self) -> None:
        tries = 1
        try:
            while not self._closing:
                await asyncio.sleep(backoff(tries, RELISTEN_FIRST_SECONDS, RELISTEN_MAX_SECONDS))
                try:
                    await self._open_listener()
                except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("listening for wake-ups again failed (%s); next try in %.1f s",
                                type(exc).__name__, backoff(tries + 1, RELISTEN_FIRST_SECONDS, RELISTEN_MAX_SECONDS))
                    tries += 1
                    continue
                log.info("listening for wake-ups again")
                for wakes in self._wakes.values():  # what was notified while nobody listened
                    for wake in wakes:
                        wake()
                return
        finally:
            self._relistening = None

    def _numbered(self, sql: str) -> str:
        found = self._sql.get(sql)
        if found is None:
            found = self._sql[sql] = numbered(sql)
        return found

    async def _begin(self) -> Any:
        self.trips += 1
        conn = await self._pool.acquire()
        try:
            await conn.execute("BEGIN")
        except BaseException:
            await self._pool.release(conn)
            raise
        return conn

    async def _commit(self, unit: UnitOfWork) -> None:
        self.trips += 1
        self.commits += 1
        conn, unit.conn = unit.conn, None
        try:
            await conn.execute("COMMIT")
        except BaseException:
            unit.conn = conn  # the caller rolls back, which releases it
            raise
        await self._pool.release(conn)

    async def _rollback(self, unit: UnitOfWork) -> None:
        self.trips += 1
        conn, unit.conn = unit.conn, None
        if conn is None:
            return
        try:
            await conn.execute("ROLLBACK")
        except Exception:  # a broken connection: the pool replaces it
            log.warning("rollback failed", exc_info=True)
            conn.terminate()
        finally:
            await self._pool.release(conn)

    async def _serialize(self, conn: Any, key: str) -> None:
        self.trips += 1
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)

    async def try_hold(self, name: str) -> Held | None:
        conn = await self._pool.acquire()  # kept out of the pool while held: the lock lives with the session
        try:
            if await conn.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", name):
                return Held(self, name, conn)
        except BaseException:
            await self._pool.release(conn)
            raise
        await self._pool.release(conn)
        return None

    def _hold_lost(self, conn: Any) -> bool:
        return _gone(conn)

    async def _release_hold(self, name: str, conn: Any) -> None:
        if _gone(conn):
            return  # the server released the lock with the session
        await self._give_back(conn)  # the reset unlocks it

    async def _fetch(self, conn: Any, sql: str, params: Params) -> list[Row]:
        self.trips += 1
        try:
            return list(await (conn or self._pool).fetch(self._numbered(sql), *params))
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            exc.add_note(f"statement: {sql}")  # the statement only: its parameters may be personal data
            raise

    async def _count(self, conn: Any, sql: str, params: Params) -> int:
        self.trips += 1
        try:
            status = await (conn or self._pool).execute(self._numbered(sql), *params)
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            exc.add_note(f"statement: {sql}")
            raise
        return int(status.rsplit(" ", 1)[-1]) if status and status[-1].isdigit() else 0

    async def _many(self, conn: Any, sql: str, rows: Iterable[Params]) -> None:
        self.trips += 1
        try:
            await (conn or self._pool).executemany(self._numbered(sql), list(rows))
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            exc.add_note(f"statement: {sql}")
            raise

    async def applied_versions(self) -> set[int]:
        if not await self._pool.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
            return set()
        return {row[0] for row in await self._pool.fetch("SELECT version FROM schema_migrations")}

    async def migrate(self) -> list[int]:
        """Under an advisory lock: two replicas migrating at once take turns, and the second finds nothing
        left to do."""
        conn = await self._pool.acquire()
        try:
            await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                               "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            done = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
            known = migrations(self.engine)
            _refuse_newer(done, {version for version, _ in known})
            applied = []
            for version, sql in known:
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
                applied.append(version)
            return applied
        finally:
            await self._give_back(conn)  # the reset unlocks it, and undoes whatever a migration SET
