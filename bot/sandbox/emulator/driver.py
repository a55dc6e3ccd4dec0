"""The user side: what tests and the demo use to play Telegram users and watch the bot.

Why a separate driver: the Bot API server only answers the bot; a test needs the other
half of the conversation (a user writes, shares a contact, presses a button, blocks the
bot) and a way to read what the bot did, wait for it, and inspect keyboards. Everything
public here is the supported way for tests to reach into the emulator.
"""

from __future__ import annotations

import asyncio
import mimetypes
import time
from collections.abc import Callable
from typing import Any

from .html import command_entities
from .model import ChatState, EmuUser, JSONDict, NoMessageError, SentMessage, StalePress
from .state import EmulatorState

# Sentinel: "the sender's own contact", what a request_contact button shares.
_OWN = object()


class UserDriver(EmulatorState):
    """Plays the users of the emulator and reads what the bot did to their chats."""

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
            chat = self._chats[user_id] = ChatState(EmuUser(user_id, first_name))
        user = chat.user
        user.first_name, user.last_name = first_name, last_name
        user.username, user.language_code = username, language_code
        return user

    def block(self, user_id: int, *, notify: bool = True) -> None:
        """The user blocks the bot: sends answer 403 and the bot gets a my_chat_member update.

        With ``notify=False`` the bot gets no update, as when it missed it (it was down, or
        the update was dropped): it learns of the block only from a 403 when it next sends.
        """
        user = self._user_chat(user_id).user
        if not user.blocked:
            user.blocked = True
            if notify:
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
        contact_user_id: int | object | None = _OWN,
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
        return self.press_button(user_id, message_id, data)[1]

    def press_button(self, user_id: int, message_id: int, data: str) -> tuple[int, str]:
        """Like ``press``, but returns (update_id, callback query id).

        The update_id is what a caller waits on to know the bot has handled the press
        (the test harness and the demo do); it is also what the control API answers.
        Raises LookupError if the bot never sent ``message_id`` to the chat or deleted it.
        """
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

    def drain(self, chat_id: int) -> list[SentMessage]:
        """The bot actions in the chat not consumed yet, at once and without waiting.

        They count as consumed, as if ``next_message`` had returned each. For callers that
        already know the bot has finished answering (e.g. its update was processed) and
        must not spend a ``wait_idle`` quiet period to find out.
        """
        chat = self._user_chat(chat_id)
        new = chat.outbox[chat.cursor:]
        chat.cursor = len(chat.outbox)
        return new

    def history(self, chat_id: int) -> list[SentMessage]:
        """Every bot action in the chat so far, oldest first, consumed or not.

        Sends, edits and deletes alike (see ``SentMessage.kind``); unlike ``messages``,
        which shows the chat as it is now, this is what happened in it.
        """
        return list(self._user_chat(chat_id).outbox)

    def actions(self, after: int = 0) -> list[SentMessage]:
        """Bot actions in all chats whose ``seq`` is greater than ``after``, in the order made.

        ``seq`` numbers the bot's sends, edits and deletes across chats from 1, so a test
        can tell what the bot did before or after something else (see ``last_seq``).
        """
        return self._events[after:]

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the bot's newest action in any chat; 0 before the first."""
        return len(self._events)

    def messages(self, chat_id: int) -> list[SentMessage]:
        """The bot's messages in the chat as they are now (after edits and deletes)."""
        return list(self._user_chat(chat_id).current.values())

    def message(self, chat_id: int, message_id: int) -> SentMessage:
        """The bot's message ``message_id`` in the chat as it is now (after edits).

        Raises LookupError if the bot never sent it to that chat or has deleted it.
        """
        current = self._user_chat(chat_id).current.get(message_id)
        if current is None:
            raise LookupError(f"no bot message {message_id} in chat {chat_id} (never sent or deleted)")
        return current

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
