"""One person's Telegram updates handled one at a time across replicas.

Why: Telegram sends a chat's messages one after another, but button presses come in a queue of their own, so a
press and a message of one person can reach two web replicas at the same moment; both would read and write the
same conversation state. In one process the per-chat update processor already serialises them
(handlers/telegram/per_chat.py); across processes the lock lives in Redis (``QYZMET_REDIS_URL``).

The Redis lock is ``SET key token NX PX ttl``: only its holder's token releases it (a compare-and-delete script),
it is extended while held, and it expires by itself if its holder dies. When Redis does not answer, the update
is handled without it (logged): nothing durable depends on the lock — an update is acted on once by the
database (``telegram_updates``), and the lock only keeps a person's two updates from interleaving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from redis.exceptions import RedisError

from bot.domain.retry import backoff

log = logging.getLogger(__name__)

LOCK_TTL_SECONDS = 30.0   # extended every third of it while held; a dead holder's lock is free after it
LOCK_WAIT_SECONDS = 30.0  # then the update is refused and Telegram posts it again later

# Delete the key only if it still holds our token (it may have expired and been taken by another replica).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_EXTEND = ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
           "else return 0 end")


class LockTimeout(Exception):
    """The person's lock stayed taken for LOCK_WAIT_SECONDS."""


class PersonLocks(Protocol):
    def hold(self, person: int) -> AbstractAsyncContextManager[None]:
        """Hold the person's lock for the block."""
        ...


class InProcessLocks:
    """One replica: the per-chat update processor already holds the person's lock in this process."""

    @contextlib.asynccontextmanager
    async def hold(self, person: int) -> AsyncIterator[None]:
        yield


class RedisPersonLocks:
    """The person's lock in Redis, shared by every replica (see the module docstring)."""

    def __init__(self, client: Any, prefix: str = "qyzmet", ttl: float = LOCK_TTL_SECONDS,
                 wait: float = LOCK_WAIT_SECONDS) -> None:
        self._client = client
        self._prefix = prefix  # one bot's keys (bot/app/runner.py names the bot in it)
        self._ttl_ms = int(ttl * 1000)
        self._wait = wait
        self._release = client.register_script(_RELEASE)
        self._extend = client.register_script(_EXTEND)

    @contextlib.asynccontextmanager
    async def hold(self, person: int) -> AsyncIterator[None]:
        key = f"{self._prefix}:lock:person:{person}"
        token = secrets.token_hex(16)
        if not await self._acquire(key, token):
            yield  # Redis is unreachable: go on without it (module docstring)
            return
        keeper = asyncio.create_task(self._keep(key, token), name="person-lock-keeper")
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            try:
                await self._release(keys=[key], args=[token])
            except RedisError as exc:  # it expires by itself
                log.warning("a person's lock could not be released (%s)", type(exc).__name__)

    async def _acquire(self, key: str, token: str) -> bool:
        """True once held; False when Redis fails; LockTimeout when another holder keeps it too long."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        tries = 0
        while True:
            try:
                if await self._client.set(key, token, nx=True, px=self._ttl_ms):
                    return True
            except RedisError as exc:
                log.warning("Redis did not answer for a person's lock (%s); handling the update without it",
                            type(exc).__name__)
                return False
            if loop.time() >= deadline:
                raise LockTimeout(key)
            tries += 1
            await asyncio.sleep(backoff(tries, 0.005, 0.05))

    async def _keep(self, key: str, token: str) -> None:
        """Extend the lock while its update is handled, so that a slow update keeps it."""
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            try:
                await self._extend(keys=[key], args=[token, self._ttl_ms])
            except RedisError as exc:
                log.warning("a person's lock could not be extended (%s)", type(exc).__name__)
