"""The Redis that replicas share (``QYZMET_REDIS_URL``): the one Telegram pace, per-person locks, the dedup of
webhook updates. Nothing durable lives only there: losing Redis loses pace and locks for a moment, not data."""

from __future__ import annotations

import redis.asyncio as redis


def connect(url: str) -> redis.Redis:
    """A client for ``url`` (connections are made on first use and pooled)."""
    return redis.Redis.from_url(url, decode_responses=False, socket_timeout=5, socket_connect_timeout=5,
                                health_check_interval=30)
