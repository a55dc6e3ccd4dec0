"""Reading and checking Bot API request parameters the way Telegram's server does.

Why it matters: PTB encodes parameters in several ways (query string, urlencoded or multipart
forms, JSON bodies), and the emulator must decode them exactly as the real server would, and
refuse the same malformed values (bad integers, broken keyboards, oversized callback data).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .model import MAX_CALLBACK_DATA_BYTES, ApiError, JSONDict, Upload

# PTB sends every non-string parameter JSON-encoded inside form fields and every
# string parameter as-is. We therefore JSON-decode only parameters whose Bot API
# type is not a plain string; a text of "123456" or "true" must stay a string.
_JSON_PARAMS = frozenset(
    {
        "allow_paid_broadcast", "allow_sending_without_reply", "allowed_updates",
        "cache_time", "caption_entities", "chat_id", "commands", "disable_content_type_detection",
        "disable_notification", "disable_web_page_preview", "drop_pending_updates", "entities",
        "has_spoiler", "limit", "link_preview_options", "max_connections", "menu_button",
        "message_id", "message_ids", "message_thread_id", "offset", "protect_content",
        "reply_markup", "reply_parameters", "reply_to_message_id", "scope",
        "show_alert", "show_caption_above_media", "timeout",
    }
)


def int_param(params: JSONDict, name: str, default: int = 0) -> int:
    """An integer parameter, or the 400 Telegram gives for a malformed one."""
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid {name} specified") from None


def truthy(value: Any) -> bool:
    """A boolean parameter, JSON-decoded (``true``) or as a form or query string sends it."""
    return value is True or value in (1, "true", "True", "1")


async def read_params(request: web.Request) -> tuple[JSONDict, dict[str, Upload]]:
    """Parameters from the query string, urlencoded/multipart forms or a JSON body."""

    def decode(name: str, value: str) -> Any:
        if name in _JSON_PARAMS:
            try:
                return json.loads(value)
            except ValueError:
                return value  # e.g. chat_id "@channel"
        return value

    params: JSONDict = {k: decode(k, v) for k, v in request.query.items()}
    files: dict[str, Upload] = {}
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON body") from None
            if isinstance(body, dict):
                params.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    files[key] = Upload(value.filename, value.file.read(), value.content_type)
                else:
                    params[key] = decode(key, str(value))
    return params, files


def check_markup(markup: Any) -> JSONDict | None:
    """Validate reply_markup like Telegram and return it (None if absent)."""
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    bad_button = "Bad Request: can't parse inline keyboard button: "
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise ApiError(400, bad_button + 'field "inline_keyboard" must be an Array of Arrays')
        for button in (b for row in rows for b in row):
            if not isinstance(button, dict) or not button.get("text"):
                raise ApiError(400, bad_button + "Text must be non-empty")
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not data or len(data.encode()) > MAX_CALLBACK_DATA_BYTES:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            elif len(button) == 1:
                raise ApiError(400, bad_button + "Text buttons are unallowed in the inline keyboard")
    elif "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for button in (b for row in rows for b in row):
            text = button.get("text") if isinstance(button, dict) else button
            if not isinstance(text, str) or not text:
                raise ApiError(400, "Bad Request: keyboard button text must be non-empty")
    elif not (markup.get("remove_keyboard") or markup.get("force_reply")):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    return markup
