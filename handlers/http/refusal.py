"""A refused request says so in one WARNING line: which route, the status, and a reason of our own wording.

Never the body, a header or the path as sent: a body may carry an IIN, a phone or a code, a path a share link's
secret, a header a token. The route is named by its pattern (``/s/{token}``), not by the path asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_of(request: web.Request) -> str:
    """The pattern of the route that took the request, or "an unknown path" (the path itself is the client's)."""
    info = request.match_info
    resource = info.route.resource if info is not None and info.route is not None else None
    return resource.canonical if resource is not None else "an unknown path"


def refused(request: web.Request, status: int, reason: str) -> None:
    """Log one WARNING line for a 4xx answer. ``reason`` is ours (a fixed text or a field's name), never input."""
    log.warning("%s %s refused (%d): %s", request.method, route_of(request), status, reason)


def refusal(request: web.Request, status: int, reason: str, headers: dict[str, str] | None = None,
            **fields: Any) -> web.Response:
    """A JSON ``{"error": reason, **fields}`` answer with ``status``, logged by ``refused``."""
    refused(request, status, reason)
    return web.json_response({"error": reason, **fields}, status=status, headers=headers)


@web.middleware
async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The 4xx a route raises instead of returning (a bad signature, a body over the server's size limit) get
    their one WARNING line too; a body aiohttp cannot read (broken chunking, a wrong Content-Length) is a 400
    with a warning, not a 500 with a traceback. Unknown paths (404) and wrong methods (405) are the background
    noise of any public server: not logged."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if 400 <= exc.status < 500 and exc.status not in (404, 405):
            refused(request, exc.status, exc.reason)
        raise
    except HttpProcessingError as exc:
        refused(request, 400, f"an unreadable body ({type(exc).__name__})")
        return web.json_response({"error": "unreadable body"}, status=400)
