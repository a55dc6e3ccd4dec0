"""The «Сведения/Мәлімет» certificate as a PDF, in the person's language, with a QR code of its verification link.

Rendered when it is sent, from the certificate read from the registry at that moment, and never stored. The
text is real text (PT Sans, shipped by the fontpkg-pt-sans package, draws every Kazakh and Russian letter), so
the PDF can be searched and read aloud; the QR code is drawn as vector squares (segno), sharp at any size.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import fontpkg
import segno
from fpdf import FPDF
from fpdf.enums import WrapMode

from bot.core.registry_info import Certificate
from bot.domain.calendar import ALMATY
from bot.i18n import Lang, Texts, format_when

FONT = "PTSans"
MARGIN = 20.0  # mm
QR_SIZE = 36.0  # mm: a phone reads it from arm's length off a printed page


@lru_cache(maxsize=1)
def _font_files() -> tuple[str, str]:
    return str(fontpkg.path("PT Sans")), str(fontpkg.path("PT Sans", weight=700))


# Babel's dates put narrow no-break spaces (U+202F) where the font has none: an ordinary no-break space
# reads the same and keeps "25 ноября 2026 г." on one line.
_SPACES = str.maketrans({"\u202f": "\u00a0", "\u2009": " "})


def _day(value: date) -> str:
    return value.strftime("%d.%m.%Y")


def render_pdf(t: Texts, lang: Lang, c: Certificate) -> bytes:
    """The PDF of certificate ``c`` (A4, one page)."""
    regular, bold = _font_files()
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, MARGIN)
    pdf.add_font(FONT, "", regular)
    pdf.add_font(FONT, "B", bold)
    title = t(lang, f"service.{c.service}.form_title")
    pdf.set_title(title)
    pdf.set_lang(lang)
    pdf.set_creator("Qyzmet")
    pdf.set_creation_date(c.issued_at)
    pdf.add_page()

    def line(text: str, size: float = 11, style: str = "", gap: float = 1.5) -> None:
        pdf.set_font(FONT, style, size)
        pdf.multi_cell(0, size * 0.5, text.translate(_SPACES), align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    def field(label: str, value: str, strong: bool = False) -> None:
        pdf.set_font(FONT, "", 11)
        pdf.multi_cell(0, 5.5, f"{label}:", align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, "B" if strong else "", 12)
        pdf.multi_cell(0, 6, (value or "—").translate(_SPACES), align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)

    line(title, 14, "B", 6)
    field(t(lang, "form.issue_date"), _day(c.issued_at.astimezone(ALMATY).date()))
    field(t(lang, "form.full_name"), c.full_name)
    field(t(lang, "form.birth_date"), _day(date.fromisoformat(c.birth_date)) if c.birth_date else "—")
    field(t(lang, "form.address"), c.address)
    field(t(lang, f"service.{c.service}.observed_label"),
          t(lang, "form.observed_yes" if c.observed else "form.observed_no"), strong=True)
    pdf.ln(2)
    line(t(lang, "form.source_system", system=c.source_system))
    line(t(lang, "form.application_number", number=c.number))
    line(t(lang, "form.validity"))
    line(t(lang, "cert.valid_until", when=format_when(c.valid_until, lang)), gap=8)

    if c.code:
        top = pdf.get_y()
        if top + QR_SIZE > pdf.h - MARGIN:
            pdf.add_page()
            top = pdf.get_y()
        _qr(pdf, c.verify_url, MARGIN, top, QR_SIZE)
        left = MARGIN + QR_SIZE + 6
        width = pdf.w - MARGIN - left

        def beside(text: str, size: float, style: str = "", height: float = 5.0, gap: float = 0.0) -> None:
            pdf.set_xy(left, pdf.get_y() + gap)
            pdf.set_font(FONT, style, size)
            pdf.multi_cell(width, height, text, align="L", new_x="LEFT", new_y="NEXT", wrapmode=WrapMode.CHAR
                           if text.startswith("http") else WrapMode.WORD)

        pdf.set_y(top + 2)
        beside(t(lang, "cert.code_label"), 11, height=5.5)
        beside(c.code, 16, "B", height=8)
        beside(t(lang, "cert.pdf_how_to_verify"), 10, gap=2)
        beside(c.verify_url, 9, height=4.5, gap=1)
    return bytes(pdf.output())


def _qr(pdf: FPDF, url: str, x: float, y: float, size: float) -> None:
    """The QR code of ``url`` as filled squares (with its quiet zone: the border of 4 modules the standard
    asks for, so that a scanner finds it next to the text)."""
    qr = segno.make(url, error="m", micro=False)
    rows = [list(row) for row in qr.matrix_iter(scale=1, border=4)]
    module = size / len(rows)
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(rows):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                # One rectangle per run of dark modules: fewer drawing operations, no hairlines between them.
                pdf.rect(x + start * module, y + r * module, (c - start) * module, module, style="F")
            else:
                c += 1
