"""Logging that never shows an IIN, a phone or a code in clear."""

from __future__ import annotations

import logging
import re

# 12-digit IINs, phone numbers and 6-digit codes, wherever they appear in a log line.
_IIN = re.compile(r"(?<!\d)\d{8}(\d{4})(?!\d)")
_PHONE = re.compile(r"\+?7\d{6}(\d{2})(\d{2})(?!\d)")
# Six digits that are not part of a longer number or of an application number (QZ-261125-…).
_CODE = re.compile(r"(?<![\d-])\d{6}(?![\d-])")


def mask_text(text: str) -> str:
    text = _IIN.sub(r"********\1", text)
    text = _PHONE.sub(r"+7*******\2", text)
    return _CODE.sub("******", text)


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_text(record.getMessage())
        record.args = None
        return True


class MaskingFormatter(logging.Formatter):
    """Masks the whole formatted record, tracebacks included (an exception text may quote data)."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL, which contains the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
