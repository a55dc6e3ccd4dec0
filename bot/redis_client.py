"""The Redis that replicas share (``QYZMET_REDIS_URL``): the one Telegram pace, per-person locks, the dedup of
webhook updates. Nothing durable lives only there: losing Redis loses pace and locks for a moment, not data."""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def connect(url: str, timeout: float = 5.0, retries: int | None = None) -> redis.Redis:
    """A client for ``url`` (connections are made on first use and pooled). ``timeout`` bounds connecting and each
    answer; ``retries`` is how many times a command is tried again at once after a connection error (None:
    redis-py's default, up to 10 times with growing pauses). A caller that must not hang on a dead Redis (the
    pace in front of a citizen's reply) passes short ones."""
    options: dict[str, Any] = {} if retries is None else {"retry": Retry(NoBackoff(), retries)}
    return redis.Redis.from_url(url, decode_responses=False, socket_timeout=timeout, socket_connect_timeout=timeout,
                                health_check_interval=30, **options)
