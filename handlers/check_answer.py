"""The answer to a certificate check, in words: the same lines in the bot (/verify) and on the web page."""

from __future__ import annotations

from bot.core.certificates import Checked, Limited, NoMatch
from bot.i18n import Lang, Texts, format_when


def check_lines(t: Texts, lang: Lang, result: Checked | NoMatch | Limited, observed: bool) -> list[str]:
    """What a checker is told; ``observed`` is the mark they saw on the paper. Never the issued status itself:
    a mark that does not match is only said not to match."""
    if isinstance(result, Limited):
        return [t(lang, "verify.limited")]
    if isinstance(result, NoMatch):
        return [t(lang, "verify.no_match")]
    status = t(lang, "form.observed_yes" if observed else "form.observed_no")
    return [
        t(lang, "verify.found", number=result.number, issued=format_when(result.issued_at, lang),
          holder=result.holder_name, service=t(lang, f"service.{result.service}.short"),
          until=format_when(result.valid_until, lang)),
        t(lang, "verify.expired" if result.expired else "verify.valid"),
        t(lang, "verify.status_match" if result.status_matches else "verify.status_mismatch", status=status),
    ]
