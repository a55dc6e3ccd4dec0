"""``POST <the path of QYZMET_TELEGRAM_WEBHOOK_URL>`` — where Telegram posts updates in webhook mode.

Contract (Telegram's, and DESIGN.md): a request without the right ``X-Telegram-Bot-Api-Secret-Token`` gets 403
and changes nothing; the update is handled before the answer (handlers/telegram/webhook.py): 200 once handled
(or when it was handled before; its body may carry one method call, handlers/telegram/webhook_reply.py), 500
when its handling failed, so that Telegram posts it again; 400 for a body that is not an update (Telegram never
sends one: nothing to retry). The body is hostile until parsed: JSON as handlers/http/json_body.py takes it,
then an update's shape (handlers/telegram/update_shape.py); each refusal is one WARNING line.
"""

from __future__ import annotations

import hmac
import logging
from urllib.parse import urlsplit

from aiohttp import web

from handlers.http import json_body
from handlers.http.refusal import refusal
from handlers.telegram.webhook import MalformedUpdate, WebhookUpdates

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_path(url: str) -> str:
    """The route of the webhook on the bot's server: the path of its public URL (``https://h/telegram`` →
    ``/telegram``). A proxy in front must pass the path on unchanged."""
    return urlsplit(url).path or "/"


class TelegramWebhook:
    def __init__(self, updates: WebhookUpdates, url: str, secret: str) -> None:
        self._updates = updates
        self.path = webhook_path(url)
        self._secret = secret.encode()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.path, self._receive)

    async def _receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            return refusal(request, 403, "forbidden")  # not the secret token setWebhook gave Telegram
        try:
            data = json_body.parse_object(await request.read())
            handled, call = await self._updates.receive(data)
        except (json_body.BadJson, MalformedUpdate) as exc:  # the reason names a field, never a value
            return refusal(request, 400, f"not an update: {exc}")
        if not handled:
            return web.json_response({"error": "not handled; post it again"}, status=500)
        if call is not None:  # one method call Telegram runs for us (answerCallbackQuery): a request saved
            return web.json_response(call)
        return web.Response(status=200)
