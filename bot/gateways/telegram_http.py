"""The HTTP client under python-telegram-bot: aiohttp instead of PTB's default httpx.

Why: every answer of the bot is one or more Bot API calls, and profiling showed most of the bot's CPU time in
httpx/httpcore request machinery; aiohttp (already a dependency for the SMS webhooks) does the same request for
a fraction of the CPU. PTB's contract (BaseRequest) stays: its parameters, multipart when files are attached, PTB's
timeouts and error types. Without files the parameters go as one JSON body (the Bot API takes
``application/json``): one ``json.dumps`` instead of aiohttp's form encoding, field by field, which profiling
showed as a tenth of the CPU of a reply.

Every call is also reported to ``observe(method, outcome)`` (the metrics, bot/metrics.py): the one place every
Bot API call of the process passes through, replies, broadcasts and getUpdates alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from yarl import URL

from bot.metrics import api_method, api_outcome

Observe = Callable[[str, str], None]  # (Bot API method, outcome: ok | 429 | 403 | error)

_JSON_BODY = {"Content-Type": "application/json"}


class RequestNotSent(NetworkError):
    """No connection to the Bot API could be made: the request certainly did not reach Telegram, so sending it
    again cannot make a duplicate (unlike a timeout after the request left)."""


class AiohttpRequest(BaseRequest):
    """A PTB request backend on one aiohttp session with a bounded keep-alive connection pool."""

    __slots__ = ("_connect_timeout", "_media_write_timeout", "_observe", "_pool_size", "_pool_timeout",
                 "_read_timeout", "_session", "_urls", "_write_timeout")

    def __init__(self, connection_pool_size: int = 16, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0, media_write_timeout: float | None = 20.0,
                 observe: Observe | None = None) -> None:
        self._pool_size = connection_pool_size
        self._observe = observe
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, URL] = {}  # per Bot API method: parsed once, not on every request

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # The session is created inside the running loop (aiohttp binds it there).
            connector = aiohttp.TCPConnector(limit=self._pool_size, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self.USER_AGENT},
                                                  skip_auto_headers=("Accept-Encoding",))

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
                         write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
                         connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
                         pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        if isinstance(read_timeout, DefaultValue):
            read_timeout = self._read_timeout
        if isinstance(write_timeout, DefaultValue):
            write_timeout = self._media_write_timeout if files else self._write_timeout
        if isinstance(connect_timeout, DefaultValue):
            connect_timeout = self._connect_timeout
        if isinstance(pool_timeout, DefaultValue):
            pool_timeout = self._pool_timeout
        # aiohttp has no separate write timeout: the read budget covers sending and answering.
        total = None if read_timeout is None else read_timeout + (write_timeout or 0)
        # aiohttp's `connect` covers waiting for a free pooled connection and connecting.
        connect = None if pool_timeout is None or connect_timeout is None else pool_timeout + connect_timeout
        timeout = aiohttp.ClientTimeout(total=total, connect=connect, sock_connect=connect_timeout,
                                        sock_read=read_timeout)
        data: aiohttp.FormData | bytes | None = None
        headers = None
        if request_data is not None and files:
            form = aiohttp.FormData(quote_fields=False)
            for name, value in request_data.json_parameters.items():
                form.add_field(name, value)
            for name, part in files.items():
                if isinstance(part, tuple):
                    filename, content, *mime = part
                    form.add_field(name, content, filename=filename,
                                   content_type=mime[0] if mime else "application/octet-stream")
                else:
                    form.add_field(name, part)
            data = form
        elif request_data is not None:
            data = json.dumps(request_data.parameters, ensure_ascii=False, separators=(",", ":")).encode()
            headers = _JSON_BODY
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = URL(url)
            if method == "POST":  # a Bot API method (a GET downloads a file: a URL of its own, not kept)
                self._urls[url] = parsed
        try:
            async with self._session.request(method, parsed, data=data, headers=headers, timeout=timeout) as response:
                answer = response.status, await response.read()
        except aiohttp.ClientConnectorError as err:  # before anything was sent (refused, DNS, TLS handshake)
            self._report(url, "error")
            raise RequestNotSent(f"aiohttp.{err.__class__.__name__}: {err}") from err
        except TimeoutError as err:
            self._report(url, "error")
            raise TimedOut from err
        except aiohttp.ClientError as err:
            self._report(url, "error")
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err
        self._report(url, api_outcome(answer[0]))
        return answer

    def _report(self, url: str, outcome: str) -> None:
        if self._observe is not None:
            self._observe(api_method(url), outcome)
