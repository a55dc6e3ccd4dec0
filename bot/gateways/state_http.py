"""The HTTP client every state system shares: the bearer token (or a client certificate), a timeout per call,
bounded retries, and a circuit breaker per system.

What counts as "could not answer": a timeout, a connection error, 5xx, 408 or 429 — each tried again up to
QYZMET_STATE_ATTEMPTS times in one call (with a short pause), and each a failure for the breaker. Anything
else (2xx, 404, other 4xx) is an answer, returned to the system's own adapter, which reads it by the
contract; an answer that is not the contract's is reported back with ``malformed`` and counts as a failure
too, and one about another person or register than asked with ``not_asked`` (a faulty system, not a down one: a
warning names the masked IIN so an operator can follow it up). Logs name the system and the reason, never the
path (it holds an IIN) or the body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.clock import Clock
from bot.config import ConfigError, Settings
from bot.domain.iin import mask_iin
from bot.domain.retry import backoff
from bot.gateways.circuit_breaker import CircuitBreaker
from bot.gateways.state_systems import StateSystemUnavailable

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # one person's record is a few hundred bytes
RETRY_PAUSE = 0.1     # seconds before the second try of a call; doubled after each
RETRY_PAUSE_MAX = 2.0  # within one call: its tries are few, and the caller waits on them


class NotAsked(ValueError):
    """A well-formed answer about another person (or register) than the one asked: its message names what was
    answered instead, masked."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.body.decode("utf-8"))


def client_tls(settings: Settings) -> ssl.SSLContext | None:
    """TLS with the client certificate of QYZMET_STATE_CLIENT_CERT (and …_KEY), when set."""
    if settings.state_client_cert is None:
        return None
    context = ssl.create_default_context()
    try:
        context.load_cert_chain(settings.state_client_cert, settings.state_client_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"QYZMET_STATE_CLIENT_CERT: cannot use {settings.state_client_cert}: "
                          f"{getattr(exc, 'strerror', None) or exc}",
                          "  Point it to a PEM certificate with its key (or the key in QYZMET_STATE_CLIENT_KEY)."
                          ) from None
    return context


class StateHttpClient:
    def __init__(self, system: str, base_url: str, settings: Settings, clock: Clock,
                 tls: ssl.SSLContext | None = None) -> None:
        self.system = system
        self._base = base_url.rstrip("/")
        self._headers = {"Accept": "application/json"}
        if settings.state_token:
            self._headers["Authorization"] = f"Bearer {settings.state_token}"
        self._timeout = aiohttp.ClientTimeout(total=settings.state_timeout_seconds)
        self._attempts = settings.state_attempts
        self._tls = tls
        self.breaker = CircuitBreaker(system, settings.state_breaker_failures, settings.state_breaker_seconds, clock)
        self._session: aiohttp.ClientSession | None = None  # made in the running loop, on first use

    def reachable(self) -> bool:
        return self.breaker.reachable()

    async def get(self, path: str) -> Answer:
        """A GET, tried up to QYZMET_STATE_ATTEMPTS times (it changes nothing, so trying again is safe). Callers
        ask before their unit of work begins (store/db.py), so the tries hold no database lock."""
        return await self._call("GET", path, None, self._attempts)

    async def post(self, path: str, body: dict[str, Any]) -> Answer:
        """One POST; the outbox that sends it tries again later, with the same idempotency key."""
        return await self._call("POST", path, body, 1)

    def malformed(self, what: str) -> StateSystemUnavailable:
        """An answer that is not the contract's: a failure for the breaker, and nothing of it is used."""
        self.breaker.failure()
        log.warning("%s answered something that is not the contract's (%s)", self.system, what)
        return StateSystemUnavailable(self.system, f"malformed answer ({what})")

    def not_asked(self, iin: str, what: str, mismatch: NotAsked) -> StateSystemUnavailable:
        """An answer to another question than ours (``what``, e.g. the register): ``malformed``, and a warning
        with the asked IIN masked — the failure's reason, kept with a queued question, names no one."""
        log.warning("%s answered the question about %s%s with %s", self.system, mask_iin(iin),
                    f" ({what})" if what else "", mismatch)
        return self.malformed("not the question asked")

    async def _call(self, method: str, path: str, body: dict[str, Any] | None, attempts: int) -> Answer:
        reason = ""
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(backoff(attempt, RETRY_PAUSE, RETRY_PAUSE_MAX))
            if not self.breaker.allow():
                raise StateSystemUnavailable(self.system, "circuit open (the system keeps failing)")
            try:
                answer = await self._once(method, path, body)
            except (TimeoutError, aiohttp.ClientError) as exc:
                reason = type(exc).__name__
            except BaseException:  # cancelled: neither an answer nor a failure of the system
                self.breaker.abandon()
                raise
            else:
                if answer.status < 500 and answer.status not in (408, 429):
                    self.breaker.success()
                    return answer
                reason = f"HTTP {answer.status}"
            self.breaker.failure()
            log.warning("%s did not answer (%s), try %d of %d", self.system, reason, attempt + 1, attempts)
        raise StateSystemUnavailable(self.system, reason)

    async def _once(self, method: str, path: str, body: dict[str, Any] | None) -> Answer:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        async with self._session.request(method, self._base + path, json=body, ssl=self._tls or True) as response:
            chunks, size = [], 0
            async for chunk in response.content.iter_chunked(16 * 1024):
                size += len(chunk)
                if size > MAX_BODY:  # not one person's record: not read any further
                    raise aiohttp.ClientPayloadError("answer too large")
                chunks.append(chunk)
            return Answer(response.status, b"".join(chunks))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
