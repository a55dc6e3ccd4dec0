"""Outbound SMS gateways behind one small Protocol.

``HttpSmsGateway`` speaks the generic HTTP contract of DESIGN.md; ``PrintingSmsGateway`` is the embedded
default (no gateway configured): messages stay in the outbox table and are shown to whoever listens
(the terminal demo prints them).
"""

from __future__ import annotations

from typing import Awaitable, Callable, Protocol

import httpx


class TemporarySmsError(Exception):
    """Worth retrying: 429, 5xx, a timeout or a connection error."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after  # the gateway's Retry-After, honoured when longer than our backoff


class PermanentSmsError(Exception):
    """Not worth retrying: the gateway refused the message (other 4xx)."""


class SmsGateway(Protocol):
    async def send(self, message_id: str, to: str, text: str) -> str | None:
        """Hand one message to the gateway; returns the gateway's id if it gives one."""


SmsListener = Callable[[str, str], Awaitable[None] | None]


class PrintingSmsGateway:
    """Accepts every message and passes it to listeners (the demo's terminal, tests)."""

    def __init__(self) -> None:
        self.listeners: list[SmsListener] = []

    async def send(self, message_id: str, to: str, text: str) -> str | None:
        for listener in self.listeners:
            result = listener(to, text)
            if result is not None:
                await result
        return None


class HttpSmsGateway:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self._url = url
        self._client = httpx.AsyncClient(timeout=timeout)

    async def send(self, message_id: str, to: str, text: str) -> str | None:
        try:
            response = await self._client.post(self._url, json={"id": message_id, "to": to, "text": text})
        except httpx.HTTPError as exc:  # timeouts and connection errors
            raise TemporarySmsError(type(exc).__name__) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TemporarySmsError(f"HTTP {response.status_code}", _retry_after(response))
        if response.status_code >= 400:
            raise PermanentSmsError(f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            return None
        return str(body["message_id"]) if isinstance(body, dict) and body.get("message_id") else None

    async def close(self) -> None:
        await self._client.aclose()


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare for gateways and is ignored)."""
    try:
        value = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return value if 0 <= value <= 3600 else None
