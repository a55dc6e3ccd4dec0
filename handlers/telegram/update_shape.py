"""Is a posted body an update Telegram could have sent? Checked before python-telegram-bot sees it.

``Update.de_json`` checks nothing: a field of the wrong type either makes it raise whatever the constructor
hits (AttributeError, TypeError, OSError for a date beyond the platform's, …) or passes into the object
(``message.text == 5``, a message without a chat), and then a handler fails on it — a 500, a traceback, and
Telegram posting the same body again. So the fields our handlers read, and the ones PTB needs to build the
objects, are checked here by type, and required ones must be there; what is not listed is left to PTB, whose
exceptions the caller catches.

Only the kinds the bot subscribes to (handlers/telegram/app.py ALLOWED_UPDATES) are checked and taken;
``dropped`` says which update Telegram would never send us and is acknowledged without being handled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from handlers.telegram.app import ALLOWED_UPDATES

# Telegram's integers: dates are 32-bit; update, user and chat ids fit 52 significant bits (a wider cap for
# update_id than Telegram uses today: a real update must never be refused for its number).
UPDATE_ID_MAX = 2**52 - 1
DATE_MAX = 2**32 - 1
ID_MAX = 2**52
TEXT_MAX = 4096  # a message's text; a caption is at most 1024
CALLBACK_DATA_MAX = 64  # bytes, Telegram's limit on a button's data
SHORT_MAX = 256  # names, usernames, file ids, language codes


class BadUpdate(ValueError):
    """Not an update Telegram sends; the message names the field, never its value."""


class Kind:
    def check(self, value: Any, where: str) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Int(Kind):
    low: int
    high: int

    def check(self, value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            raise BadUpdate(f"{where}: not an integer in Telegram's range")


@dataclass(frozen=True)
class Str(Kind):
    most: int = SHORT_MAX

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, str) or len(value) > self.most:
            raise BadUpdate(f"{where}: not a string of at most {self.most} characters")


@dataclass(frozen=True)
class Bool(Kind):
    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, bool):
            raise BadUpdate(f"{where}: not a boolean")


@dataclass(frozen=True)
class ListOf(Kind):
    item: Kind
    most: int = 100

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, list) or len(value) > self.most:
            raise BadUpdate(f"{where}: not a list")
        for index, item in enumerate(value):
            self.item.check(item, f"{where}[{index}]")


@dataclass(frozen=True)
class Obj(Kind):
    fields: Mapping[str, Kind]
    required: frozenset[str] = field(default_factory=frozenset)

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise BadUpdate(f"{where}: not an object")
        for name in self.required:
            if name not in value:
                raise BadUpdate(f"{where}.{name}: missing")
        for name, kind in self.fields.items():
            if name in value:
                kind.check(value[name], f"{where}.{name}")


@dataclass(frozen=True)
class Later(Kind):
    """A message inside a message (the one replied to): checked by the message's own shape, once defined."""
    shapes: dict[str, Kind]
    name: str

    def check(self, value: Any, where: str) -> None:
        self.shapes[self.name].check(value, where)


def _obj(required: dict[str, Kind], optional: dict[str, Kind] | None = None) -> Obj:
    return Obj({**required, **(optional or {})}, frozenset(required))


ID = Int(-ID_MAX, ID_MAX)
DATE = Int(0, DATE_MAX)
COUNT = Int(0, 2**31 - 1)

USER = _obj({"id": ID, "is_bot": Bool(), "first_name": Str()},
            {"last_name": Str(), "username": Str(), "language_code": Str(), "is_premium": Bool()})
CHAT = _obj({"id": ID, "type": Str(32)},
            {"title": Str(), "username": Str(), "first_name": Str(), "last_name": Str()})
ENTITY = _obj({"type": Str(32), "offset": COUNT, "length": COUNT},
              {"url": Str(2048), "user": USER, "language": Str(), "custom_emoji_id": Str()})
CONTACT = _obj({"phone_number": Str(32), "first_name": Str()},
               {"last_name": Str(), "user_id": ID, "vcard": Str(2048)})
PHOTO = _obj({"file_id": Str(), "file_unique_id": Str(), "width": COUNT, "height": COUNT},
             {"file_size": Int(0, 2**53)})
DOCUMENT = _obj({"file_id": Str(), "file_unique_id": Str()},
                {"file_name": Str(), "mime_type": Str(), "file_size": Int(0, 2**53), "thumbnail": PHOTO})

_SHAPES: dict[str, Kind] = {}
MESSAGE = _obj({"message_id": COUNT, "date": DATE, "chat": CHAT},
               {"from": USER, "sender_chat": CHAT, "message_thread_id": COUNT, "edit_date": DATE,
                "text": Str(TEXT_MAX), "caption": Str(1024), "entities": ListOf(ENTITY),
                "caption_entities": ListOf(ENTITY), "contact": CONTACT, "document": DOCUMENT,
                "photo": ListOf(PHOTO, 20), "reply_to_message": Later(_SHAPES, "message")})
_SHAPES["message"] = MESSAGE
# A message the bot receives always has its sender (in a group, even one sent on behalf of a chat: Telegram puts
# a stand-in user there), and every handler starts from it; only a message inside one (the one replied to, the
# bot's own under a pressed button) may lack it.
RECEIVED_MESSAGE = Obj(MESSAGE.fields, MESSAGE.required | {"from"})
CALLBACK_QUERY = _obj({"id": Str(), "from": USER, "chat_instance": Str()},
                      {"message": MESSAGE, "inline_message_id": Str(), "data": Str(CALLBACK_DATA_MAX),
                       "game_short_name": Str()})
CHAT_MEMBER = _obj({"user": USER, "status": Str(32)})
CHAT_MEMBER_UPDATED = _obj({"chat": CHAT, "from": USER, "date": DATE, "old_chat_member": CHAT_MEMBER,
                            "new_chat_member": CHAT_MEMBER})

KINDS: dict[str, Kind] = {"message": RECEIVED_MESSAGE, "callback_query": CALLBACK_QUERY,
                          "my_chat_member": CHAT_MEMBER_UPDATED}
assert set(KINDS) == set(ALLOWED_UPDATES), "each kind the bot subscribes to has its shape here"


def check(data: dict[str, Any]) -> str:
    """The kind of the update (``message``, …) once its shape holds; BadUpdate when it does not."""
    Int(0, UPDATE_ID_MAX).check(data.get("update_id"), "update_id")
    kinds = [name for name in data if name != "update_id"]
    if len(kinds) != 1:  # Telegram's: "at most one of the optional parameters can be present"
        raise BadUpdate("an update carries exactly one kind")
    kind = kinds[0]
    shape = KINDS.get(kind)
    if shape is not None:
        shape.check(data[kind], kind)
    return kind


def dropped(kind: str) -> bool:
    """A kind the bot does not subscribe to (setWebhook's allowed_updates): Telegram would not send it."""
    return kind not in KINDS
