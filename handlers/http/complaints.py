"""``POST /api/v1/complaints/events`` — the addressee's system answers a complaint we delivered to it.

Signed like the SMS webhooks (``X-Qyzmet-Signature``: hex HMAC-SHA256 of the raw body with QYZMET_SMS_SECRET;
the check is the SMS server's own), JSON::

    {"number": "CP-261125-0000001", "event": "registered", "incoming_number": "ЖТ-2026/1187"}
    {"number": "CP-261125-0000001", "event": "forwarded"}
    {"number": "CP-261125-0000001", "event": "answered", "text": "…"}
    {"number": "CP-261125-0000001", "event": "refused", "text": "…"}

The complaint moves as an operator's move would (bot/core/complaints.py: the life cycle, checked in one SQL
UPDATE, audited with the actor "addressee", told to the filer). Answers: 200 ``{"result": "moved" |
"duplicate", "number", "state"}`` (the same event again changes nothing), 400 on a malformed body or a
missing field (``incoming_number`` for registered, ``text`` for answered and refused), 401 on a bad
signature, 404 for an unknown number, 409 when the life cycle does not allow the move now. Nothing changes on
any 4xx. Off (404) while QYZMET_COMPLAINTS_URL is unset. The body is hostile until parsed
(handlers/http/json_body.py); each refusal is one WARNING line (handlers/http/refusal.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.core.complaints import (
    ADDRESSEE_EVENTS,
    ANSWER_LIMIT,
    INCOMING_NUMBER_LIMIT,
    AlreadyThere,
    ComplaintService,
    Moved,
    NotMoved,
    normalize_number,
)
from handlers.http import json_body
from handlers.http.refusal import refusal

log = logging.getLogger(__name__)

PATH = "/api/v1/complaints/events"
_STATUS = {"not_found": 404, "not_allowed": 409, "no_text": 400}


class _Bad(ValueError):
    pass


def add_routes(app: web.Application, complaints: ComplaintService,
               signed_body: Callable[[web.Request], Awaitable[bytes]]) -> None:
    if not complaints.addressee_connected:
        return  # no addressee's system: the path answers 404 like any unknown one

    async def events(request: web.Request) -> web.Response:
        body = await signed_body(request)  # 401 on a bad signature, before anything is read
        try:
            number, event, incoming, text = _parse(body)
        except _Bad as exc:
            return refusal(request, 400, str(exc))
        result = await complaints.addressee_event(number, event, incoming, text)
        if isinstance(result, NotMoved):
            return refusal(request, _STATUS[result.reason], result.reason, number=number)
        kind = "duplicate" if isinstance(result, AlreadyThere) else "moved"
        assert isinstance(result, (Moved, AlreadyThere))
        log.info("complaint %s: the addressee's %s (%s)", number, event, kind)
        return web.json_response({"result": kind, "number": number, "state": result.complaint.state})

    app.router.add_post(PATH, events)


def _parse(body: bytes) -> tuple[str, str, str | None, str | None]:
    try:
        data: dict[str, Any] = json_body.parse_object(body)
    except json_body.BadJson as exc:
        raise _Bad(str(exc)) from None
    number = normalize_number(data["number"]) if isinstance(data.get("number"), str) else None
    if number is None:
        raise _Bad("number: not a complaint number")
    event = data.get("event")
    if not isinstance(event, str) or event not in ADDRESSEE_EVENTS:  # the type first: a list is unhashable
        raise _Bad(f"event: one of {', '.join(ADDRESSEE_EVENTS)}")
    incoming, text = data.get("incoming_number"), data.get("text")
    if incoming is not None and (not isinstance(incoming, str) or len(incoming) > INCOMING_NUMBER_LIMIT):
        raise _Bad(f"incoming_number: a string of at most {INCOMING_NUMBER_LIMIT} characters")
    if text is not None and (not isinstance(text, str) or len(text) > ANSWER_LIMIT):
        raise _Bad(f"text: a string of at most {ANSWER_LIMIT} characters")
    if event == "registered" and not (incoming or "").strip():
        raise _Bad("incoming_number: required with registered")
    if event in ("answered", "refused") and not (text or "").strip():
        raise _Bad("text: required with answered and refused")
    return number, event, incoming, text
