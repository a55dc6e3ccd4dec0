"""Telegram's HTML parse_mode and the entity arithmetic around it.

Why it is strict: the real server rejects broken HTML with "can't parse entities", and an
unescaped user-supplied string is exactly the bug we want a test to catch before a citizen
with a "<" in their name does. Offsets are counted in UTF-16 code units, as Telegram does.
"""

from __future__ import annotations

import re
from typing import NoReturn

from .model import ApiError, JSONDict


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

    def fail(message: str) -> NoReturn:
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
                opened: JSONDict | None = {"type": _HTML_TAGS[name]}
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    fail(f'Tag "span" must have class "tg-spoiler" {at(i)}')
                if name == "a":
                    opened = {"type": "text_link", "url": attrs["href"]} if attrs.get("href") else None
                elif name == "blockquote" and "expandable" in attrs:
                    opened = {"type": "expandable_blockquote"}
                elif name == "tg-emoji":
                    opened = {"type": "custom_emoji", "custom_emoji_id": attrs.get("emoji-id", "")}
                elif name == "code" and stack and stack[-1][0] == "pre":
                    # <pre><code class="language-x"> is one pre entity with a language.
                    language = attrs.get("class", "")
                    if language.startswith("language-") and stack[-1][2] is not None:
                        stack[-1][2]["language"] = language.removeprefix("language-")
                    opened = None
                stack.append((name, pos, opened))
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
