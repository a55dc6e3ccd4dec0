"""Short keyed tags that prove the bot itself issued a value to one chat (a button's callback data).

A callback button's data comes back from the client as the client sends it: anyone can send any data. A tag
of (value, chat id) under the secret key lets a handler tell a button the bot showed in this chat from one
made up — without storing what was shown. 10 characters of URL-safe base64 are 60 bits: far beyond what one
can guess through a rate-limited chat, and short enough for Telegram's 64-byte callback data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

TAG_LENGTH = 10


def tag(key: bytes, *parts: str | int) -> str:
    message = "\x1f".join(str(part) for part in parts).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:TAG_LENGTH]


def valid(key: bytes, candidate: str, *parts: str | int) -> bool:
    """Whether ``candidate`` is the tag of ``parts`` (compared in constant time)."""
    return hmac.compare_digest(candidate.encode(), tag(key, *parts).encode())
