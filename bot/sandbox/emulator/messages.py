"""The Bot API methods that change what a chat shows: send, edit and delete messages.

Why they are together: they share Telegram's checks on text (parse_mode, length), on
reply_markup and replies, the per-chat and global rate limits that answer 429, and the
bookkeeping that turns each call into a ``SentMessage`` tests can read.
"""

from __future__ import annotations

import asyncio
import math
import mimetypes
import time
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from .html import parse_html, utf16_len
from .model import (
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    ApiError,
    ChatState,
    JSONDict,
    SentMessage,
    StoredFile,
    TokenBucket,
    Upload,
)
from .params import check_markup, int_param, truthy
from .state import EmulatorState

_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class MessageMethods(EmulatorState):
    """sendMessage, sendDocument, sendPhoto, editMessageText, editMessageReplyMarkup, deleteMessage."""

    # --- shared checks --------------------------------------------------------------------

    def _chat_for(self, params: JSONDict, *, writing: bool) -> ChatState:
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
    def _reply_to(chat: ChatState, params: JSONDict) -> JSONDict | None:
        reply = params.get("reply_parameters")
        if not isinstance(reply, dict):
            reply = {}
        message_id = int_param({"id": reply.get("message_id", params.get("reply_to_message_id"))}, "id")
        if not message_id:
            return None
        target = chat.messages.get(message_id)
        if target is None:
            if truthy(reply.get("allow_sending_without_reply", params.get("allow_sending_without_reply"))):
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        return {k: v for k, v in target.items() if k != "reply_to_message"}

    async def _throttle(self, chat_id: int) -> None:
        """429 if the configured rates are exceeded, then the configured latency."""
        buckets = [("global", self._global_bucket)] if self._global_bucket else []
        if self.per_chat_rate:
            bucket = self._chat_buckets.get(chat_id)
            if bucket is None:
                bucket = self._chat_buckets[chat_id] = TokenBucket(self.per_chat_rate, self.per_chat_burst_seconds)
            buckets.append(("per_chat", bucket))
        now = time.monotonic()
        waits = [(b.wait_time(now), name) for name, b in buckets]
        wait, limit = max(waits, default=(0.0, ""))
        if wait > 0:
            self.stats["rate_limited_by"][limit] += 1
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        for _, bucket in buckets:
            bucket.take()
        if self.latency:
            await asyncio.sleep(self.latency)

    def _new_bot_message(self, chat: ChatState, params: JSONDict, markup: JSONDict | None,
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
        if truthy(params.get("protect_content")):
            message["has_protected_content"] = True
        return message

    def _record_send(self, chat: ChatState, message: JSONDict, params: JSONDict, raw: str | None,
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
            disable_notification=truthy(params.get("disable_notification")),
            reply_to_message_id=(message.get("reply_to_message") or {}).get("message_id"),
            date=message["date"],
        )
        chat.current[sent.message_id] = sent
        self.stats["sent"] += 1
        self._emit(chat, sent)
        return message

    async def _send_message(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        chat = self._chat_for(params, writing=True)
        raw, plain, entities = self._format(params.get("text"), params, "entities")
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(plain) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        markup = check_markup(params.get("reply_markup"))
        reply_to = self._reply_to(chat, params)
        await self._throttle(chat.user.user_id)
        message = self._new_bot_message(chat, params, markup, reply_to)
        message["text"] = plain
        if entities:
            message["entities"] = entities
        return self._record_send(chat, message, params, raw, markup)

    async def _send_media(self, params: JSONDict, files: dict[str, Upload], kind: str) -> JSONDict:
        chat = self._chat_for(params, writing=True)
        stored = self._input_file(params, files, kind)
        caption = params.get("caption")
        raw, plain, entities = self._format(caption, params, "caption_entities")
        if utf16_len(plain) > MAX_CAPTION_LENGTH:
            raise ApiError(400, "Bad Request: message caption is too long")
        markup = check_markup(params.get("reply_markup"))
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

    async def _send_document(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        return await self._send_media(params, files, "document")

    async def _send_photo(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        return await self._send_media(params, files, "photo")

    def _edit_target(self, params: JSONDict) -> tuple[ChatState, JSONDict, SentMessage]:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: inline messages are not supported by the emulator")
        chat = self._chat_for(params, writing=True)
        message_id = int_param(params, "message_id")
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

    async def _apply_edit(self, chat: ChatState, message: JSONDict, old: SentMessage, edited: JSONDict,
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

    async def _edit_message_text(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        chat, message, old = self._edit_target(params)
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        raw, plain, entities = self._format(params.get("text"), params, "entities")
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(plain) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        markup = self._inline_only(check_markup(params.get("reply_markup")))
        old_content = (message["text"], message.get("entities", []), message.get("reply_markup"))
        if (plain, entities, markup) == old_content:
            raise ApiError(400, _NOT_MODIFIED)
        edited = {**message, "text": plain, "entities": entities, "reply_markup": markup}
        if not entities:
            edited.pop("entities")
        return await self._apply_edit(chat, message, old, edited, text=raw, plain_text=plain,
                                      reply_markup=markup, parse_mode=params.get("parse_mode"))

    async def _edit_message_reply_markup(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        chat, message, old = self._edit_target(params)
        markup = self._inline_only(check_markup(params.get("reply_markup")))
        if markup == message.get("reply_markup"):
            raise ApiError(400, _NOT_MODIFIED)
        edited = {**message, "reply_markup": markup}
        return await self._apply_edit(chat, message, old, edited, reply_markup=markup)

    async def _delete_message(self, params: JSONDict, files: dict[str, Upload]) -> bool:
        chat = self._chat_for(params, writing=False)
        message_id = int_param(params, "message_id")
        if chat.messages.pop(message_id, None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        old = chat.current.pop(message_id, None)
        if old is not None:  # the bot deleted one of its own messages
            self.stats["deleted"] += 1
            self._emit(chat, SentMessage(**{**asdict(old), "kind": "delete", "edited": False,
                                            "date": int(time.time()), "seq": 0}))
        return True
    # --- files ----------------------------------------------------------------------------

    def _input_file(self, params: JSONDict, files: dict[str, Upload], name: str) -> StoredFile:
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
