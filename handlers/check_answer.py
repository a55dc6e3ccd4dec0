"""The answer to a certificate check, in words: the same lines in the bot (/verify) and on the web page."""

from __future__ import annotations

from datetime import date

from bot.core.certificates import Checked, Limited, NoMatch
from bot.domain.calendar import ALMATY
from bot.domain.certificate_seal import SealedCertificate
from bot.i18n import Lang, Texts, format_when


def verdict(t: Texts, lang: Lang, result: Checked | NoMatch | Limited) -> tuple[str, str]:
    """(kind, headline): ``ok`` a certificate issued and in force, ``warn`` issued but expired or revoked,
    ``bad`` nothing found or refused."""
    if isinstance(result, Limited):
        return "bad", t(lang, "verify.limited")
    if isinstance(result, NoMatch):
        return "bad", t(lang, "verify.no_match")
    if result.revoked:
        return "warn", t(lang, "verify.revoked", number=result.number)
    if result.expired:
        return "warn", t(lang, "verify.expired", number=result.number)
    return "ok", t(lang, "verify.valid", number=result.number)


def check_lines(t: Texts, lang: Lang, result: Checked | NoMatch | Limited) -> list[str]:
    """What a checker of a number and a code is told: whether it was issued, when, about whom (masked), until
    when — and, said plainly, that a number and a code never confirm the mark."""
    _, headline = verdict(t, lang, result)
    if not isinstance(result, Checked):
        return [headline]
    return [
        headline,
        t(lang, "verify.found", number=result.number, issued=format_when(result.issued_at, lang),
          holder=result.holder_name, service=t(lang, f"service.{result.service}.short"),
          until=format_when(result.valid_until, lang)),
        t(lang, "verify.mark_not_told"),
    ]


def form_rows(t: Texts, lang: Lang, c: SealedCertificate) -> list[tuple[str, str]]:
    """The form as issued, label and value, for a checker holding the signed payload or a share link."""
    birth = date.fromisoformat(c.birth_date).strftime("%d.%m.%Y") if c.birth_date else "—"
    return [
        (t(lang, "form.full_name"), c.full_name or "—"),
        (t(lang, "form.birth_date"), birth),
        (t(lang, "form.address"), c.address or "—"),
        (t(lang, f"service.{c.service}.observed_label"),
         t(lang, "form.observed_yes" if c.observed else "form.observed_no")),
        (t(lang, "web.service"), t(lang, f"service.{c.service}.short")),
        (t(lang, "web.source_system"), c.source_system),
        (t(lang, "web.number"), c.number),
        (t(lang, "form.issue_date"), c.issued_at.astimezone(ALMATY).strftime("%d.%m.%Y %H:%M")),
        (t(lang, "web.valid_until"), format_when(c.valid_until, lang)),
    ]
