"""Logging that never shows an IIN, a phone, a code or a configured secret (the bot token above all) in clear.

Text lines by default; ``QYZMET_LOG_FORMAT=json`` writes one JSON object per line (time, level, logger,
message, exception) for log collectors. Both are masked the same way.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime

# 12-digit IINs, phone numbers and 6-digit codes, wherever they appear in a log line.
_IIN = re.compile(r"(?<!\d)\d{8}(\d{4})(?!\d)")
_PHONE = re.compile(r"\+?7\d{6}(\d{2})(\d{2})(?!\d)")
# Six digits that are not part of a longer number, of an application number (QZ-261125-…) or of a decimal
# fraction (the microseconds of a time, 23:00:47.123456).
_CODE = re.compile(r"(?<![\d-])(?<!\d\.)\d{6}(?![\d-])(?!\.\d)")
# A Telegram bot token (digits, a colon, 35 characters) even when it is not the configured one.
_BOT_TOKEN = re.compile(r"(?<![\w:])\d{5,}:[A-Za-z0-9_-]{30,}")
MASK = "***"

# The configured secrets (QYZMET_TELEGRAM_TOKEN, …), longest first; set by setup_logging / register_secrets.
_secrets: list[str] = []


def register_secrets(values: Iterable[str | None]) -> None:
    """From now on these values are replaced with *** in every masked text (logs, error lines)."""
    for value in values:
        if value and len(value) >= 4 and value not in _secrets:
            _secrets.append(value)
    _secrets.sort(key=len, reverse=True)


def redact(text: str) -> str:
    """The text without any configured secret or bot token (an exception may quote a URL with the token)."""
    for secret in _secrets:
        text = text.replace(secret, MASK)
    return _BOT_TOKEN.sub(MASK, text)


# Functions rather than "\1" templates: a template is compiled on first use, which fails while the interpreter
# shuts down (and aiohttp logs its unclosed sessions exactly then).
def mask_text(text: str) -> str:
    text = redact(text)
    text = _IIN.sub(lambda m: "********" + m.group(1), text)
    text = _PHONE.sub(lambda m: "+7*******" + m.group(2), text)
    return _CODE.sub(lambda m: "******", text)


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_text(record.getMessage())
        record.args = None
        return True


class MaskingFormatter(logging.Formatter):
    """Masks the whole formatted record, tracebacks included (an exception text may quote data)."""

    def format(self, record: logging.LogRecord) -> str:
        return _masked(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message and, if any, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": _masked(record.getMessage())}
        if record.exc_info:
            entry["exception"] = _masked(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = _masked(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


def _masked(text: str) -> str:
    try:
        return mask_text(text)
    except Exception:  # never fall back to the text in clear
        return "(a log line that could not be masked was left out)"


def setup_logging(level: int = logging.INFO, fmt: str = "text", secrets: Iterable[str | None] = ()) -> None:
    """Logs on stderr, masked; ``fmt`` is QYZMET_LOG_FORMAT (text or json); ``secrets`` are replaced by ***."""
    register_secrets(secrets)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json"
                         else MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL, which contains the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The job queue's scheduler writes two INFO lines on every run of the sweep (every few seconds).
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # fpdf2's font subsetting (fontTools) writes ~76 INFO lines for every certificate PDF; pyHanko a few more.
    for noisy in ("fontTools", "pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
