"""``GET /verify`` and ``POST /verify`` — the public page on which anyone checks a «Сведения/Мәлімет» certificate.

Plain HTML in Kazakh or Russian (``?lang=kk|ru``; otherwise the browser's language), one form, no scripts: the
number, the verification code and the mark the paper shows about observation. The answer comes from the same
core use case as /verify in the bot (bot/core/certificates.py): whether such a certificate was issued, when,
to whom (a masked name), until when it is valid and whether the mark matches — never the status itself.
Wrong codes are limited per client address. The page asks browsers to keep nothing (``no-store``) and to send
no referrer: its address may carry a code.
"""

from __future__ import annotations

import logging
from html import escape
from urllib.parse import urlencode

from aiohttp import web

from bot.core.certificates import CertificateService, Checked, Limited, NoMatch
from bot.domain.numbers import APPLICATIONS
from bot.domain.verification import normalize_code
from bot.i18n import LANGS, Lang, Texts
from handlers.check_answer import check_lines

log = logging.getLogger(__name__)

PATH = "/verify"
MAX_FIELD = 100  # a number or a code is a few dozen characters; anything longer is not one

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;max-width:40rem;margin:2rem auto;
padding:0 1rem;color:#1b1b1b;line-height:1.45}
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input[type=text]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1.05rem;text-transform:uppercase}
fieldset{border:0;padding:0;margin:.8rem 0}fieldset label{display:inline;font-weight:400;margin-right:1.2rem}
button{margin-top:1rem;padding:.6rem 1.4rem;font-size:1rem}
.result{border:2px solid #555;border-radius:6px;padding:.6rem 1rem;margin:1rem 0;white-space:pre-line}
.ok{border-color:#1a7f37}.bad{border-color:#c62828}.langs{float:right}small{color:#555}
"""


class VerifyPage:
    def __init__(self, certificates: CertificateService, texts: Texts) -> None:
        self._certificates = certificates
        self._texts = texts

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PATH, self._get)
        app.router.add_post(PATH, self._post)

    async def _get(self, request: web.Request) -> web.Response:
        lang = self._lang(request.query.get("lang"), request)
        number = request.query.get("number", "")[:MAX_FIELD]
        code = request.query.get("code", "")[:MAX_FIELD]
        return self._page(lang, number, code, None)

    async def _post(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields = {name: str(form.get(name, ""))[:MAX_FIELD] for name in ("lang", "number", "code", "status")}
        lang = self._lang(fields["lang"], request)
        number, code, status = fields["number"].strip(), fields["code"].strip(), fields["status"]
        if not number or not code or status not in ("yes", "no"):
            return self._page(lang, number, code, (False, [self._texts(lang, "web.bad_input")]), status=400)
        # What cannot be a number or a code is a typing slip, said as such, and not counted as a wrong try.
        for problem, key in ((APPLICATIONS.parse(number) is None, "verify.bad_number"),
                             (normalize_code(code) is None, "verify.bad_code")):
            if problem:
                return self._page(lang, number, code, (False, [self._texts(lang, key)]), status=400, chosen=status)
        # The client is the connecting address: behind a reverse proxy that is the proxy's, so the per-client
        # limit then counts everyone together (the per-number limit still holds).
        result = await self._certificates.check("web", request.remote or "unknown", number, code,
                                                observed=status == "yes")
        good = isinstance(result, Checked) and result.status_matches and not result.expired
        lines = check_lines(self._texts, lang, result, status == "yes")
        code_status = 429 if isinstance(result, Limited) else 200
        keep = (number, code) if not isinstance(result, NoMatch | Limited) else (number, "")
        return self._page(lang, keep[0], keep[1], (good, lines), status=code_status, chosen=status)

    def _lang(self, asked: str | None, request: web.Request) -> Lang:
        if asked in LANGS:
            return asked
        for part in request.headers.get("Accept-Language", "").split(","):
            code = part.split(";")[0].strip().split("-")[0].lower()
            if code in LANGS:
                return code
        return "kk"

    def _page(self, lang: Lang, number: str, code: str, answer: tuple[bool, list[str]] | None, *,
              status: int = 200, chosen: str = "") -> web.Response:
        t = self._texts

        def tr(key: str) -> str:
            return escape(t(lang, key))

        switch = " · ".join(
            f'<a href="{PATH}?{escape(urlencode({"lang": other, "number": number, "code": code}))}"'
            f' hreflang="{other}">{escape(label)}</a>' if other != lang else escape(label)
            for other, label in (("kk", "Қазақша"), ("ru", "Русский")))
        result = ""
        if answer is not None:
            good, lines = answer
            result = (f'<section class="result {"ok" if good else "bad"}"><h2>{tr("web.result")}</h2>'
                      f'{escape(chr(10).join(lines))}</section>')
        radios = "".join(
            f'<label><input type="radio" name="status" value="{value}" required'
            f'{" checked" if chosen == value else ""}> {tr(key)}</label>'
            for value, key in (("yes", "form.observed_yes"), ("no", "form.observed_no")))
        html = f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{tr("web.title")}</title><style>{STYLE}</style></head>
<body><nav class="langs">{switch}</nav>
<h1>{tr("web.title")}</h1>
<p>{tr("web.intro")}</p>
{result}
<form method="post" action="{PATH}">
<input type="hidden" name="lang" value="{lang}">
<label for="number">{tr("web.number")}</label>
<input type="text" id="number" name="number" value="{escape(number)}" required maxlength="40"
 autocomplete="off" placeholder="QZ-261125-0482913">
<label for="code">{tr("cert.code_label")}</label>
<input type="text" id="code" name="code" value="{escape(code)}" required maxlength="20" autocomplete="off"
 placeholder="7KQ2M-X9D4A">
<fieldset><legend><b>{tr("web.status")}</b></legend>{radios}</fieldset>
<button type="submit">{tr("web.submit")}</button>
</form>
<p><small>{tr("web.privacy")}</small></p>
</body></html>
"""
        return web.Response(text=html, content_type="text/html", charset="utf-8", status=status, headers=HEADERS)
