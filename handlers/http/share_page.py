"""``GET /s/<id>.<secret>`` — a share link its holder gave to one checker: the whole form as issued, while the
link is in force (bot/core/certificate_shares.py). A revoked, expired or unknown link shows nothing but that.
Each opening is recorded and shown to the holder at once."""

from __future__ import annotations

from html import escape

from aiohttp import web

from bot.core.certificate_shares import Shared, ShareService
from bot.gateways.state_systems import StateSystemUnavailable
from bot.i18n import Texts, format_when
from handlers.check_answer import form_rows, verdict
from handlers.http.client_address import Networks, client_of
from handlers.http.page import document, page, pick_lang, verdict_section

PREFIX = "/s/"


class SharePage:
    def __init__(self, shares: ShareService, texts: Texts, proxies: Networks = ()) -> None:
        self._shares = shares
        self._texts = texts
        self._proxies = proxies

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PREFIX + "{token}", self._get)

    async def _get(self, request: web.Request) -> web.Response:
        t = self._texts
        lang = pick_lang(request.query.get("lang"), request)
        token = request.match_info["token"][:100]
        path = PREFIX + token
        try:
            result = await self._shares.open("web", client_of(request, self._proxies), token)
        except StateSystemUnavailable:
            section = verdict_section("warn", t(lang, "share.page.later"), [])
            return page(t, lang, path=path, query={}, body=section, status=503)
        if not isinstance(result, Shared):
            section = verdict_section("bad", t(lang, f"share.page.{result.reason}"), [])
            return page(t, lang, path=path, query={}, body=section, status=404 if result.reason == "unknown" else 410)
        kind, headline = verdict(t, lang, result.issued)
        rows = form_rows(t, lang, result.certificate.sealed())
        notes = [t(lang, "share.page.until", until=format_when(result.expires_at, lang))]
        body = (f'<h1>{escape(t(lang, "web.title_document"))}</h1>'
                + verdict_section(kind, headline, notes, document(rows)))
        return page(t, lang, path=path, query={}, body=body)
