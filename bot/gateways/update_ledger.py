"""Webhook updates already answered, and how often an update's handling failed.

Why besides the database: an update that changed something is marked handled in its own transaction
(``telegram_updates``), so Telegram's retry of it is never acted on twice. An update that changed nothing (a
menu shown, a help text) leaves no row, and its retry would be answered again; this ledger remembers it
cheaply, for a day (longer than Telegram retries). It also counts failed attempts, so that an update whose
handling keeps failing is given up after a few tries instead of blocking the person's queue at Telegram.

In one process the ledger is a bounded dictionary; with ``QYZMET_REDIS_URL`` it is in Redis and shared by the
replicas. When Redis does not answer, an update counts as new (at worst a reply that changed nothing is sent
twice) — nothing durable depends on it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEPT_SECONDS = 86_400
LOCAL_SIZE = 20_000  # update ids kept in a process: far more than are retried at once


@dataclass(frozen=True)
class Seen:
    answered: bool = False
    failures: int = 0


class UpdateLedger(Protocol):
    async def seen(self, update_id: int) -> Seen:
        """Whether the update was answered already, and how many attempts at it failed."""
        ...

    async def answered(self, update_id: int) -> None:
        """The update was handled and acknowledged."""
        ...

    async def failed(self, update_id: int) -> None:
        """An attempt at the update failed."""
        ...


class LocalUpdateLedger:
    """One replica: recent update ids in this process (the oldest forgotten first)."""

    def __init__(self, size: int = LOCAL_SIZE) -> None:
        self._size = size
        self._seen: OrderedDict[int, Seen] = OrderedDict()

    async def seen(self, update_id: int) -> Seen:
        return self._seen.get(update_id, Seen())

    async def answered(self, update_id: int) -> None:
        self._put(update_id, Seen(answered=True))

    async def failed(self, update_id: int) -> None:
        self._put(update_id, Seen(failures=self._seen.get(update_id, Seen()).failures + 1))

    def _put(self, update_id: int, seen: Seen) -> None:
        self._seen[update_id] = seen
        self._seen.move_to_end(update_id)
        while len(self._seen) > self._size:
            self._seen.popitem(last=False)


class RedisUpdateLedger:
    """Replicas: two keys per update in Redis, expiring after a day."""

    def __init__(self, client: Any, prefix: str = "qyzmet") -> None:
        self._client = client
        self._prefix = prefix  # one bot's keys: update ids are numbered per bot (bot/app/runner.py names it)

    def _keys(self, update_id: int) -> tuple[str, str]:
        return f"{self._prefix}:update:{update_id}:answered", f"{self._prefix}:update:{update_id}:failures"

    async def seen(self, update_id: int) -> Seen:
        try:
            answered, failures = await self._client.mget(self._keys(update_id))
        except RedisError as exc:
            log.warning("Redis did not answer whether update %s was answered (%s)", update_id, type(exc).__name__)
            return Seen()
        return Seen(answered is not None, int(failures or 0))

    async def answered(self, update_id: int) -> None:
        try:
            await self._client.set(self._keys(update_id)[0], b"1", ex=KEPT_SECONDS)
        except RedisError as exc:
            log.warning("Redis did not keep that update %s was answered (%s)", update_id, type(exc).__name__)

    async def failed(self, update_id: int) -> None:
        key = self._keys(update_id)[1]
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                await pipe.incr(key).expire(key, KEPT_SECONDS).execute()
        except RedisError as exc:
            log.warning("Redis did not count a failure of update %s (%s)", update_id, type(exc).__name__)
