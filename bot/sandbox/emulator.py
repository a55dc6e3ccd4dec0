"""A local, in-process Telegram Bot API emulator.

Why it exists: the bot must be testable and demonstrable offline, with the *real*
python-telegram-bot ``Application`` (its HTTP client, its JSON (de)serialisation,
its error mapping), not with mocks that silently agree with whatever the bot
does. So this module serves a small but faithful subset of the Bot API over
HTTP on 127.0.0.1 and lets tests (or a terminal demo) play the Telegram users.

Point PTB at it with::

    emu = BotApiEmulator(token="123456:TEST")
    await emu.start()
    app = (ApplicationBuilder().token(emu.token)
           .base_url(emu.base_url).base_file_url(emu.base_file_url).build())

Semantics follow https://core.telegram.org/bots/api, including the errors the
real server answers with (empty/too long text, bad callback_data, broken HTML,
"message is not modified", blocked users, 429 with retry_after, ...), because
those errors are exactly the bugs we want to find before production does.

Run ``python -m bot.sandbox.emulator --port 8081`` for a standalone server with a
small JSON control API under ``/_emu/`` (used by load generators in another
process).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import itertools
import json
import logging
import math
import mimetypes
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

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

_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)

_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


class ApiError(Exception):
    """A Bot API error answer; raised inside a method and sent as ``{"ok": false, ...}``."""

    def __init__(self, code: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def to_json(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class NoMessageError(asyncio.TimeoutError, AssertionError):
    """Raised by :meth:`BotApiEmulator.next_message` when the bot stays silent.

    It is both a TimeoutError (for ``pytest.raises(asyncio.TimeoutError)``) and an
    AssertionError (so pytest prints it as a failed expectation with context).
    """


@dataclass
class SentMessage:
    """One thing the bot did to a chat: a new message, an edit or a delete.

    ``text`` is the text or caption exactly as the bot sent it (HTML tags included);
    ``plain_text`` is what the user sees after entity parsing. ``reply_markup`` is
    the markup the bot sent (also reply keyboards, which Telegram does not echo).
    """

    message_id: int
    chat_id: int
    text: str | None
    reply_markup: JSONDict | None = None
    protect_content: bool = False
    parse_mode: str | None = None
    document: JSONDict | None = None
    edited: bool = False
    kind: str = "message"  # "message" | "edit" | "delete"
    plain_text: str | None = None
    photo: list[JSONDict] | None = None
    disable_notification: bool = False
    reply_to_message_id: int | None = None
    date: int = 0
    seq: int = 0  # global order of bot actions, used by the control API

    def to_dict(self) -> JSONDict:
        return asdict(self)


@dataclass
class CallbackAnswer:
    """One answerCallbackQuery call, kept so tests can check the toast/alert."""

    query_id: str
    text: str | None
    show_alert: bool
    url: str | None = None
    cache_time: int | None = None
    user_id: int | None = None
    data: str | None = None


@dataclass
class StalePress:
    """A press of callback data that the message no longer shows (old keyboards are real)."""

    user_id: int
    message_id: int
    data: str


@dataclass
class EmuUser:
    """A Telegram user of the emulator; its private chat id equals its user id."""

    user_id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    blocked: bool = False
    deactivated: bool = False

    def api(self) -> JSONDict:
        """The Bot API ``User`` object."""
        data: JSONDict = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data

    def api_chat(self) -> JSONDict:
        """The Bot API ``Chat`` object of the private chat with this user."""
        data: JSONDict = {"id": self.user_id, "type": "private", "first_name": self.first_name}
        if self.last_name is not None:
            data["last_name"] = self.last_name
        if self.username is not None:
            data["username"] = self.username
        return data


@dataclass
class _Chat:
    """State of one private chat: one message_id counter shared by both sides, like Telegram."""

    user: EmuUser
    last_message_id: int = 0
    messages: dict[int, JSONDict] = field(default_factory=dict)  # API Message of both sides
    current: dict[int, SentMessage] = field(default_factory=dict)  # the bot's messages now
    outbox: list[SentMessage] = field(default_factory=list)  # every bot action, in order
    cursor: int = 0  # outbox entries already returned by next_message
    reply_keyboard: JSONDict | None = None

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_name: str | None
    mime_type: str | None
    file_path: str


@dataclass
class _Upload:
    filename: str | None
    data: bytes
    content_type: str | None


class _Signal:
    """Wakes all current waiters at once.

    Unlike asyncio.Condition, ``wake()`` is a plain sync call, so sync helpers such
    as ``block()`` can wake long polls without holding a lock.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except asyncio.TimeoutError:
            pass


class _TokenBucket:
    """Allows ``rate`` messages per second with a burst of ``max(1, rate)``."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 if one is available now)."""
        self.tokens = min(self.capacity, self.tokens + max(now - self.stamp, 0.0) * self.rate)
        self.stamp = max(now, self.stamp)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram counts text and entities in."""
    return len(text.encode("utf-16-le")) // 2


# --- HTML parse_mode ---------------------------------------------------------------------

_TAG_RE = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)"
    r"((?:\s+[a-zA-Z_:-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?)*)\s*>"
)
_ATTR_RE = re.compile(r"([a-zA-Z_:-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?")
_HTML_ENTITY_RE = re.compile(r"&(#[0-9]+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
    "del": "strikethrough", "tg-spoiler": "spoiler", "span": "spoiler", "a": "text_link",
    "code": "code", "pre": "pre", "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}


def _unescape(ref_text: str) -> str:
    """Decode the HTML entities Telegram supports (numeric, &lt; &gt; &amp; &quot;)."""

    def one(m: re.Match[str]) -> str:
        ref = m.group(1)
        if ref.startswith("#x"):
            return chr(int(ref[2:], 16))
        if ref.startswith("#"):
            return chr(int(ref[1:]))
        return _NAMED_ENTITIES[ref]

    return _HTML_ENTITY_RE.sub(one, ref_text)


def parse_html(text: str, strict: bool = True) -> tuple[str, list[JSONDict]]:
    """Parse Telegram-flavoured HTML into (plain text, entities), or raise ApiError 400.

    Only the tags Telegram allows are accepted. Telegram itself tolerates a bare
    ``&`` or ``>``; with ``strict`` (the default) we reject them too, because an
    unescaped user-supplied string is a bug that breaks as soon as it has a ``<``.
    """

    def fail(message: str) -> None:
        raise ApiError(400, f"Bad Request: can't parse entities: {message}")

    def at(index: int) -> str:
        return f"at byte offset {len(text[:index].encode())}"

    out: list[str] = []
    pos = 0  # UTF-16 offset in the plain text
    stack: list[tuple[str, int, JSONDict | None]] = []  # (tag, start offset, entity draft)
    entities: list[JSONDict] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            m = _TAG_RE.match(text, i)
            if m is None:
                fail(f'unexpected "<" {at(i)}; escape it as "&lt;"')
            closing, name, attr_text = m.group(1) == "/", m.group(2).lower(), m.group(3)
            if closing:
                if not stack:
                    fail(f'Unexpected end tag "</{name}>" {at(i)}')
                top, start, entity = stack.pop()
                if top != name:
                    fail(f'Unmatched end tag {at(i)}, expected "</{top}>", found "</{name}>"')
                if entity is not None and pos > start:
                    entities.append({**entity, "offset": start, "length": pos - start})
            else:
                if name not in _HTML_TAGS:
                    fail(f'Unsupported start tag "{name}" {at(i)}')
                attrs = {
                    a.group(1).lower(): _unescape(a.group(2) or a.group(3) or a.group(4) or "")
                    for a in _ATTR_RE.finditer(attr_text)
                }
                entity: JSONDict | None = {"type": _HTML_TAGS[name]}
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    fail(f'Tag "span" must have class "tg-spoiler" {at(i)}')
                if name == "a":
                    entity = {"type": "text_link", "url": attrs["href"]} if attrs.get("href") else None
                elif name == "blockquote" and "expandable" in attrs:
                    entity = {"type": "expandable_blockquote"}
                elif name == "tg-emoji":
                    entity = {"type": "custom_emoji", "custom_emoji_id": attrs.get("emoji-id", "")}
                elif name == "code" and stack and stack[-1][0] == "pre":
                    # <pre><code class="language-x"> is one pre entity with a language.
                    language = attrs.get("class", "")
                    if language.startswith("language-") and stack[-1][2] is not None:
                        stack[-1][2]["language"] = language.removeprefix("language-")
                    entity = None
                stack.append((name, pos, entity))
            i = m.end()
            continue
        if ch == "&":
            m = _HTML_ENTITY_RE.match(text, i)
            if m is not None:
                ch = _unescape(m.group())
                i = m.end() - 1
            elif strict:
                fail(f'unescaped "&" {at(i)}; escape it as "&amp;"')
        elif ch == ">" and strict:
            fail(f'unescaped ">" {at(i)}; escape it as "&gt;"')
        out.append(ch)
        pos += 2 if ord(ch) > 0xFFFF else 1
        i += 1
    if stack:
        fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")


def command_entities(text: str) -> list[JSONDict]:
    """bot_command entities, as the Telegram server adds them to incoming text."""
    return [
        {"type": "bot_command", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group())}
        for m in _COMMAND_RE.finditer(text)
    ]


def _int_param(params: JSONDict, name: str, default: int = 0) -> int:
    """An integer parameter, or the 400 Telegram gives for a malformed one."""
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid {name} specified") from None


def _truthy(value: Any) -> bool:
    return value is True or value in (1, "true", "True", "1")


# Sentinel: "the sender's own contact", what a request_contact button shares.
_OWN = object()


class BotApiEmulator:
    """Serves the Bot API subset on HTTP and plays the users. See the module docstring."""

    def __init__(
        self,
        token: str = "123456:TEST",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        global_rate: float | None = None,
        per_chat_rate: float | None = None,
        latency: float = 0.0,
        bot_username: str = "qyzmet_test_bot",
        bot_first_name: str = "Qyzmet",
        strict_html: bool = True,
    ) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.global_rate = global_rate
        self.per_chat_rate = per_chat_rate
        self.latency = latency
        self.strict_html = strict_html
        bot_id = token.split(":", 1)[0]
        self.bot_user: JSONDict = {
            "id": int(bot_id) if bot_id.isdigit() else 1,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.callback_answers: list[CallbackAnswer] = []
        self.stale_presses: list[StalePress] = []
        self.stats: JSONDict = {
            "requests": Counter(),  # per Bot API method
            "updates": 0,  # updates produced by users
            "sent": 0,  # messages the bot sent (sendMessage/sendDocument/sendPhoto)
            "edited": 0,
            "deleted": 0,
            "rate_limited": 0,  # 429 answers
            "errors": Counter(),  # error answers per HTTP code, as strings
        }
        self.webhook_url = ""
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.menu_buttons: dict[int | None, JSONDict] = {}

        self._chats: dict[int, _Chat] = {}
        self._pending: list[JSONDict] = []  # unconfirmed updates
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(4_300_000_000_000_000_001)
        self._open_queries: dict[str, tuple[int, str]] = {}
        self._allowed_updates: set[str] | None = None
        self._poll_generation = 0
        self._files: dict[str, _StoredFile] = {}
        self._file_paths: dict[str, _StoredFile] = {}
        self._file_counter = itertools.count(1)
        self._events: list[SentMessage] = []
        self._subscribers: list[Callable[[SentMessage], Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._global_bucket = _TokenBucket(global_rate) if global_rate else None
        self._chat_buckets: dict[int, _TokenBucket] = {}
        self._updates_signal = _Signal()
        self._outbox_signal = _Signal()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, tuple[str, Callable[..., Any]]] = {
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
        app.router.add_route("*", r"/bot{token:[^/]+}/{method:[^/]+}", self._handle_api)
        app.router.add_get(r"/file/bot{token:[^/]+}/{path:.+}", self._handle_file)
        app.router.add_post("/_emu/send", self._control_send)
        app.router.add_get("/_emu/messages", self._control_messages)
        app.router.add_get("/_emu/stats", self._control_stats)
        app.router.add_post("/_emu/users", self._control_users)
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
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in list(self._tasks):
            task.cancel()

    async def __aenter__(self) -> BotApiEmulator:
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

    # --- user side ------------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> EmuUser:
        """Create (or update) a user; its private chat has id == user_id."""
        chat = self._chats.get(user_id)
        if chat is None:
            chat = self._chats[user_id] = _Chat(EmuUser(user_id, first_name))
        user = chat.user
        user.first_name, user.last_name = first_name, last_name
        user.username, user.language_code = username, language_code
        return user

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends answer 403 and the bot gets a my_chat_member update."""
        user = self._user_chat(user_id).user
        if not user.blocked:
            user.blocked = True
            self._member_update(user, "member", "kicked")

    def unblock(self, user_id: int) -> None:
        """The user unblocks the bot (Telegram clients do this on "Restart")."""
        user = self._user_chat(user_id).user
        if user.blocked:
            user.blocked = False
            self._member_update(user, "kicked", "member")

    def deactivate(self, user_id: int) -> None:
        """The account is deleted: sends answer 403 "user is deactivated"."""
        self._user_chat(user_id).user.deactivated = True

    async def send_text(self, user_id: int, text: str) -> int:
        """The user writes ``text``; returns the update_id. /commands get bot_command entities."""
        message: JSONDict = {"text": text}
        entities = command_entities(text)
        if entities:
            message["entities"] = entities
        return self._user_message(user_id, message)

    async def send_command(self, user_id: int, command: str) -> int:
        """The user sends a command such as "/start" or "/start payload"."""
        if not command.startswith("/"):
            command = "/" + command
        return await self.send_text(user_id, command)

    async def send_contact(
        self,
        user_id: int,
        phone_number: str,
        contact_user_id: int | None | object = _OWN,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> int:
        """The user shares a contact. By default their own (what request_contact sends);
        pass ``contact_user_id=None`` for a contact without a Telegram account or another id."""
        user = self._user_chat(user_id).user
        contact: JSONDict = {"phone_number": phone_number, "first_name": first_name or user.first_name}
        if last_name is not None:
            contact["last_name"] = last_name
        contact_id = user_id if contact_user_id is _OWN else contact_user_id
        if contact_id is not None:
            contact["user_id"] = contact_id
        return self._user_message(user_id, {"contact": contact})

    async def send_photo(
        self, user_id: int, caption: str | None = None, data: bytes = b"\xff\xd8photo"
    ) -> int:
        """The user sends a photo (two PhotoSize entries, no text)."""
        big = self._store_file(data, None, "image/jpeg", "photos")
        small = self._store_file(data[:10], None, "image/jpeg", "photos")
        message: JSONDict = {
            "photo": [
                {"file_id": small.file_id, "file_unique_id": small.file_unique_id,
                 "width": 90, "height": 90, "file_size": len(small.data)},
                {"file_id": big.file_id, "file_unique_id": big.file_unique_id,
                 "width": 1280, "height": 960, "file_size": len(big.data)},
            ]
        }
        if caption is not None:
            message["caption"] = caption
        return self._user_message(user_id, message)

    async def send_document(
        self,
        user_id: int,
        file_name: str = "document.pdf",
        data: bytes = b"%PDF-1.4 emulator",
        mime_type: str | None = None,
        caption: str | None = None,
    ) -> int:
        """The user sends a file; the bot can getFile/download it."""
        mime_type = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = self._store_file(data, file_name, mime_type, "documents")
        message: JSONDict = {"document": self._document_json(stored)}
        if caption is not None:
            message["caption"] = caption
        return self._user_message(user_id, message)

    async def send_sticker(self, user_id: int, emoji: str = "👍") -> int:
        """The user sends a sticker."""
        stored = self._store_file(b"RIFFwebp", None, "image/webp", "stickers")
        sticker = {
            "file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "type": "regular",
            "width": 512, "height": 512, "is_animated": False, "is_video": False, "emoji": emoji,
        }
        return self._user_message(user_id, {"sticker": sticker})

    async def press(self, user_id: int, message_id: int, data: str) -> str:
        """The user presses an inline button; returns the callback query id.

        Data not on the message's current keyboard is still delivered (users do press
        buttons of old keyboards) and recorded in ``stale_presses``.
        """
        return self._press(user_id, message_id, data)[1]

    async def next_message(self, chat_id: int, timeout: float = 5.0) -> SentMessage:
        """Wait for the next bot action (send/edit/delete) in the chat not yet consumed."""
        chat = self._user_chat(chat_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while chat.cursor >= len(chat.outbox):
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closing:
                recent = [f"#{m.message_id} {m.kind}: {m.text!r}" for m in chat.outbox[-5:]]
                raise NoMessageError(
                    f"bot sent nothing new to chat {chat_id} within {timeout}s; "
                    f"last bot actions there: {recent or 'none'}"
                )
            await self._outbox_signal.wait(remaining)
        chat.cursor += 1
        return chat.outbox[chat.cursor - 1]

    async def wait_idle(self, chat_id: int, quiet: float = 0.3, timeout: float = 10.0) -> list[SentMessage]:
        """Collect bot actions in the chat until none arrives for ``quiet`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        received: list[SentMessage] = []
        while loop.time() < deadline:
            try:
                received.append(await self.next_message(chat_id, timeout=quiet))
            except NoMessageError:
                break
        return received

    def messages(self, chat_id: int) -> list[SentMessage]:
        """The bot's messages in the chat as they are now (after edits and deletes)."""
        return list(self._user_chat(chat_id).current.values())

    def current_keyboard(self, chat_id: int) -> JSONDict | None:
        """The reply keyboard the user currently sees (last ReplyKeyboardMarkup not removed)."""
        return self._user_chat(chat_id).reply_keyboard

    def unanswered_callbacks(self) -> list[str]:
        """Callback query ids the bot never answered (the user sees a spinner)."""
        return list(self._open_queries)

    @staticmethod
    def inline_buttons(msg: SentMessage | JSONDict | None) -> list[tuple[str, str]]:
        """(text, callback_data) of an inline keyboard, row by row; url buttons give ""."""
        markup = msg.reply_markup if isinstance(msg, SentMessage) else msg
        rows = (markup or {}).get("inline_keyboard") or []
        return [(b.get("text", ""), b.get("callback_data", "")) for row in rows for b in row]

    @staticmethod
    def reply_buttons(msg: SentMessage | JSONDict | None) -> list[JSONDict]:
        """Reply-keyboard buttons, flattened to {"text", "request_contact"}."""
        markup = msg.reply_markup if isinstance(msg, SentMessage) else msg
        rows = (markup or {}).get("keyboard") or []
        buttons = [b if isinstance(b, dict) else {"text": b} for row in rows for b in row]
        return [
            {"text": b.get("text", ""), "request_contact": bool(b.get("request_contact"))}
            for b in buttons
        ]

    def subscribe(self, callback: Callable[[SentMessage], Any]) -> None:
        """Call ``callback(SentMessage)`` (sync or async) on every bot send/edit/delete."""
        self._subscribers.append(callback)

    # --- user-side internals --------------------------------------------------------------

    def _user_chat(self, user_id: int) -> _Chat:
        chat = self._chats.get(user_id)
        if chat is None:
            chat = self._chats[user_id] = _Chat(EmuUser(user_id, f"User{user_id}"))
        return chat

    def _reactivate(self, user: EmuUser) -> None:
        if user.deactivated:
            raise RuntimeError(f"user {user.user_id} is deactivated and cannot write")
        self.unblock(user.user_id)

    def _user_message(self, user_id: int, content: JSONDict) -> int:
        chat = self._user_chat(user_id)
        self._reactivate(chat.user)
        message = {
            "message_id": chat.next_message_id(),
            "from": chat.user.api(),
            "chat": chat.user.api_chat(),
            "date": int(time.time()),
            **content,
        }
        chat.messages[message["message_id"]] = message
        return self._enqueue("message", message)

    def _press(self, user_id: int, message_id: int, data: str) -> tuple[int, str]:
        """(update_id, callback query id) of a button press; see ``press``."""
        chat = self._user_chat(user_id)
        current = chat.current.get(message_id)
        if current is None:
            raise LookupError(f"no bot message {message_id} in chat {user_id} (never sent or deleted)")
        if data not in [d for _, d in self.inline_buttons(current)]:
            self.stale_presses.append(StalePress(user_id, message_id, data))
        self._reactivate(chat.user)
        query_id = str(next(self._query_ids))
        self._open_queries[query_id] = (user_id, data)
        update_id = self._enqueue(
            "callback_query",
            {
                "id": query_id,
                "from": chat.user.api(),
                "message": chat.messages[message_id],
                "chat_instance": str(-abs(hash((self.token, user_id)))),
                "data": data,
            },
        )
        return update_id, query_id

    def _member_update(self, user: EmuUser, old: str, new: str) -> None:
        def member(status: str) -> JSONDict:
            data: JSONDict = {"status": status, "user": self._bot_sender()}
            if status == "kicked":
                data["until_date"] = 0
            return data

        self._enqueue(
            "my_chat_member",
            {"chat": user.api_chat(), "from": user.api(), "date": int(time.time()),
             "old_chat_member": member(old), "new_chat_member": member(new)},
        )

    def _enqueue(self, kind: str, payload: JSONDict) -> int:
        update_id = next(self._update_ids)
        self.stats["updates"] += 1
        if self._allowed_updates is None or kind in self._allowed_updates:
            self._pending.append({"update_id": update_id, kind: payload})
            self._updates_signal.wake()
        return update_id

    def _emit(self, chat: _Chat, sent: SentMessage) -> None:
        sent.seq = len(self._events) + 1
        self._events.append(sent)
        chat.outbox.append(sent)
        self._outbox_signal.wake()
        for callback in self._subscribers:
            try:
                result = callback(sent)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception:  # a broken printer must not break the bot under test
                log.exception("emulator subscriber failed")

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
            params, files = await self._read_params(request)
            result = await method(params, files)
        except ApiError as err:
            return self._error(err)
        return web.json_response({"ok": True, "result": result})

    def _error(self, err: ApiError) -> web.Response:
        self.stats["errors"][str(err.code)] += 1
        if err.code == 429:
            self.stats["rate_limited"] += 1
        return web.json_response(err.to_json(), status=err.code)

    @staticmethod
    async def _read_params(request: web.Request) -> tuple[JSONDict, dict[str, _Upload]]:
        """Parameters from the query string, urlencoded/multipart forms or a JSON body."""

        def decode(name: str, value: str) -> Any:
            if name in _JSON_PARAMS:
                try:
                    return json.loads(value)
                except ValueError:
                    return value  # e.g. chat_id "@channel"
            return value

        params: JSONDict = {k: decode(k, v) for k, v in request.query.items()}
        files: dict[str, _Upload] = {}
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
                        files[key] = _Upload(value.filename, value.file.read(), value.content_type)
                    else:
                        params[key] = decode(key, str(value))
        return params, files

    async def _handle_file(self, request: web.Request) -> web.Response:
        stored = self._file_paths.get(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")

    # --- shared checks --------------------------------------------------------------------

    def _chat_for(self, params: JSONDict, *, writing: bool) -> _Chat:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            chat = self._chats.get(int(raw))
        except (TypeError, ValueError):
            chat = None
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        if writing and chat.user.deactivated:
            raise ApiError(403, "Forbidden: user is deactivated")
        if writing and chat.user.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _format(self, text: Any, params: JSONDict, entities_key: str) -> tuple[str, str, list[JSONDict]]:
        """(raw text, plain text, entities) after parse_mode, like Telegram's entity parsing."""
        raw = "" if text is None else str(text)
        parse_mode = params.get("parse_mode")
        if parse_mode and str(parse_mode).lower() == "html":
            plain, entities = parse_html(raw, strict=self.strict_html)
        elif parse_mode and str(parse_mode).lower() not in ("markdown", "markdownv2"):
            raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode}")
        else:
            # Markdown modes are passed through unparsed (the bot uses HTML).
            plain, entities = raw, list(params.get(entities_key) or [])
        return raw, plain, entities

    @staticmethod
    def _check_markup(markup: Any) -> JSONDict | None:
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

    @staticmethod
    def _reply_to(chat: _Chat, params: JSONDict) -> JSONDict | None:
        reply = params.get("reply_parameters")
        if not isinstance(reply, dict):
            reply = {}
        message_id = _int_param({"id": reply.get("message_id", params.get("reply_to_message_id"))}, "id")
        if not message_id:
            return None
        target = chat.messages.get(message_id)
        if target is None:
            if _truthy(reply.get("allow_sending_without_reply", params.get("allow_sending_without_reply"))):
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        return {k: v for k, v in target.items() if k != "reply_to_message"}

    async def _throttle(self, chat_id: int) -> None:
        """429 if the configured rates are exceeded, then the configured latency."""
        buckets = [self._global_bucket] if self._global_bucket else []
        if self.per_chat_rate:
            bucket = self._chat_buckets.get(chat_id)
            if bucket is None:
                bucket = self._chat_buckets[chat_id] = _TokenBucket(self.per_chat_rate)
            buckets.append(bucket)
        now = time.monotonic()
        wait = max((b.wait_time(now) for b in buckets), default=0.0)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        for bucket in buckets:
            bucket.take()
        if self.latency:
            await asyncio.sleep(self.latency)

    def _new_bot_message(self, chat: _Chat, params: JSONDict, markup: JSONDict | None,
                         reply_to: JSONDict | None) -> JSONDict:
        message: JSONDict = {
            "message_id": chat.next_message_id(),
            "from": self._bot_sender(),
            "chat": chat.user.api_chat(),
            "date": int(time.time()),
        }
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup  # Telegram echoes only inline keyboards
        if _truthy(params.get("protect_content")):
            message["has_protected_content"] = True
        return message

    def _bot_sender(self) -> JSONDict:
        """The bot as a message sender: a plain User, without getMe's capability flags."""
        keys = ("id", "is_bot", "first_name", "username")
        return {k: self.bot_user[k] for k in keys}

    def _record_send(self, chat: _Chat, message: JSONDict, params: JSONDict, raw: str | None,
                     markup: JSONDict | None) -> JSONDict:
        chat.messages[message["message_id"]] = message
        if markup is not None and "keyboard" in markup:
            chat.reply_keyboard = markup
        elif markup is not None and markup.get("remove_keyboard"):
            chat.reply_keyboard = None
        sent = SentMessage(
            message_id=message["message_id"],
            chat_id=chat.user.user_id,
            text=raw,
            reply_markup=markup,
            protect_content=bool(message.get("has_protected_content")),
            parse_mode=params.get("parse_mode"),
            document=message.get("document"),
            plain_text=message.get("text", message.get("caption")),
            photo=message.get("photo"),
            disable_notification=_truthy(params.get("disable_notification")),
            reply_to_message_id=(message.get("reply_to_message") or {}).get("message_id"),
            date=message["date"],
        )
        chat.current[sent.message_id] = sent
        self.stats["sent"] += 1
        self._emit(chat, sent)
        return message

    # --- Bot API methods ------------------------------------------------------------------

    async def _ok(self, params: JSONDict, files: dict[str, _Upload]) -> bool:
        return True

    async def _get_me(self, params: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        return self.bot_user

    async def _set_webhook(self, params: JSONDict, files: dict[str, _Upload]) -> bool:
        self.webhook_url = str(params.get("url") or "")
        if _truthy(params.get("drop_pending_updates")):
            self._pending.clear()
        return True

    async def _delete_webhook(self, params: JSONDict, files: dict[str, _Upload]) -> bool:
        self.webhook_url = ""
        if _truthy(params.get("drop_pending_updates")):
            self._pending.clear()
        return True

    async def _get_webhook_info(self, params: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        return {"url": self.webhook_url, "has_custom_certificate": False,
                "pending_update_count": len(self._pending)}

    async def _get_updates(self, params: JSONDict, files: dict[str, _Upload]) -> list[JSONDict]:
        """Long polling with Telegram's offset rules: an offset confirms (drops) all
        updates below it; a negative offset keeps only the last -offset updates."""
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = _int_param(params, "offset")
        limit = min(max(_int_param(params, "limit", 100), 1), 100)
        timeout = max(_int_param(params, "timeout"), 0)
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

    async def _send_message(self, params: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        chat = self._chat_for(params, writing=True)
        raw, plain, entities = self._format(params.get("text"), params, "entities")
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(plain) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        markup = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_to(chat, params)
        await self._throttle(chat.user.user_id)
        message = self._new_bot_message(chat, params, markup, reply_to)
        message["text"] = plain
        if entities:
            message["entities"] = entities
        return self._record_send(chat, message, params, raw, markup)

    async def _send_media(self, params: JSONDict, files: dict[str, _Upload], kind: str) -> JSONDict:
        chat = self._chat_for(params, writing=True)
        stored = self._input_file(params, files, kind)
        caption = params.get("caption")
        raw, plain, entities = self._format(caption, params, "caption_entities")
        if utf16_len(plain) > MAX_CAPTION_LENGTH:
            raise ApiError(400, "Bad Request: message caption is too long")
        markup = self._check_markup(params.get("reply_markup"))
        reply_to = self._reply_to(chat, params)
        await self._throttle(chat.user.user_id)
        message = self._new_bot_message(chat, params, markup, reply_to)
        if kind == "document":
            message["document"] = self._document_json(stored)
        else:
            message["photo"] = [
                {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                 "width": 1280, "height": 960, "file_size": len(stored.data)},
            ]
        if plain:
            message["caption"] = plain
            if entities:
                message["caption_entities"] = entities
        return self._record_send(chat, message, params, raw if caption is not None else None, markup)

    async def _send_document(self, params: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        return await self._send_media(params, files, "document")

    async def _send_photo(self, params: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        return await self._send_media(params, files, "photo")

    def _edit_target(self, params: JSONDict) -> tuple[_Chat, JSONDict, SentMessage]:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: inline messages are not supported by the emulator")
        chat = self._chat_for(params, writing=True)
        message_id = _int_param(params, "message_id")
        if not message_id:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        if message_id not in chat.messages:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message_id not in chat.current:
            raise ApiError(400, "Bad Request: message can't be edited")
        return chat, chat.messages[message_id], chat.current[message_id]

    @staticmethod
    def _inline_only(markup: JSONDict | None) -> JSONDict | None:
        if markup is not None and "inline_keyboard" not in markup:
            raise ApiError(400, "Bad Request: inline keyboard expected")
        return markup

    async def _apply_edit(self, chat: _Chat, message: JSONDict, old: SentMessage, edited: JSONDict,
                          **changes: Any) -> JSONDict:
        await self._throttle(chat.user.user_id)
        edited["edit_date"] = int(time.time())
        if edited.get("reply_markup") is None:
            edited.pop("reply_markup", None)
        chat.messages[message["message_id"]] = edited
        sent = SentMessage(**{**asdict(old), **changes, "edited": True, "kind": "edit",
                              "date": edited["edit_date"], "seq": 0})
        chat.current[sent.message_id] = sent
        self.stats["edited"] += 1
        self._emit(chat, sent)
        return edited

    async def _edit_message_text(self, params: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        chat, message, old = self._edit_target(params)
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        raw, plain, entities = self._format(params.get("text"), params, "entities")
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(plain) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        markup = self._inline_only(self._check_markup(params.get("reply_markup")))
        old_content = (message["text"], message.get("entities", []), message.get("reply_markup"))
        if (plain, entities, markup) == old_content:
            raise ApiError(400, _NOT_MODIFIED)
        edited = {**message, "text": plain, "entities": entities, "reply_markup": markup}
        if not entities:
            edited.pop("entities")
        return await self._apply_edit(chat, message, old, edited, text=raw, plain_text=plain,
                                      reply_markup=markup, parse_mode=params.get("parse_mode"))

    async def _edit_message_reply_markup(self, params: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        chat, message, old = self._edit_target(params)
        markup = self._inline_only(self._check_markup(params.get("reply_markup")))
        if markup == message.get("reply_markup"):
            raise ApiError(400, _NOT_MODIFIED)
        edited = {**message, "reply_markup": markup}
        return await self._apply_edit(chat, message, old, edited, reply_markup=markup)

    async def _delete_message(self, params: JSONDict, files: dict[str, _Upload]) -> bool:
        chat = self._chat_for(params, writing=False)
        message_id = _int_param(params, "message_id")
        if chat.messages.pop(message_id, None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        old = chat.current.pop(message_id, None)
        if old is not None:  # the bot deleted one of its own messages
            self.stats["deleted"] += 1
            self._emit(chat, SentMessage(**{**asdict(old), "kind": "delete", "edited": False,
                                            "date": int(time.time()), "seq": 0}))
        return True

    async def _answer_callback_query(self, params: JSONDict, files: dict[str, _Upload]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_queries:
            raise ApiError(400, _QUERY_INVALID)
        user_id, data = self._open_queries.pop(query_id)
        self.callback_answers.append(
            CallbackAnswer(
                query_id=query_id,
                text=params.get("text"),
                show_alert=_truthy(params.get("show_alert")),
                url=params.get("url"),
                cache_time=params.get("cache_time"),
                user_id=user_id,
                data=data,
            )
        )
        return True

    async def _send_chat_action(self, params: JSONDict, files: dict[str, _Upload]) -> bool:
        self._chat_for(params, writing=True)
        if params.get("action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    @staticmethod
    def _commands_key(params: JSONDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    async def _set_my_commands(self, params: JSONDict, files: dict[str, _Upload]) -> bool:
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

    async def _get_my_commands(self, params: JSONDict, files: dict[str, _Upload]) -> list[JSONDict]:
        return self.commands.get(self._commands_key(params), [])

    async def _delete_my_commands(self, params: JSONDict, files: dict[str, _Upload]) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    async def _set_chat_menu_button(self, params: JSONDict, files: dict[str, _Upload]) -> bool:
        chat_id = self._chat_for(params, writing=False).user.user_id if params.get("chat_id") else None
        self.menu_buttons[chat_id] = params.get("menu_button") or {"type": "default"}
        return True

    async def _get_chat_menu_button(self, params: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        chat_id = self._chat_for(params, writing=False).user.user_id if params.get("chat_id") else None
        return self.menu_buttons.get(chat_id) or self.menu_buttons.get(None) or {"type": "commands"}

    async def _get_chat(self, params: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        user = self._chat_for(params, writing=False).user
        return {
            **user.api_chat(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {"unlimited_gifts": True, "limited_gifts": True, "unique_gifts": True,
                                    "premium_subscription": True, "gifts_from_channels": True},
        }

    async def _get_file(self, params: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.data), "file_path": stored.file_path}

    # --- files ----------------------------------------------------------------------------

    def _store_file(
        self, data: bytes, file_name: str | None, mime_type: str | None, folder: str
    ) -> _StoredFile:
        n = next(self._file_counter)
        suffix = ""
        if file_name and "." in file_name:
            suffix = "." + file_name.rsplit(".", 1)[1]
        elif mime_type:
            suffix = mimetypes.guess_extension(mime_type) or ""
        stored = _StoredFile(
            file_id=f"BQACAgIAAxkBAAI{n:08d}emu",
            file_unique_id=f"AgAD{n:06d}",
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            file_path=f"{folder}/file_{n}{suffix}",
        )
        self._files[stored.file_id] = stored
        self._file_paths[stored.file_path] = stored
        return stored

    @staticmethod
    def _document_json(stored: _StoredFile) -> JSONDict:
        document: JSONDict = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                              "file_size": len(stored.data)}
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        return document

    def _input_file(self, params: JSONDict, files: dict[str, _Upload], name: str) -> _StoredFile:
        """An uploaded part, an attach:// reference, a known file_id or an HTTP URL."""
        value = params.get(name)
        upload = files.get(name)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
        folder = "documents" if name == "document" else "photos"
        if upload is not None:
            if not upload.data:
                raise ApiError(400, "Bad Request: file must be non-empty")
            mime = upload.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(upload.filename or "")[0] or mime
            return self._store_file(upload.data, upload.filename, mime, folder)
        if not value:
            raise ApiError(400, f"Bad Request: there is no {name} in the request")
        if value in self._files:
            return self._files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            file_name = urlsplit(value).path.rsplit("/", 1)[-1] or None
            return self._store_file(b"", file_name, mimetypes.guess_type(file_name or "")[0], folder)
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    # --- control API for other processes --------------------------------------------------

    async def _control_send(self, request: web.Request) -> web.Response:
        """POST /_emu/send: act as a user; users are created on first use."""
        try:
            body = await request.json()
            user_id = int(body["user_id"])
            if user_id not in self._chats:
                self.add_user(user_id, str(body.get("first_name") or f"User{user_id}"),
                              language_code=body.get("language_code"))
            if "callback" in body:
                callback = body["callback"]
                update_id, query_id = self._press(user_id, int(callback["message_id"]), str(callback["data"]))
                return web.json_response({"update_id": update_id, "callback_query_id": query_id})
            if "contact" in body:
                contact = body["contact"]
                update_id = await self.send_contact(user_id, str(contact["phone_number"]),
                                                    contact_user_id=contact.get("user_id"),
                                                    first_name=contact.get("first_name"))
            else:
                update_id = await self.send_text(user_id, str(body["text"]))
        except (LookupError, ValueError, TypeError, RuntimeError) as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response({"update_id": update_id})

    async def _control_messages(self, request: web.Request) -> web.Response:
        """GET /_emu/messages?chat_id=&after=<seq>&timeout=<s>: long-poll bot actions."""
        chat_id = request.query.get("chat_id")
        after = int(request.query.get("after", 0))
        timeout = float(request.query.get("timeout", 0))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = [m.to_dict() for m in self._events[after:]
                     if chat_id is None or m.chat_id == int(chat_id)]
            remaining = deadline - loop.time()
            if found or remaining <= 0 or self._closing:
                return web.json_response({"messages": found, "last_seq": len(self._events)})
            await self._outbox_signal.wait(remaining)

    async def _control_users(self, request: web.Request) -> web.Response:
        """POST /_emu/users {"first": id, "count": n, "language_code": …}: many users at once (benchmarks)."""
        body = await request.json()
        first, count = int(body["first"]), int(body["count"])
        for user_id in range(first, first + count):
            if user_id not in self._chats:
                self.add_user(user_id, f"User{user_id}", language_code=body.get("language_code"))
        return web.json_response({"users": len(self._chats)})

    async def _control_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats)


def main(argv: list[str] | None = None) -> None:
    """Run the emulator as a standalone server (for benchmarks in another process)."""
    parser = argparse.ArgumentParser(description="Local Telegram Bot API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123456:TEST")
    parser.add_argument("--global-rate", type=float, default=None, help="messages/s across all chats")
    parser.add_argument("--per-chat-rate", type=float, default=None, help="messages/s per chat")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each send")
    args = parser.parse_args(argv)

    async def serve() -> None:
        emu = BotApiEmulator(args.token, args.host, args.port, global_rate=args.global_rate,
                             per_chat_rate=args.per_chat_rate, latency=args.latency)
        await emu.start()
        print(f"Bot API emulator: base_url={emu.base_url} token={emu.token} "
              f"control=http://{emu.host}:{emu.port}/_emu/", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await emu.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
