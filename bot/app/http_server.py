"""The bot's own HTTP server (aiohttp.web), assembled from the routes under handlers/http/: inbound SMS and
delivery receipts (sms.py), the status feed (feed.py, on when QYZMET_FEED_TOKEN is set), the certificate pages
(verify.py, share_page.py, issuer_keys.py), the Telegram webhook (telegram_webhook.py, in webhook mode), the
complaints' answers (complaints.py), metrics and health (ops.py). A worker process (``qyzmet worker``) serves
metrics and health only.

Without a secret the server only listens on loopback: an SMS webhook that anyone on the network could forge
would let them consent on someone else's behalf.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from functools import partial
from typing import Protocol

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage

from bot.core.complaints import ComplaintService
from bot.core.sms_sending import SmsService
from bot.core.status_feed import StatusFeed
from handlers.http.complaints import add_routes as add_complaint_routes
from handlers.http.feed import add_routes as add_feed_routes
from handlers.http.ops import Operations
from handlers.http.ops import add_routes as add_ops_routes
from handlers.http.refusal import refusals
from handlers.http.sms import SmsRoutes, signed_body
from handlers.http.telegram_webhook import TelegramWebhook
from handlers.sms_commands import SmsHandler

log = logging.getLogger(__name__)


class _MalformedRequests(logging.Filter):
    """aiohttp logs a request its parser refuses (a URL or a header over 8 KB, a NUL or a bare CR in a header,
    a broken request line) as "Error handling request" with a traceback at ERROR, and answers 400 itself. That is
    a client's fault, not ours: one WARNING line naming the kind of fault, without the traceback, the peer or
    the offending bytes (a URL may carry a code or a share link's secret). A handler's own exception (a 500)
    has no BadHttpMessage and keeps its ERROR and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, BadHttpMessage) and record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
            record.msg, record.args = "a malformed HTTP request was refused (%d): %s", (exc.code, type(exc).__name__)
            record.exc_info, record.exc_text = None, None
        return True


# The server's protocol logger (aiohttp's own is "aiohttp.server", shared with every aiohttp server in the
# process, the test doubles' included): ours carries the filter above.
protocol_log = logging.getLogger(f"{__name__}.protocol")
protocol_log.addFilter(_MalformedRequests())


class PublicPage(Protocol):
    """A public web route set (handlers/http/): the verification page, share links, the issuer's keys."""

    def add_routes(self, app: web.Application) -> None: ...

MAX_BODY = 64 * 1024  # an SMS webhook, a feed event, a Telegram update: all small


class InsecureHttpConfig(RuntimeError):
    """The server would accept unsigned SMS webhooks from the network."""


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name or "0.0.0.0" / "": not provably loopback


def check_http_config(host: str, secret: str | None) -> None:
    if not secret and not is_loopback(host):
        raise InsecureHttpConfig(
            f"QYZMET_SMS_SECRET is not set, and QYZMET_HTTP_HOST={host!r} is not a loopback address.\n"
            "  Inbound SMS and delivery receipts must be signed when the server is reachable from the network.\n"
            "  Set QYZMET_SMS_SECRET to the secret shared with the SMS gateway, or listen on 127.0.0.1.")


async def _no_server_header(request: web.Request, response: web.StreamResponse) -> None:
    """No ``Server: Python/… aiohttp/…``: the versions help nobody but someone looking for a known flaw."""
    response.headers.pop("Server", None)


class SmsHttpServer:
    """``handler`` None: no SMS routes (a worker's server: metrics and health only)."""

    def __init__(self, handler: SmsHandler | None, sms: SmsService, host: str, port: int, secret: str | None,
                 feed: StatusFeed | None = None, feed_token: str | None = None, ops: Operations | None = None,
                 pages: Sequence[PublicPage] = (), complaints: ComplaintService | None = None,
                 telegram: TelegramWebhook | None = None) -> None:
        if handler is not None:
            check_http_config(host, secret)
        self._handler = handler
        self._sms = sms
        self._host = host
        self._port = port
        self._secret = secret
        self._feed = feed
        self._feed_token = feed_token
        self._ops = ops
        self._pages = pages
        self._complaints = complaints
        self._telegram = telegram
        self._runner: web.AppRunner | None = None
        self.port: int | None = None  # the bound port (the configured one, or the one chosen for port 0)

    def app(self) -> web.Application:
        # refusals: one WARNING line for each refused request, a 400 for a body aiohttp cannot read
        app = web.Application(client_max_size=MAX_BODY, middlewares=[refusals])
        app.on_response_prepare.append(_no_server_header)
        sms = SmsRoutes(self._handler, self._sms, self._secret) if self._handler is not None else None
        if sms is not None:
            sms.add_routes(app)  # inbound SMS and delivery receipts (handlers/http/sms.py)
        if self._ops is not None:
            add_ops_routes(app, self._ops)  # /metrics, /health/live, /health/ready, /health (handlers/http/ops.py)
        else:
            app.router.add_get("/health", self._health)
        if self._feed is not None:
            add_feed_routes(app, self._feed, self._feed_token)  # status feed (handlers/http/feed.py)
        for page in self._pages:  # /verify, share links, the issuer's keys (handlers/http/)
            page.add_routes(app)
        if self._complaints is not None:  # the addressee's answers, signed like SMS (handlers/http/complaints.py)
            add_complaint_routes(app, self._complaints, partial(signed_body, secret=self._secret))
        if self._telegram is not None:
            self._telegram.add_routes(app)  # updates Telegram posts (handlers/http/telegram_webhook.py)
        return app

    async def start(self) -> None:
        if not self._secret and self._handler is not None:
            log.warning("QYZMET_SMS_SECRET is not set: SMS webhooks are accepted unsigned on %s", self._host)
        # access logs would show nothing useful; protocol_log: a malformed request is a warning, not an error
        self._runner = web.AppRunner(self.app(), access_log=None, logger=protocol_log)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port
        log.info("HTTP server on %s:%s", self._host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request: web.Request) -> web.Response:
        """Without the operating routes (a server built on its own): the process answers."""
        return web.json_response({"status": "ok"})
