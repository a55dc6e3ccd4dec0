"""One message of a turn or of an envelope, as the Telegram channel stores and sends it."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import segno
from telegram import ForceReply, InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply


@dataclass
class Reply:
    """One message of a turn. ``certificate`` names an application whose certificate follows ``html``; it is
    rendered from the registry when the message is sent (``rendered`` holds it for the turn's own send, and
    is never stored)."""
    html: str
    markup: dict[str, Any] | None = None  # the keyboard's to_dict(): stored so, and sent as it is
    protect: bool = False
    certificate: str | None = None
    lang: str | None = None
    rendered: str | None = field(default=None, repr=False)
    pdf: str | None = None  # the application whose certificate goes as a PDF document, ``html`` its caption
    qr: str | None = None   # a link sent as a QR code picture, ``html`` its caption (a share link)

    def to_json(self) -> dict[str, Any]:
        return {"html": self.html, "markup": self.markup, "protect": self.protect,
                "certificate": self.certificate, "lang": self.lang, "pdf": self.pdf, "qr": self.qr}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        return cls(data.get("html") or "", data.get("markup"), bool(data.get("protect")), data.get("certificate"),
                   data.get("lang"), pdf=data.get("pdf"), qr=data.get("qr"))


def markup_json(markup: Markup | None) -> dict[str, Any] | None:
    return markup.to_dict() if markup is not None else None


def qr_png(url: str) -> bytes:
    """A QR code of ``url`` as a PNG, large enough to be scanned off a phone's screen."""
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="png", scale=10, border=4)
    return out.getvalue()
