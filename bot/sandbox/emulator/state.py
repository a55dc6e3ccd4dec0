"""The state both sides of the emulator share, and the two queues between them.

Why one place: the user driver produces updates that the bot reads with getUpdates or that
are posted to its webhook (``_enqueue``), and the Bot API server records what the bot does
for tests to read (``_emit``). Chats, files and counters are touched from both sides; keeping
them, and only them, here lets ``server``, ``webhook``, ``driver`` and ``control`` each stay
about one thing.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import mimetypes
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from .model import (
    CallbackAnswer,
    ChatState,
    EmuUser,
    JSONDict,
    SentMessage,
    StalePress,
    StoredFile,
    TokenBucket,
    WebhookAttempt,
)

# The name the emulator always logged under, before it became a package.
log = logging.getLogger(__package__)


class Signal:
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
        except TimeoutError:
            pass


class EmulatorState:
    """Configuration, chats, pending updates, the log of bot actions and stored files."""

    def __init__(
        self,
        token: str = "123456:TEST",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        global_rate: float | None = None,
        per_chat_rate: float | None = None,
        latency: float = 0.0,
        burst_seconds: float = 1.0,
        per_chat_burst_seconds: float | None = None,
        bot_username: str = "qyzmet_test_bot",
        bot_first_name: str = "Qyzmet",
        strict_html: bool = True,
        webhook_retry_seconds: float = 1.0,
        webhook_timeout: float = 30.0,
    ) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.global_rate = global_rate
        self.per_chat_rate = per_chat_rate
        self.latency = latency
        # Each rate allows a burst of this many seconds' worth (at least one message); per chat, the second one
        # when given (a benchmark compressing time k-fold keeps one message per chat with 1/k).
        self.burst_seconds = burst_seconds
        self.per_chat_burst_seconds = burst_seconds if per_chat_burst_seconds is None else per_chat_burst_seconds
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
            "carried_calls": Counter(),  # per method, carried by webhook answers instead of requests
            "updates": 0,  # updates produced by users
            "sent": 0,  # messages the bot sent (sendMessage/sendDocument/sendPhoto)
            "edited": 0,
            "deleted": 0,
            "rate_limited": 0,  # 429 answers
            "rate_limited_by": Counter(),  # 429 answers by the limit that was hit: "global", "per_chat"
            "errors": Counter(),  # error answers per HTTP code, as strings
        }
        # Webhook delivery (``webhook``): where, with which secret, how many requests at once; how long to wait
        # before posting a refused update again and for an answer (short in tests).
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_max_connections = 40
        self.webhook_retry_seconds = webhook_retry_seconds
        self.webhook_timeout = webhook_timeout
        self.webhook_attempts: list[WebhookAttempt] = []  # every POST, in the order answered
        self._webhook_errors: tuple[int, str] | None = None  # (unix time, message) of the last failed POST
        self._in_flight: dict[tuple[str, int], int] = {}  # queue -> the update_id posted and not answered yet
        self._retry_at: dict[int, float] = {}  # update_id -> loop time of its next post
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_session: aiohttp.ClientSession | None = None
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.menu_buttons: dict[int | None, JSONDict] = {}

        self._chats: dict[int, ChatState] = {}
        self._pending: list[JSONDict] = []  # unconfirmed updates
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(4_300_000_000_000_000_001)
        self._open_queries: dict[str, tuple[int, str]] = {}
        self._allowed_updates: set[str] | None = None
        self._poll_generation = 0
        self._files: dict[str, StoredFile] = {}
        self._file_paths: dict[str, StoredFile] = {}
        self._file_counter = itertools.count(1)
        self._events: list[SentMessage] = []
        self._subscribers: list[Callable[[SentMessage], Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._global_bucket = TokenBucket(global_rate, burst_seconds) if global_rate else None
        self._chat_buckets: dict[int, TokenBucket] = {}
        self._updates_signal = Signal()
        self._webhook_signal = Signal()
        self._outbox_signal = Signal()
        self._closing = False
        self._runner: web.AppRunner | None = None

    def _user_chat(self, user_id: int) -> ChatState:
        """The chat with ``user_id``; created with a default user on first mention."""
        chat = self._chats.get(user_id)
        if chat is None:
            chat = self._chats[user_id] = ChatState(EmuUser(user_id, f"User{user_id}"))
        return chat

    def _enqueue(self, kind: str, payload: JSONDict) -> int:
        """Queue an update for getUpdates or the webhook (unless allowed_updates filters it); its update_id."""
        update_id = next(self._update_ids)
        self.stats["updates"] += 1
        if self._allowed_updates is None or kind in self._allowed_updates:
            self._pending.append({"update_id": update_id, kind: payload})
            self._updates_signal.wake()
            self._webhook_signal.wake()
        return update_id

    def _emit(self, chat: ChatState, sent: SentMessage) -> None:
        """Record one bot action: in the global log (``seq``), the chat's outbox, for subscribers."""
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

    def _bot_sender(self) -> JSONDict:
        """The bot as a message sender: a plain User, without getMe's capability flags."""
        keys = ("id", "is_bot", "first_name", "username")
        return {k: self.bot_user[k] for k in keys}

    def _store_file(
        self, data: bytes, file_name: str | None, mime_type: str | None, folder: str
    ) -> StoredFile:
        """Keep bytes under a new file_id and file_path, as Telegram's file storage would."""
        n = next(self._file_counter)
        suffix = ""
        if file_name and "." in file_name:
            suffix = "." + file_name.rsplit(".", 1)[1]
        elif mime_type:
            suffix = mimetypes.guess_extension(mime_type) or ""
        stored = StoredFile(
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

    def file_data(self, file_id: str) -> bytes | None:
        """The bytes a bot sent under ``file_id`` (a document, a photo), as Telegram's getFile would give them."""
        stored = self._files.get(file_id)
        return stored.data if stored is not None else None

    @staticmethod
    def _document_json(stored: StoredFile) -> JSONDict:
        """The Bot API ``Document`` object of a stored file."""
        document: JSONDict = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                              "file_size": len(stored.data)}
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        return document
