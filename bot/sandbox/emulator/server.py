"""The Bot API over HTTP: the methods the bot calls, with Telegram's checks and errors.

Why so faithful: the point of the emulator is that the *real* python-telegram-bot client
talks to it, so every answer, including "message is not modified", 403 for blocked users,
409 for a second getUpdates and 429 with retry_after, is shaped like the real server's.
Methods are served at ``/bot<token>/<method>``; files the bot downloads at
``/file/bot<token>/<path>``. Sending, editing and deleting messages is in ``messages``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from functools import cached_property
from typing import Any, Self

from aiohttp import web

from .messages import MessageMethods
from .model import MAX_UPLOAD_BYTES, ApiError, CallbackAnswer, JSONDict, Upload
from .params import int_param, read_params, truthy
from .webhook import WebhookSender

_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)
_QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


class BotApiServer(WebhookSender, MessageMethods):
    """Serves the Bot API subset on HTTP: routing, errors, getUpdates and the smaller methods.

    The methods that send, edit and delete messages are in ``MessageMethods``, the webhook's
    in ``WebhookSender``; the state all of them read and write is ``EmulatorState``.
    """

    @cached_property
    def _methods(self) -> dict[str, tuple[str, Callable[..., Any]]]:
        """Bot API method name, lower-cased as Telegram matches it -> (name, handler)."""
        return {
            name.lower(): (name, fn)
            for name, fn in {
                "getMe": self._get_me,
                "logOut": self._ok,
                "close": self._ok,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "getUpdates": self._get_updates,
                "sendMessage": self._send_message,
                "sendDocument": self._send_document,
                "sendPhoto": self._send_photo,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "deleteMessage": self._delete_message,
                "answerCallbackQuery": self._answer_callback_query,
                "sendChatAction": self._send_chat_action,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "setChatMenuButton": self._set_chat_menu_button,
                "getChatMenuButton": self._get_chat_menu_button,
                "getChat": self._get_chat,
                "getFile": self._get_file,
            }.items()
        }

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start serving; with port 0 the OS picks a free port (see ``base_url``)."""
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        self._add_routes(app)
        self._closing = False
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop serving; pending long polls return at once so shutdown is quick."""
        self._closing = True
        self._updates_signal.wake()
        self._outbox_signal.wake()
        await self._stop_webhooks()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in list(self._tasks):
            task.cancel()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder.base_url``; PTB appends the token."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder.base_file_url``; PTB appends the token."""
        return f"http://{self.host}:{self.port}/file/bot"

    def _add_routes(self, app: web.Application) -> None:
        """The Bot API and file download routes; ``BotApiEmulator`` adds the control API."""
        app.router.add_route("*", r"/bot{token:[^/]+}/{method:[^/]+}", self._handle_api)
        app.router.add_get(r"/file/bot{token:[^/]+}/{path:.+}", self._handle_file)

    # --- HTTP plumbing --------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(ApiError(401, "Unauthorized"))
        entry = self._methods.get(request.match_info["method"].lower())
        if entry is None:
            return self._error(ApiError(404, "Not Found: method not found"))
        name, method = entry
        self.stats["requests"][name] += 1
        try:
            params, files = await read_params(request)
            result = await method(params, files)
        except ApiError as err:
            return self._error(err)
        return web.json_response({"ok": True, "result": result})

    async def call_method(self, method: str, params: JSONDict, carried: bool = False) -> Any:
        """A method carried by a webhook answer: run as if requested (counted apart, in ``carried_calls``);
        an unknown method or an error is counted, as Telegram drops it."""
        entry = self._methods.get(method.lower())
        if entry is None:
            self.stats["errors"]["404"] += 1
            return None
        name, fn = entry
        self.stats["carried_calls" if carried else "requests"][name] += 1
        try:
            return await fn(params, {})
        except ApiError as err:
            self._error(err)
            return None

    def _error(self, err: ApiError) -> web.Response:
        self.stats["errors"][str(err.code)] += 1
        if err.code == 429:
            self.stats["rate_limited"] += 1
        return web.json_response(err.to_json(), status=err.code)

    async def _handle_file(self, request: web.Request) -> web.Response:
        stored = self._file_paths.get(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")

    # --- Bot API methods ------------------------------------------------------------------

    async def _ok(self, params: JSONDict, files: dict[str, Upload]) -> bool:
        return True

    async def _get_me(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        return self.bot_user

    async def _get_updates(self, params: JSONDict, files: dict[str, Upload]) -> list[JSONDict]:
        """Long polling with Telegram's offset rules: an offset confirms (drops) all
        updates below it; a negative offset keeps only the last -offset updates."""
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int_param(params, "offset")
        limit = min(max(int_param(params, "limit", 100), 1), 100)
        timeout = max(int_param(params, "timeout"), 0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = set(allowed) or None
        if offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]
        # Like Telegram, a new getUpdates call terminates an earlier one still waiting.
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_signal.wake()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; "
                                    "make sure that only one bot instance is running")
            remaining = deadline - loop.time()
            if self._pending or remaining <= 0 or self._closing:
                return self._pending[:limit]
            await self._updates_signal.wait(remaining)

    async def _answer_callback_query(self, params: JSONDict, files: dict[str, Upload]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_queries:
            raise ApiError(400, _QUERY_INVALID)
        user_id, data = self._open_queries.pop(query_id)
        self.callback_answers.append(
            CallbackAnswer(
                query_id=query_id,
                text=params.get("text"),
                show_alert=truthy(params.get("show_alert")),
                url=params.get("url"),
                cache_time=params.get("cache_time"),
                user_id=user_id,
                data=data,
            )
        )
        return True

    async def _send_chat_action(self, params: JSONDict, files: dict[str, Upload]) -> bool:
        self._chat_for(params, writing=True)
        if params.get("action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    @staticmethod
    def _commands_key(params: JSONDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    async def _set_my_commands(self, params: JSONDict, files: dict[str, Upload]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = commands
        return True

    async def _get_my_commands(self, params: JSONDict, files: dict[str, Upload]) -> list[JSONDict]:
        return self.commands.get(self._commands_key(params), [])

    async def _delete_my_commands(self, params: JSONDict, files: dict[str, Upload]) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    async def _set_chat_menu_button(self, params: JSONDict, files: dict[str, Upload]) -> bool:
        chat_id = self._chat_for(params, writing=False).user.user_id if params.get("chat_id") else None
        self.menu_buttons[chat_id] = params.get("menu_button") or {"type": "default"}
        return True

    async def _get_chat_menu_button(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        chat_id = self._chat_for(params, writing=False).user.user_id if params.get("chat_id") else None
        return self.menu_buttons.get(chat_id) or self.menu_buttons.get(None) or {"type": "commands"}

    async def _get_chat(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        user = self._chat_for(params, writing=False).user
        return {
            **user.api_chat(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {"unlimited_gifts": True, "limited_gifts": True, "unique_gifts": True,
                                    "premium_subscription": True, "gifts_from_channels": True},
        }

    async def _get_file(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.data), "file_path": stored.file_path}
