"""Reading a posted JSON body as hostile until parsed: what ``json.loads`` lets through is more than any of our
senders ever writes, and each excess used to surface deep inside as a 500 with a traceback.

- NaN, Infinity and 1e999: Python's parser accepts them, no other JSON reader does, and a database refuses them;
- integers beyond 64 bits (signed): SQLite and PostgreSQL cannot store them (OverflowError at the insert), and
  a 5000-digit one is refused by ``int`` itself after a quadratic parse;
- nesting deeper than ``MAX_DEPTH``: ``json.loads`` recurses once per level (RecursionError past ~1000), and
  any code walking the value recurses again;
- a NUL or a lone surrogate in any string or key: PostgreSQL's text cannot hold a NUL, and a lone surrogate
  cannot be encoded back to UTF-8 (for the database, a log line, a reply);
- a body that is not UTF-8.

Each is ``BadJson`` (a ValueError) whose message says what, never the value (it may be an IIN or a phone).
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 20  # a Telegram update with a replied-to message is about 6 deep; our other bodies are flat
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_MAX_INT_DIGITS = 20  # 2**63 has 19 digits; anything longer is refused before ``int`` parses it


class BadJson(ValueError):
    """The body is not JSON we accept; the message names the reason, not the value."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise BadJson("an integer beyond 64 bits")
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise BadJson("an integer beyond 64 bits")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf without passing through parse_constant
        raise BadJson("a number out of range")
    return value


def _parse_constant(name: str) -> float:
    raise BadJson(f"{name} is not JSON")


def _check_string(text: str) -> None:
    if "\x00" in text:
        raise BadJson("a NUL in a string")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadJson("a lone surrogate in a string") from None


def _check(value: Any) -> None:
    """Depth, strings and keys, walked without recursion (the value may be as deep as the parser allowed)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_string(item)
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise BadJson(f"nested deeper than {MAX_DEPTH}")
            children: list[Any] = list(item.values()) if isinstance(item, dict) else item
            for key in item if isinstance(item, dict) else ():
                _check_string(key)
            stack.extend((child, depth + 1) for child in children)


def parse(body: bytes) -> Any:
    """The JSON value of ``body``, or BadJson. Only what every sender we know writes gets through (see above)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadJson("not UTF-8") from None
    try:
        value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except BadJson:
        raise
    except RecursionError:  # the C scanner recurses once per [ or {: a body of brackets reaches the limit
        raise BadJson(f"nested deeper than {MAX_DEPTH}") from None
    except ValueError:  # json.JSONDecodeError, and int's own digit limit
        raise BadJson("not JSON") from None
    _check(value)
    return value


def parse_object(body: bytes) -> dict[str, Any]:
    value = parse(body)
    if not isinstance(value, dict):
        raise BadJson("not a JSON object")
    return value
