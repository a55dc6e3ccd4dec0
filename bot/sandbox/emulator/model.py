"""The emulator's data model: what a chat, a user, a stored file and a bot action are.

Why a module of its own: the HTTP server, the user driver and the control API all read and
write the same records, and tests inspect them (``SentMessage``, ``CallbackAnswer``); keeping
them free of HTTP and of asyncio plumbing makes them easy to read next to the Bot API docs.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any

JSONDict = dict[str, Any]

# Limits of the Bot API that the emulator enforces like Telegram does.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


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
class WebhookAttempt:
    """One POST of an update to the webhook: the HTTP status (None when no answer came) and the error Telegram
    would report in getWebhookInfo's ``last_error_message`` (None after a 2xx)."""

    update_id: int
    url: str
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


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
class ChatState:
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
class StoredFile:
    """A file the emulator keeps (sent by a user or uploaded by the bot), found by id or path."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_name: str | None
    mime_type: str | None
    file_path: str


@dataclass
class Upload:
    """One file part of a multipart request, before it is stored."""

    filename: str | None
    data: bytes
    content_type: str | None


class TokenBucket:
    """Allows ``rate`` messages per second with a burst of ``max(1, rate * burst_seconds)`` (one second's worth
    by default)."""

    def __init__(self, rate: float, burst_seconds: float = 1.0) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate * burst_seconds)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 if one is available now)."""
        self.tokens = min(self.capacity, self.tokens + max(now - self.stamp, 0.0) * self.rate)
        self.stamp = max(now, self.stamp)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1
