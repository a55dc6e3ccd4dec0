"""Outbound SMS gateways behind one small Protocol.

``HttpSmsGateway`` speaks the generic HTTP contract of DESIGN.md; ``PrintingSmsGateway`` sends nothing:
messages stay in the outbox table and are shown to whoever listens (the terminal demo, tests) and, under
``qyzmet run`` with ``QYZMET_SMS_GATEWAY=print``, printed in full on stdout.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Protocol, TextIO

import aiohttp

from bot.config import ConfigError, Settings


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
    """Accepts every message and passes it to listeners (the demo's terminal, tests); with ``out``, also
    prints it there, codes included: that is the point of a printing outbox (not the log, which masks them)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.listeners: list[SmsListener] = []
        self._out = out

    async def send(self, message_id: str, to: str, text: str) -> str | None:
        if self._out is not None:
            print(f"SMS {message_id} to {to}: {text}", file=self._out, flush=True)
        for listener in self.listeners:
            result = listener(to, text)
            if result is not None:
                await result
        return None


def gateway_for(settings: Settings, out: TextIO) -> SmsGateway:
    """The outbound gateway ``qyzmet run`` uses: the HTTP gateway, or printing on ``out`` when the deployer
    chose it (SMPP: bot/gateways/smpp_gateway.py). Never silently neither: an SMS that goes nowhere is a code
    nobody receives."""
    if settings.sms_gateway == "print":
        if settings.sms_gateway_url:
            raise ConfigError("QYZMET_SMS_GATEWAY=print and QYZMET_SMS_GATEWAY_URL are both set: SMS would "
                              "be printed, not sent.", "  Unset one of them.")
        return PrintingSmsGateway(out)
    if not settings.sms_gateway_url:
        raise ConfigError("QYZMET_SMS_GATEWAY_URL is not set: codes, consent requests and notices by SMS would "
                          "reach nobody.",
                          "  Set it to your SMS gateway's URL, or set QYZMET_SMS_GATEWAY=print to print every "
                          "SMS on stdout instead (a trial run; nothing is sent).")
    return HttpSmsGateway(settings.sms_gateway_url, settings.sms_gateway_timeout_seconds)


class HttpSmsGateway:
    """Over aiohttp: an SMS code is sent inside the citizen's turn, and httpx cost several times the CPU."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None  # made in the running loop, on first use

    async def send(self, message_id: str, to: str, text: str) -> str | None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(self._url, json={"id": message_id, "to": to, "text": text}) as response:
                status = response.status
                retry_after = _retry_after(response.headers.get("retry-after", ""))
                raw = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:  # timeouts and connection errors
            raise TemporarySmsError(type(exc).__name__) from exc
        if status == 429 or status >= 500:
            raise TemporarySmsError(f"HTTP {status}", retry_after)
        if status >= 400:
            raise PermanentSmsError(f"HTTP {status}")
        try:
            body = json.loads(raw)
        except ValueError:
            return None
        return str(body["message_id"]) if isinstance(body, dict) and body.get("message_id") else None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _retry_after(value: str) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare for gateways and is ignored)."""
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 3600 else None
