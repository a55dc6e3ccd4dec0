"""What each kind of envelope (bot/core/outbox.py) looks like in a chat: pure functions from what the delivery
has read (the person's language, the notice's text, the offer's tag, the main menu) to the messages to send.
Nothing here reads the database or calls Telegram (handlers/telegram/delivery.py does)."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.registry_info import Certificate
from bot.i18n import Lang, Texts
from handlers.telegram import keyboards, render
from handlers.telegram.replies import Reply, markup_json


def notice(t: Texts, lang: Lang, text: str, params: dict[str, Any]) -> list[Reply]:
    """A status notice (``text`` rendered by the core), with a button to open the matter it is about and, under
    a refusal, one to complain about it (the application filled in)."""
    rows = []
    opened = _button_data(params.get("_open"), _OPEN)
    if opened:
        rows.append([InlineKeyboardButton(t(lang, "btn.open"), callback_data=opened)])
    complain = _button_data(params.get("_complain"), _COMPLAIN)
    if complain:
        rows.append([InlineKeyboardButton(t(lang, "cp.btn.file"), callback_data=complain)])
    return [Reply(escape(text), markup_json(InlineKeyboardMarkup(rows)) if rows else None)]


# What a notice is about, as the core names it ({"application": number}), and the button that opens it here: the
# card (status.py, cards.py), a complaint's card (citizen_complaints.py), a complaint about the application.
_OPEN = {"application": "app", "complaint": "cpv"}
_COMPLAIN = {"application": "cpf"}


def _button_data(about: object, prefixes: dict[str, str]) -> str | None:
    """The callback data for ``about``; a notice owed before the core named it so carries the data itself."""
    if isinstance(about, str):
        return about[:64]
    if isinstance(about, dict) and len(about) == 1:
        ((what, number),) = about.items()
        if what in prefixes:
            return f"{prefixes[what]}:{number}"[:64]
    return None


def consent_offer(t: Texts, lang: Lang, payload: dict[str, Any], tag: str) -> list[Reply]:
    """The data subject may consent or decline; ``tag`` proves the offer was made to this chat."""
    text = t(lang, "cabinet.request", number=payload["number"], service=t(lang, f"service.{payload['service']}.short"),
             name=payload.get("requester_name", ""), iin=payload.get("requester_iin", ""))
    return [Reply(escape(text), markup_json(keyboards.consent_decision(t, lang, payload["number"], tag)))]


def certificate_pdf(t: Texts, lang: Lang, number: str) -> list[Reply]:
    """The certificate as a PDF: rendered from the registry when it is sent."""
    return [Reply(escape(t(lang, "cert.pdf_caption", number=number)), protect=True, lang=lang, pdf=number)]


def menu(t: Texts, lang: Lang, keyboard: InlineKeyboardMarkup) -> Reply:
    return Reply(escape(t(lang, "menu.title")), markup_json(keyboard))


def consent_outcome(t: Texts, lang: Lang, number: str, outcome: str, due: str | None, menu_reply: Reply
                    ) -> list[Reply]:
    """The requester's answer to a consented request: the certificate (rendered when sent), the promise of a
    result by ``due``, or the refusal; then the menu."""
    if outcome == "given":
        first = [Reply(escape(t(lang, "tp.consent_given", number=number))),
                 Reply("", markup_json(keyboards.certificate(t, lang, number)), protect=True, certificate=number,
                       lang=lang)]
    elif outcome == "pending":
        when = render.when(datetime.fromisoformat(due), lang) if due else ""
        first = [Reply(escape(t(lang, "tp.consent_given_pending", number=number, due=when)))]
    else:
        first = [Reply(escape(t(lang, f"tp.refused_{outcome}", number=number, ground=t(lang, "refusal.no_consent"))))]
    return [*first, menu_reply]


def late_result(t: Texts, lang: Lang, number: str, menu_reply: Reply) -> list[Reply]:
    """A result the registry gave after the request was acknowledged: the certificate, rendered when sent."""
    return [Reply(escape(t(lang, "registry.result_came", number=number)), protect=True, certificate=number,
                  lang=lang), menu_reply]


def with_certificate(t: Texts, lang: Lang, html: str, certificate: Certificate | None) -> str:
    """A message followed by the certificate it names (none: its result is no longer given)."""
    body = render.certificate(t, lang, certificate) if certificate else ""
    return "\n\n".join(part for part in (html, body) if part)
