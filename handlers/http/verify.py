"""``GET /verify`` and ``POST /verify`` — the public page on which anyone checks a «Сведения/Мәлімет» certificate.

Two ways in, each telling no more than what the checker holds:
- the number and the verification code (typed from paper, dictated by phone): whether such a certificate was
  issued, when, about whom (a masked name), until when, revoked or not — never the mark;
- ``?p=`` — the signed payload of the certificate's QR code: the issuer's signature is checked and the whole
  form as printed is shown, with what the register says of it now (revoked, expired).

The answers come from the core (bot/core/certificates.py), as /verify in the bot. Wrong codes are limited per
real client (QYZMET_TRUSTED_PROXIES: handlers/http/client_address.py) and per number; the right pair is
never refused.
"""

from __future__ import annotations

import logging
from html import escape

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from bot.core.certificates import CertificateService, Checked, Forged, Limited
from bot.domain.numbers import APPLICATIONS
from bot.domain.verification import normalize_code
from bot.i18n import Lang, Texts, format_when
from handlers.check_answer import check_lines, form_rows, verdict
from handlers.http.client_address import Networks, client_of
from handlers.http.page import document, page, pick_lang, verdict_section
from handlers.http.refusal import refused

log = logging.getLogger(__name__)

PATH = "/verify"
MAX_FIELD = 100  # a number or a code is a few dozen characters; anything longer is not one
MAX_PAYLOAD = 2000  # a signed payload is a few hundred characters
MAX_BODY = 4096


class VerifyPage:
    def __init__(self, certificates: CertificateService, texts: Texts, proxies: Networks = ()) -> None:
        self._certificates = certificates
        self._texts = texts
        self._proxies = proxies

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PATH, self._get)
        app.router.add_post(PATH, self._post)

    async def _get(self, request: web.Request) -> web.Response:
        lang = pick_lang(request.query.get("lang"), request)
        payload = request.query.get("p", "")
        if payload:
            return await self._seal(request, lang, payload[:MAX_PAYLOAD])
        number = request.query.get("number", "")[:MAX_FIELD]
        code = request.query.get("code", "")[:MAX_FIELD]
        return self._form_page(lang, number, code, "")

    async def _post(self, request: web.Request) -> web.Response:
        lang = pick_lang(request.query.get("lang"), request)
        try:
            # The page's own form posts urlencoded; anything else (raw bytes, multipart, too large) is not it.
            if request.content_type != "application/x-www-form-urlencoded":
                raise ValueError(f"not a form: {request.content_type}")
            if request.content_length is not None and request.content_length > MAX_BODY:
                raise ValueError("body too large")
            form = await request.post()
            fields = {name: str(form.get(name, ""))[:MAX_FIELD] for name in ("lang", "number", "code")}
        except (ValueError, UnicodeDecodeError, HttpProcessingError) as exc:
            # Not a form at all (raw bytes, another encoding, too large): said as a typing slip, never a 500.
            refused(request, 400, f"not the page's form ({type(exc).__name__})")
            return self._form_page(lang, "", "", self._answer(lang, "bad", "web.bad_input"), status=400)
        lang = pick_lang(fields["lang"] or request.query.get("lang"), request)
        number, code = fields["number"].strip(), fields["code"].strip()
        if not number or not code:
            refused(request, 400, "a number and a code are required")
            return self._form_page(lang, number, code, self._answer(lang, "bad", "web.bad_input"), status=400)
        # What cannot be a number or a code is a typing slip, said as such, and not counted as a wrong try.
        for problem, key in ((APPLICATIONS.parse(number) is None, "verify.bad_number"),
                             (normalize_code(code) is None, "verify.bad_code")):
            if problem:
                refused(request, 400, key)  # which of the two, never what was typed
                return self._form_page(lang, number, code, self._answer(lang, "bad", key), status=400)
        result = await self._certificates.check("web", client_of(request, self._proxies), number, code)
        kind, _ = verdict(self._texts, lang, result)
        lines = check_lines(self._texts, lang, result)
        section = verdict_section(kind, lines[0], lines[1:])
        keep = (number, code) if isinstance(result, Checked) else (number, "")
        return self._form_page(lang, keep[0], keep[1], section, status=429 if isinstance(result, Limited) else 200)

    async def _seal(self, request: web.Request, lang: Lang, payload: str) -> web.Response:
        t = self._texts
        result = await self._certificates.check_seal("web", client_of(request, self._proxies), payload)
        if isinstance(result, Forged):
            section = verdict_section("bad", t(lang, "verify.seal_forged"), [t(lang, "verify.seal_forged_hint")])
            return self._page(lang, {"p": payload}, f'<h1>{escape(t(lang, "web.title"))}</h1>{section}')
        fields = result.fields
        state = result.issued
        notes: list[str] = []
        if state is None:
            kind, headline = "warn", t(lang, "verify.seal_unknown")
        elif state.revoked or state.expired:
            kind, headline = verdict(t, lang, state)
        else:
            kind, headline = "ok", t(lang, "verify.seal_valid", number=fields.number)
            notes = [t(lang, "verify.seal_valid_until", until=format_when(fields.valid_until, lang))]
        section = verdict_section(kind, headline, notes, document(form_rows(t, lang, fields)))
        return self._page(lang, {"p": payload}, f'<h1>{escape(t(lang, "web.title_document"))}</h1>{section}')

    def _answer(self, lang: Lang, kind: str, key: str) -> str:
        text = self._texts(lang, key)
        return verdict_section(kind, text, [])

    def _form_page(self, lang: Lang, number: str, code: str, section: str, status: int = 200) -> web.Response:
        t = self._texts

        def tr(key: str) -> str:
            return escape(t(lang, key))

        body = f"""<h1>{tr("web.title")}</h1>
<p>{tr("web.intro")}</p>
{section}
<form method="post" action="{PATH}">
<input type="hidden" name="lang" value="{lang}">
<label for="number">{tr("web.number")}</label>
<input type="text" id="number" name="number" value="{escape(number)}" required maxlength="40"
 autocomplete="off" placeholder="QZ-261125-0482913">
<label for="code">{tr("cert.code_label")}</label>
<input type="text" id="code" name="code" value="{escape(code)}" required maxlength="20" autocomplete="off"
 placeholder="7KQ2M-X9D4A">
<button type="submit">{tr("web.submit")}</button>
</form>
<p class="note">{tr("web.mark_note")}</p>"""
        query = {"number": number, "code": code} if number or code else {}
        return self._page(lang, query, body, status)

    def _page(self, lang: Lang, query: dict[str, str], body: str, status: int = 200) -> web.Response:
        return page(self._texts, lang, path=PATH, query=query, body=body, status=status)
