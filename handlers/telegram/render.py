"""Turning core results into localized HTML messages. Every value from data is escaped."""

from __future__ import annotations

import re
from datetime import date, datetime
from html import escape

from babel.dates import format_date

from bot.core.registry_info import Certificate
from bot.domain.calendar import ALMATY
from bot.domain.catalog import get_service
from bot.domain.iin import mask_iin
from bot.domain.model import Application, Event
from bot.i18n import Lang, Texts, format_when


def when(moment: datetime, lang: Lang) -> str:
    """A local date and time, e.g. ru "25 ноября 2026 г., 14:30", kk "2026 ж. 25 қараша, 14:30"."""
    return format_when(moment, lang)


def day(value: date, lang: Lang) -> str:
    return format_date(value, "dd.MM.yyyy", locale=lang)


def certificate(t: Texts, lang: Lang, c: Certificate) -> str:
    birth = day(date.fromisoformat(c.birth_date), lang) if c.birth_date else "—"
    lines = [
        f"<b>{escape(t(lang, f'service.{c.service}.form_title'))}</b>",
        "",
        f"{escape(t(lang, 'form.issue_date'))}: {day(c.issued_at.astimezone(ALMATY).date(), lang)}",
        f"{escape(t(lang, 'form.full_name'))}: {escape(c.full_name)}",
        f"{escape(t(lang, 'form.birth_date'))}: {birth}",
        f"{escape(t(lang, 'form.address'))}: {escape(c.address)}",
        f"{escape(t(lang, f'service.{c.service}.observed_label'))}: "
        f"<b>{escape(t(lang, 'form.observed_yes' if c.observed else 'form.observed_no'))}</b>",
        "",
        escape(t(lang, "form.source_system", system=c.source_system)),
        escape(t(lang, "form.application_number", number=c.number)),
        escape(t(lang, "form.validity")),
    ]
    if c.code:  # how anyone can check it (bot/core/certificates.py): never the status, a keyed hash of it
        lines += [escape(t(lang, "cert.valid_until", when=when(c.valid_until, lang))),
                  "", escape(t(lang, "cert.code", code=c.code)),
                  escape(t(lang, "cert.verify_hint", url=c.verify_url))]
    return "\n".join(lines)


def status_name(t: Texts, lang: Lang, status: str) -> str:
    key = f"status.{status}"
    return t(lang, key) if t.has(lang, key) else status


def whom_about(t: Texts, lang: Lang, app: Application, viewer_iin: str | None) -> str | None:
    """Whom a request about another person concerns, as the person looking at it sees it: the one who asked
    reads "about another person (IIN ******1234)", the one it is about reads "a request about you (asked by IIN
    ******5678)". None for a person's own application. Without a verified identity the viewer is the chat that
    filed it, so the one who asked."""
    if not app.third_party:
        return None
    if viewer_iin is not None and viewer_iin == app.iin and app.requester_iin:
        return t(lang, "status.about_you", iin=mask_iin(app.requester_iin))
    return t(lang, "status.about_other", iin=mask_iin(app.iin))


def application_line(t: Texts, lang: Lang, app: Application, viewer_iin: str | None = None) -> str:
    line = t(lang, "status.line", number=escape(app.number),
             service=escape(t(lang, f"service.{app.service}.short")), status=escape(status_name(t, lang, app.status)))
    whom = whom_about(t, lang, app, viewer_iin)
    return f"{line} · {escape(whom)}" if whom else line


def application_card(t: Texts, lang: Lang, app: Application, events: list[Event], *,
                     overdue_days: int | None = None, viewer_iin: str | None = None,
                     whom: bool = True) -> str:
    """The card of one application; ``overdue_days`` (None = not late) adds the lateness in working days;
    ``whom``: a request about another person says whom it concerns (see ``whom_about``)."""
    get_service(app.service)
    about = whom_about(t, lang, app, viewer_iin) if whom else None
    lines = [
        f"<b>{escape(t(lang, 'status.card_title', number=app.number))}</b>",
        escape(t(lang, f"service.{app.service}.name")),
        *([escape(about)] if about else []),
        escape(t(lang, "status.submitted", when=when(app.submitted_at, lang))),
        escape(t(lang, "status.due", when=when(app.due_at, lang))),
        escape(t(lang, "status.current", status=status_name(t, lang, app.status))),
    ]
    if app.refusal_ground:
        lines.append(escape(t(lang, "status.refusal_ground", ground=t(lang, f"refusal.{app.refusal_ground}"))))
    if overdue_days is not None:
        lines.append(escape(t.plural(lang, "app.overdue", overdue_days) if overdue_days
                            else t(lang, "app.overdue_today")))
    if events:
        lines.append("")
        lines.append(escape(t(lang, "status.history")))
        for e in events:
            note = event_note(t, lang, e.note)
            lines.append(f"• {escape(when(e.at, lang))} — {escape(status_name(t, lang, e.status))}"
                         + (f" ({escape(note)})" if note else ""))
    return "\n".join(lines)


_CODE = re.compile(r"[a-z_]+(:[a-z_]+)?")


def event_note(t: Texts, lang: Lang, note: str | None) -> str | None:
    """What a person reads of a stage's note: the localized text of a note the bot wrote (``consent:otp``,
    ``expired``…), a provider's own words as they are, and never an internal code."""
    if not note:
        return None
    key = "history.note." + note.replace(":", "_")
    if t.has(lang, key):
        return t(lang, key)
    return None if _CODE.fullmatch(note) else note
