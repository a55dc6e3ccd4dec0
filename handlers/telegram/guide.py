"""The service guide: what a citizen needs to know about one public service, rendered as Telegram HTML (a channel's
rendering: the core keeps no markup)."""

from __future__ import annotations

import html

from bot.domain.catalog import SERVICES, get_service
from bot.i18n import Lang, Texts

# Guide sections in display order: (heading key, service key suffix).
_SECTIONS: tuple[tuple[str, str], ...] = (
    ("guide.provider", "provider"),
    ("guide.recipients", "recipients"),
    ("guide.channels", "channels"),
    ("guide.documents", "documents"),
    ("guide.fee", "fee"),
    ("guide.deadline", "deadline"),
    ("guide.schedule", "schedule"),
    ("guide.result", "result"),
    ("guide.refusal", "refusal"),
)


def _e(text: str) -> str:
    return html.escape(text, quote=False)


def service_guide(texts: Texts, lang: Lang, code: str) -> str:
    """The guide for service ``code`` (parse_mode HTML: only <b> and <i>; every catalog text escaped)."""
    service = get_service(code)
    name = texts(lang, f"service.{service.code}.name")
    parts = [f"<b>{_e(texts(lang, 'guide.title', name=name))}</b>"]
    for heading_key, suffix in _SECTIONS:
        body = _e(texts(lang, f"service.{service.code}.{suffix}"))
        if suffix == "result" and service.register is not None:
            body += "\n" + _e(texts(lang, "form.validity"))
        parts.append(f"<b>{_e(texts(lang, heading_key))}</b>\n{body}")
    parts.append(f"<i>{_e(texts(lang, 'guide.status_info'))}</i>")
    return "\n\n".join(parts)


def services_menu_labels(texts: Texts, lang: Lang) -> list[tuple[str, str]]:
    """(code, short button label) for every service, in S1..S6 order."""
    return [(code, texts(lang, f"service.{code}.short")) for code in SERVICES]
