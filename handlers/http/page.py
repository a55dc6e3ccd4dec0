"""The frame of the public pages (/verify, /s/…): who issues, in which language, one column that fits a phone.

Plain HTML and CSS, no scripts, nothing loaded from elsewhere; the pages ask browsers to keep nothing and to
send no referrer (their addresses may carry a code, a signed payload or a link's secret).
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from aiohttp import web

from bot.i18n import LANGS, Lang, Texts

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;color:#1b1b1b;
line-height:1.45;font-size:16px;background:#f4f5f7;overflow-wrap:anywhere}
header.issuer{background:#0b3d62;color:#fff;padding:.8rem 1rem}
header.issuer .org{font-weight:700;font-size:1.05rem}
header.issuer .help{font-size:.9rem;opacity:.9}
header.issuer a{color:#fff}
main{max-width:44rem;margin:0 auto;padding:1rem}
nav.langs{text-align:right;margin:.2rem 0 .4rem}
h1{font-size:1.35rem;margin:.4rem 0 .8rem}
h2{font-size:1.15rem;margin:0 0 .5rem}
label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input[type=text]{width:100%;padding:.6rem;font-size:1.05rem;text-transform:uppercase;border:1px solid #888;
border-radius:4px}
button{margin-top:1rem;padding:.7rem 1.6rem;font-size:1rem;background:#0b3d62;color:#fff;border:0;
border-radius:4px}
.verdict{background:#fff;border-left:6px solid #555;border-radius:6px;padding:.8rem 1rem;margin:1rem 0;
font-size:1rem}
.verdict.ok{border-color:#1a7f37}.verdict.warn{border-color:#b26a00}.verdict.bad{border-color:#c62828}
.verdict p{margin:.3rem 0;white-space:pre-line}
dl.document{display:grid;grid-template-columns:minmax(8rem,40%) 1fr;gap:.35rem .8rem;margin:.6rem 0 0}
dl.document dt{color:#444}dl.document dd{margin:0;font-weight:600}
@media (max-width:30rem){dl.document{grid-template-columns:1fr}dl.document dd{margin-bottom:.4rem}}
small,.note{color:#444}
footer{max-width:44rem;margin:0 auto;padding:0 1rem 2rem;font-size:.85rem;color:#444}
"""


def pick_lang(asked: str | None, request: web.Request) -> Lang:
    """``?lang=`` when given, else the browser's first kk or ru, else Kazakh."""
    if asked in LANGS:
        return asked
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().split("-")[0].lower()
        if code in LANGS:
            return code
    return "kk"


def page(t: Texts, lang: Lang, *, path: str, query: dict[str, str], body: str, status: int = 200) -> web.Response:
    """A whole page: the issuer's header (with the contact centre), the language switch keeping ``query``,
    ``body`` (already escaped HTML), and the footer naming where the issuer's public key is published."""
    def tr(key: str) -> str:
        return escape(t(lang, key))

    switch = " · ".join(
        f'<a href="{escape(path)}?{escape(urlencode({**query, "lang": other}))}" hreflang="{other}">'
        f'{escape(label)}</a>' if other != lang else f"<b>{escape(label)}</b>"
        for other, label in (("kk", "Қазақша"), ("ru", "Русский")))
    html = f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex">
<title>{tr("web.title")}</title><style>{STYLE}</style></head>
<body><header class="issuer"><div class="org">{tr("web.issuer")}</div>
<div class="help">{tr("web.help")}</div></header>
<main><nav class="langs">{switch}</nav>
{body}
</main>
<footer><p>{tr("web.privacy")}</p><p>{tr("web.keys")} <a href="/.well-known/jwks.json">/.well-known/jwks.json</a></p>
</footer></body></html>
"""
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status, headers=HEADERS)


def document(rows: list[tuple[str, str]]) -> str:
    return '<dl class="document">' + "".join(
        f"<dt>{escape(label)}</dt><dd>{escape(value)}</dd>" for label, value in rows) + "</dl>"


def verdict_section(kind: str, headline: str, paragraphs: list[str], extra: str = "") -> str:
    """The answer, first thing under the title: ``kind`` ok / warn / bad colours its edge."""
    text = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (f'<section id="verdict" class="verdict {kind}" role="status"><h2>{escape(headline)}</h2>'
            f"{text}{extra}</section>")
