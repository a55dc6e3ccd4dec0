"""``POST /sms/inbound`` and ``POST /sms/receipts`` — the SMS gateway's side of the bot (DESIGN.md, "Contracts").

Every SMS webhook carries ``X-Qyzmet-Signature``, the hex HMAC-SHA256 of the raw body with QYZMET_SMS_SECRET,
compared in constant time — 401 on a bad one, 400 on a malformed body (handlers/http/json_body.py: hostile until
parsed), 200 when accepted; each refusal is one WARNING line (handlers/http/refusal.py). A repeated inbound
gateway ``id`` is acknowledged and not acted on again: the id is marked handled in the same transaction as the
message's effects, so this holds across restarts, and a message whose handling was cut short by a crash is
handled when the gateway retries it. The complaints' addressees sign their answers the same way
(handlers/http/complaints.py uses ``signed_body``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from aiohttp import web

from bot.core.sms_sending import SmsService
from bot.domain.phone import InvalidPhone, normalize_phone
from handlers.http import json_body
from handlers.http.refusal import refusal
from handlers.sms_commands import SmsHandler

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Qyzmet-Signature"
MAX_SMS_TEXT = 2000  # concatenated SMS longer than this are not people typing
RECEIPT_STATUSES = frozenset({"delivered", "failed"})


def sign(secret: str, body: bytes) -> str:
    """The signature a gateway puts in X-Qyzmet-Signature (also used by tests and tools)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Malformed(ValueError):
    pass


def _object(body: bytes) -> dict[str, Any]:
    try:
        return json_body.parse_object(body)
    except json_body.BadJson as exc:
        raise Malformed(str(exc)) from None


def _optional_id(data: dict[str, Any]) -> str | None:
    value = data.get("id")
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or len(str(value)) > 200:
        raise Malformed("bad id")
    return str(value)


async def signed_body(request: web.Request, secret: str | None) -> bytes:
    """The raw body, once its signature holds (401 otherwise); ``secret`` None: taken unsigned."""
    body = await request.read()
    if secret:
        given = request.headers.get(SIGNATURE_HEADER, "").strip().lower()
        if not hmac.compare_digest(given.encode(), sign(secret, body).encode()):
            raise web.HTTPUnauthorized(text="bad signature")
    return body


class SmsRoutes:
    """The two SMS routes; ``secret`` None: accepted unsigned (the server then listens on loopback only)."""

    def __init__(self, handler: SmsHandler, sms: SmsService, secret: str | None) -> None:
        self._handler = handler
        self._sms = sms
        self._secret = secret

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/sms/inbound", self._inbound)
        app.router.add_post("/sms/receipts", self._receipt)

    async def signed_body(self, request: web.Request) -> bytes:
        return await signed_body(request, self._secret)

    async def _inbound(self, request: web.Request) -> web.Response:
        body = await self.signed_body(request)
        try:
            data = _object(body)
            gateway_id = _optional_id(data)
            sender, text = data.get("from"), data.get("text")
            if not isinstance(sender, str) or not isinstance(text, str) or len(text) > MAX_SMS_TEXT:
                raise Malformed("from and text must be strings")
            phone = normalize_phone(sender)
        except Malformed as exc:
            return refusal(request, 400, str(exc))
        except InvalidPhone as exc:  # said by its reason alone: a message could quote the number
            return refusal(request, 400, f"invalid phone ({exc.reason})")
        try:
            fresh = await self._handler.handle(phone, text, gateway_id)
        except Exception:
            # Nothing of it was committed, the id included: the gateway's retry is handled afresh.
            log.exception("inbound SMS could not be handled")
            return web.json_response({"error": "internal"}, status=500)
        return web.json_response({"ok": True, "duplicate": True} if not fresh else {"ok": True})

    async def _receipt(self, request: web.Request) -> web.Response:
        body = await self.signed_body(request)
        try:
            data = _object(body)
            message_id, status, reason = data.get("id"), data.get("status"), data.get("reason")
            # The type first: a list or an object is unhashable, and ``in`` a frozenset would raise TypeError.
            if not isinstance(message_id, str) or not message_id or len(message_id) > 200 \
                    or not isinstance(status, str) or status not in RECEIPT_STATUSES:
                raise Malformed("id and status (delivered | failed) are required")
            if reason is not None and not isinstance(reason, str):
                raise Malformed("reason must be a string")
        except Malformed as exc:
            return refusal(request, 400, str(exc))
        applied = await self._sms.apply_receipt(message_id, status, reason[:500] if reason else None)
        if applied is None:
            log.warning("receipt for an unknown SMS id")
        return web.json_response({"ok": True, "known": applied is not None})
