"""``POST /api/v1/applications/events`` — the status feed over HTTP (contract in DESIGN.md).

``Authorization: Bearer <QYZMET_FEED_TOKEN>``, compared in constant time: 401 on a missing or wrong token.
Without a configured token the route does not exist (404): the feed is off. 400 with
``{"error": "...", "field": "..."}`` on a malformed body or field, 409 with ``{"error": ...}`` on a conflict
with the application, 413 on a body over ``MAX_FEED_BODY``; 200 ``{"result": "created" | "updated" |
"duplicate", "number": ...}``. Nothing changes on any 4xx, nor on 503 (the citizen directory, needed for an SMS
notice, cannot answer now: send the event again). The body is hostile until parsed (handlers/http/json_body.py);
each refusal is one WARNING line naming the field, never its value (handlers/http/refusal.py).
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from bot.core.status_feed import Conflict, InvalidEvent, StatusFeed, parse_event
from bot.gateways.state_systems import StateSystemUnavailable
from handlers.http import json_body
from handlers.http.refusal import refusal, refused

log = logging.getLogger(__name__)

PATH = "/api/v1/applications/events"
MAX_FEED_BODY = 16 * 1024  # one event is a few hundred bytes


def add_routes(app: web.Application, feed: StatusFeed, token: str | None) -> None:
    if not token:
        return  # feed API off: the path answers 404 like any unknown one
    expected = f"Bearer {token}".encode()

    async def events(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").strip().encode()
        if not hmac.compare_digest(given, expected):
            return refusal(request, 401, "unauthorized", headers={"WWW-Authenticate": "Bearer"})
        if request.content_length is not None and request.content_length > MAX_FEED_BODY:
            return refusal(request, 413, "body too large")
        body = await request.content.read(MAX_FEED_BODY + 1)
        if len(body) > MAX_FEED_BODY:
            return refusal(request, 413, "body too large")
        try:
            data = json_body.parse(body)
        except json_body.BadJson as exc:
            refused(request, 400, str(exc))
            return web.json_response({"error": "malformed JSON", "field": None}, status=400)
        try:
            recorded = await feed.record(parse_event(data), "feed")
        except InvalidEvent as exc:
            # The log names the field only: a validator's message may quote the value (an IIN, a number).
            refused(request, 400, f"invalid field {exc.field}")
            return web.json_response({"error": str(exc), "field": exc.field}, status=400)
        except Conflict as exc:
            refused(request, 409, "a conflict with the application")
            return web.json_response({"error": str(exc)}, status=409)
        except StateSystemUnavailable:  # the notice needs the directory (a phone): nothing changed, send it again
            return web.json_response({"error": "the citizen directory is not answering; send the event again"},
                                     status=503, headers={"Retry-After": "30"})
        return web.json_response({"result": recorded.result, "number": recorded.app.number})

    app.router.add_post(PATH, events)
