"""The bot's own HTTP server: inbound SMS, delivery receipts, the status feed (bot/http_feed.py, on when
QYZMET_FEED_TOKEN is set), the certificate verification page (handlers/http/verify.py), the Telegram webhook
(handlers/http/telegram_webhook.py, in webhook mode), metrics and health (bot/http_ops.py) (aiohttp.web).
A worker process (``qyzmet worker``) serves metrics and health only.

Contracts (DESIGN.md): every SMS webhook carries ``X-Qyzmet-Signature``, the hex HMAC-SHA256 of the raw
body with QYZMET_SMS_SECRET, compared in constant time — 401 on a bad one, 400 on a malformed body, 200 when
accepted. A repeated inbound gateway ``id`` is acknowledged and not acted on again: the id is marked handled
in the same transaction as the message's effects, so this holds across restarts, and a message whose handling
was cut short by a crash is handled when the gateway retries it. Without a secret the server only listens on
loopback: a webhook that anyone on the network could forge would let them consent on someone else's behalf.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from aiohttp import web

from bot.core.complaints import ComplaintService
from bot.core.sms_sending import SmsService
from bot.core.status_feed import StatusFeed
from bot.domain.phone import InvalidPhone, normalize_phone
from bot.http_complaints import add_routes as add_complaint_routes
from bot.http_feed import add_routes as add_feed_routes
from bot.http_ops import Operations
from bot.http_ops import add_routes as add_ops_routes
from handlers.http.telegram_webhook import TelegramWebhook
from handlers.sms_commands import SmsHandler

log = logging.getLogger(__name__)


class PublicPage(Protocol):
    """A public web route set (handlers/http/): the verification page, share links, the issuer's keys."""

    def add_routes(self, app: web.Application) -> None: ...

SIGNATURE_HEADER = "X-Qyzmet-Signature"
MAX_BODY = 64 * 1024
MAX_SMS_TEXT = 2000  # concatenated SMS longer than this are not people typing
RECEIPT_STATUSES = frozenset({"delivered", "failed"})


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


def sign(secret: str, body: bytes) -> str:
    """The signature a gateway puts in X-Qyzmet-Signature (also used by tests and tools)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Malformed(ValueError):
    pass


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Malformed("not JSON") from exc
    if not isinstance(data, dict):
        raise Malformed("not a JSON object")
    return data


def _optional_id(data: dict[str, Any]) -> str | None:
    value = data.get("id")
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or len(str(value)) > 200:
        raise Malformed("bad id")
    return str(value)


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
        app = web.Application(client_max_size=MAX_BODY)
        if self._handler is not None:
            app.router.add_post("/sms/inbound", self._inbound)
            app.router.add_post("/sms/receipts", self._receipt)
        if self._ops is not None:
            add_ops_routes(app, self._ops)  # /metrics, /health/live, /health/ready, /health (bot/http_ops.py)
        else:
            app.router.add_get("/health", self._health)
        if self._feed is not None:
            add_feed_routes(app, self._feed, self._feed_token)  # status feed (bot/http_feed.py)
        for page in self._pages:  # /verify, share links, the issuer's keys (handlers/http/)
            page.add_routes(app)
        if self._complaints is not None:  # the addressee's answers, signed like SMS (bot/http_complaints.py)
            add_complaint_routes(app, self._complaints, self._signed_body)
        if self._telegram is not None:
            self._telegram.add_routes(app)  # updates Telegram posts (handlers/http/telegram_webhook.py)
        return app

    async def start(self) -> None:
        if not self._secret and self._handler is not None:
            log.warning("QYZMET_SMS_SECRET is not set: SMS webhooks are accepted unsigned on %s", self._host)
        self._runner = web.AppRunner(self.app(), access_log=None)  # access logs would show nothing useful
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

    async def _signed_body(self, request: web.Request) -> bytes:
        body = await request.read()
        if self._secret:
            given = request.headers.get(SIGNATURE_HEADER, "").strip().lower()
            if not hmac.compare_digest(given.encode(), sign(self._secret, body).encode()):
                raise web.HTTPUnauthorized(text="bad signature")
        return body

    async def _inbound(self, request: web.Request) -> web.Response:
        body = await self._signed_body(request)
        try:
            data = _object(body)
            gateway_id = _optional_id(data)
            sender, text = data.get("from"), data.get("text")
            if not isinstance(sender, str) or not isinstance(text, str) or len(text) > MAX_SMS_TEXT:
                raise Malformed("from and text must be strings")
            phone = normalize_phone(sender)
        except (Malformed, InvalidPhone) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        assert self._handler is not None  # the route exists only with a handler
        try:
            fresh = await self._handler.handle(phone, text, gateway_id)
        except Exception:
            # Nothing of it was committed, the id included: the gateway's retry is handled afresh.
            log.exception("inbound SMS could not be handled")
            return web.json_response({"error": "internal"}, status=500)
        return web.json_response({"ok": True, "duplicate": True} if not fresh else {"ok": True})

    async def _receipt(self, request: web.Request) -> web.Response:
        body = await self._signed_body(request)
        try:
            data = _object(body)
            message_id, status, reason = data.get("id"), data.get("status"), data.get("reason")
            if not isinstance(message_id, str) or not message_id or status not in RECEIPT_STATUSES:
                raise Malformed("id and status (delivered | failed) are required")
            if reason is not None and not isinstance(reason, str):
                raise Malformed("reason must be a string")
        except Malformed as exc:
            return web.json_response({"error": str(exc)}, status=400)
        applied = await self._sms.apply_receipt(message_id, status, reason[:500] if reason else None)
        if applied is None:
            log.warning("receipt for an unknown SMS id")
        return web.json_response({"ok": True, "known": applied is not None})

    async def _health(self, request: web.Request) -> web.Response:
        """Without the operating routes (a server built on its own): the process answers."""
        return web.json_response({"status": "ok"})
