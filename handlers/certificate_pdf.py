"""The «Сведения/Мәлімет» certificate as one official A4 page, in Kazakh and Russian side by side, with a QR code
of its signed payload.

Bilingual whatever the holder's language, as the rules' annex form is and as a page handed to an employer or
a school must be read by either; the holder's language only names the file's title and language. Rendered
when it is sent, from the certificate read from the registry at that moment, and never stored; the caller
signs the bytes (bot/gateways/issuer.py). The text is real text (PT Sans, shipped by the fontpkg-pt-sans
package, draws every Kazakh and Russian letter), so the PDF can be searched and read aloud; the QR code is
drawn as vector squares (segno), sharp at any size and on any printer.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

import fontpkg
import segno
from fpdf import FPDF
from fpdf.enums import Align, MethodReturnValue, WrapMode

from bot.core.registry_info import Certificate
from bot.domain.calendar import ALMATY
from bot.i18n import LANGS, Lang, Texts

FONT = "PTSans"
PAGE_W, PAGE_H = 210.0, 297.0  # A4, mm
SIDE, TOP, BOTTOM = 16.0, 13.0, 12.0  # margins, mm
WIDTH = PAGE_W - 2 * SIDE
LABEL_W = 74.0  # the table's label column; the value takes the rest
# The QR code: its payload (the signed fields, a few hundred characters) needs a version around 17–20, about
# 90 modules with the quiet zone; at 54 mm a module is 0.6 mm, which phone cameras read off a laser or inkjet
# print at arm's length. Error correction M (15 %) survives a fold or a stamp across it and keeps the version,
# and with it the module, from growing as Q or H would.
QR_SIZE = 54.0
QR_ERROR = "m"
BLOCK_H = 70.0  # the verification block at the foot of the page
FOOT_H = 10.0  # the contact line under it
CONTENT_END = PAGE_H - BOTTOM - FOOT_H - BLOCK_H - 2  # where the form must end
ROW_AIR = 3.0  # the most room added to each row's padding when the form leaves the page's middle empty

INK = (25, 25, 25)
NAVY = (18, 52, 104)   # the header, the title and the rules
MUTED = (85, 90, 100)  # the second language's labels, captions
RULE = (150, 160, 178)
SHADE = (236, 241, 248)  # the label column
# Kazakh, the state language, first and in full ink; Russian after it, a shade lighter.
_INKS: tuple[tuple[Lang, tuple[int, int, int]], ...] = (("kk", INK), ("ru", MUTED))


@lru_cache(maxsize=1)
def _font_files() -> tuple[str, str]:
    return str(fontpkg.path("PT Sans")), str(fontpkg.path("PT Sans", weight=700))


# Babel's dates put narrow no-break spaces (U+202F) where the font has none: an ordinary no-break space
# reads the same.
_SPACES = str.maketrans({"\u202f": "\u00a0", "\u2009": " "})


def _day(value: date) -> str:
    return value.strftime("%d.%m.%Y")


def _moment(value: datetime) -> tuple[str, str]:
    """The date and the time (with its UTC offset) in Kazakhstan, to the second: what the QR code seals."""
    local = value.astimezone(ALMATY)
    offset = local.utcoffset()
    hours = int(offset.total_seconds() // 3600) if offset is not None else 0
    return _day(local.date()), f"{local:%H:%M:%S} (UTC{hours:+d})"


def render_pdf(t: Texts, lang: Lang, c: Certificate) -> bytes:
    """The unsigned PDF of certificate ``c``: one A4 page. Long names or addresses make the type smaller
    rather than the document longer."""
    for scale in (1.0, 0.96, 0.92, 0.88, 0.84, 0.8, 0.76, 0.72, 0.68):
        page = _Page(t, lang, c, scale)
        if page.form_end <= CONTENT_END:
            break
    room = CONTENT_END - page.form_end
    if room > 1:  # a short form: taller rows rather than an empty band above the verification block
        page = _Page(t, lang, c, page.s, air=min(ROW_AIR, (room - 1) / (2 * _Page.ROWS)))
    return bytes(page.pdf.output())


class _Page:
    """One rendering of the page at one type scale."""

    ROWS = 7  # of the form's table

    def __init__(self, t: Texts, lang: Lang, c: Certificate, scale: float, air: float = 0.0) -> None:
        self.pdf = FPDF(format="A4", unit="mm")
        self.t, self.c, self.s, self.air = t, c, scale, air
        regular, bold = _font_files()
        self.pdf.add_font(FONT, "", regular)
        self.pdf.add_font(FONT, "B", bold)
        self.pdf.set_margins(SIDE, TOP, SIDE)
        self.pdf.set_auto_page_break(False)
        self.pdf.set_title(t(lang, f"service.{c.service}.form_title"))
        self.pdf.set_subject(t(lang, f"doc.register.{c.service}"))
        self.pdf.set_author(t(lang, "doc.issuer"))
        self.pdf.set_lang(lang)
        self.pdf.set_creator("Qyzmet")
        self.pdf.set_creation_date(c.issued_at)
        self.pdf.add_page()
        self._header_block()
        self._title_block()
        self._fields()
        self._notes()
        self.form_end = self.pdf.get_y()
        self._verification_block(PAGE_H - BOTTOM - FOOT_H - BLOCK_H)
        self._footer_block()

    # Helpers ------------------------------------------------------------------------------------------------

    def both(self, key: str, sep: str = " / ", **params: object) -> str:
        return f"{self.t('kk', key, **params)}{sep}{self.t('ru', key, **params)}"

    def say(self, text: str, size: float, style: str = "", color: tuple[int, int, int] = INK,
             align: Align | str = Align.L, width: float = 0, height: float | None = None, x: float | None = None,
             wrap: WrapMode = WrapMode.WORD, scaled: bool = True) -> None:
        """``scaled``: the form's text shrinks with a long form; the foot of the page has its own fixed room."""
        scale = self.s if scaled else 1.0
        self.pdf.set_font(FONT, style, size * scale)
        self.pdf.set_text_color(*color)
        if x is not None:
            self.pdf.set_x(x)
        self.pdf.multi_cell(width, height or size * scale * 0.46, text.translate(_SPACES), align=align,
                            new_x="LEFT" if x is not None else "LMARGIN", new_y="NEXT", wrapmode=wrap)

    def measure(self, text: str, size: float, style: str, width: float) -> float:
        self.pdf.set_font(FONT, style, size * self.s)
        height = self.pdf.multi_cell(width, size * self.s * 0.46, text.translate(_SPACES), dry_run=True,
                                     output=MethodReturnValue.HEIGHT)
        assert isinstance(height, float | int)
        return float(height)

    def rule(self, y: float, weight: float, color: tuple[int, int, int] = NAVY) -> None:
        self.pdf.set_draw_color(*color)
        self.pdf.set_line_width(weight)
        self.pdf.line(SIDE, y, PAGE_W - SIDE, y)

    # Blocks -------------------------------------------------------------------------------------------------

    def _header_block(self) -> None:
        """The issuer and the register, Kazakh on the left and Russian on the right, as on a ministry's form."""
        column = (WIDTH - 20) / 2
        top = self.pdf.get_y()
        bottoms = []
        for lang in LANGS:
            x = SIDE if lang == "kk" else PAGE_W - SIDE - column
            self.pdf.set_xy(x, top)
            self.say(self.t(lang, "doc.issuer"), 11.5, "B", NAVY, Align.C, column, x=x)
            self.pdf.set_y(self.pdf.get_y() + 1)
            self.say(self.t(lang, f"doc.register.{self.c.service}"), 9.5, "", MUTED, Align.C, column, x=x)
            bottoms.append(self.pdf.get_y())
        y = max(bottoms) + 3
        self.rule(y, 0.8)
        self.rule(y + 1.2, 0.2)
        self.pdf.set_y(y + 5 * self.s)

    def _title_block(self) -> None:
        heads, subjects = [], []
        for lang in LANGS:
            head, _, subject = self.t(lang, f"service.{self.c.service}.form_title").partition(" ")
            heads.append(head)
            subjects.append(subject)
        self.say(heads[0], 21, "B", NAVY, Align.C, height=9 * self.s)
        self.pdf.set_y(self.pdf.get_y() + 1.5)
        self.say(subjects[0], 11, "", INK, Align.C)
        self.pdf.set_y(self.pdf.get_y() + 1)
        self.say(subjects[1], 11, "", MUTED, Align.C)
        self.pdf.set_y(self.pdf.get_y() + 4 * self.s)
        self.say(f"{self.both('doc.number_label')}: № {self.c.number}", 12.5, "B", INK, Align.C)
        self.pdf.set_y(self.pdf.get_y() + 5 * self.s)

    def _fields(self) -> None:
        """The annex form's fields as a two-column table: both labels, then the value."""
        c, t = self.c, self.t
        issued_day, issued_time = _moment(c.issued_at.replace(microsecond=0))
        until_day, until_time = _moment(c.sealed().valid_until)
        mark = "form.observed_yes" if c.observed else "form.observed_no"
        rows: list[tuple[str, str, str, float, str]] = [
            (t("kk", "form.issue_date"), t("ru", "form.issue_date"), issued_day, 12, ""),
            (t("kk", "doc.issue_time"), t("ru", "doc.issue_time"), issued_time, 12, ""),
            (t("kk", "form.full_name"), t("ru", "form.full_name"), c.full_name, 13, "B"),
            (t("kk", "form.birth_date"), t("ru", "form.birth_date"),
             _day(date.fromisoformat(c.birth_date)) if c.birth_date else "", 12, ""),
            (t("kk", "form.address"), t("ru", "form.address"), c.address, 12, ""),
            (t("kk", f"service.{c.service}.observed_label"), t("ru", f"service.{c.service}.observed_label"),
             self.both(mark), 13.5, "B"),
            (t("kk", "doc.valid_until"), t("ru", "doc.valid_until"), f"{until_day} {until_time}", 12, ""),
        ]
        pad = 2.0 * self.s + self.air
        value_w = WIDTH - LABEL_W
        self.pdf.set_line_width(0.25)
        for kk, ru, value, size, style in rows:
            value = value or "—"
            label_h = self.measure(kk, 10, "B", LABEL_W - 2 * pad) + 0.8 + \
                self.measure(ru, 9.5, "", LABEL_W - 2 * pad)
            value_h = self.measure(value, size, style, value_w - 2 * pad)
            height = max(label_h, value_h, 9 * self.s) + 2 * pad
            y = self.pdf.get_y()
            self.pdf.set_draw_color(*RULE)
            self.pdf.set_fill_color(*SHADE)
            self.pdf.rect(SIDE, y, LABEL_W, height, style="DF")
            self.pdf.rect(SIDE + LABEL_W, y, value_w, height, style="D")
            self.pdf.set_y(y + pad)
            self.say(kk, 10, "B", INK, width=LABEL_W - 2 * pad, x=SIDE + pad)
            self.pdf.set_y(self.pdf.get_y() + 0.8)
            self.say(ru, 9.5, "", MUTED, width=LABEL_W - 2 * pad, x=SIDE + pad)
            self.pdf.set_y(y + (height - value_h) / 2)
            self.say(value, size, style, INK, width=value_w - 2 * pad, x=SIDE + LABEL_W + pad)
            self.pdf.set_y(y + height)
        self.pdf.set_y(self.pdf.get_y() + 4 * self.s)

    def _notes(self) -> None:
        """The source system's line and the validity, as the form words them, in both languages."""
        system = self.c.source_system
        for lang, color in _INKS:
            self.say(self.t(lang, "form.source_system", system=system), 10.5, "", color)
            self.pdf.set_y(self.pdf.get_y() + 0.8)
        self.pdf.set_y(self.pdf.get_y() + 1.5)
        self.say(self.both("form.validity"), 10.5, "", INK)

    def _verification_block(self, top: float) -> None:
        """The QR code of the signed payload, the code for a check by number and code, how to check."""
        c = self.c
        self.rule(top, 0.2, RULE)
        url = c.seal_url or c.verify_url
        qr_x, qr_y = SIDE, top + 4
        if url:
            _qr(self.pdf, url, qr_x, qr_y, QR_SIZE)
            self.pdf.set_y(qr_y + QR_SIZE + 0.5)
            for lang in LANGS:
                self.say(self.t(lang, "doc.qr_caption"), 8, "", MUTED, Align.C, QR_SIZE, x=qr_x, scaled=False)
        left = SIDE + QR_SIZE + 7
        width = PAGE_W - SIDE - left
        self.pdf.set_y(top + 6)
        if c.code:
            self.say(self.both("cert.code_label"), 10, "", MUTED, width=width, x=left, scaled=False)
            self.pdf.set_y(self.pdf.get_y() + 0.5)
            self.say(c.code, 24, "B", NAVY, width=width, x=left, height=10, scaled=False)
            self.pdf.set_y(self.pdf.get_y() + 4)
        page = (c.verify_url or c.seal_url).split("?", 1)[0]
        for lang, color in _INKS:
            self.say(self.t(lang, "doc.signed", url=page), 9.2, "", color, width=width, x=left, scaled=False)
            self.pdf.set_y(self.pdf.get_y() + 1.5)
        if c.code:
            self.pdf.set_y(self.pdf.get_y() + 1.5)
            for lang, color in _INKS:
                self.say(self.t(lang, "doc.check_by_code"), 9, "", color, width=width, x=left, scaled=False)
                self.pdf.set_y(self.pdf.get_y() + 0.8)

    def _footer_block(self) -> None:
        y = PAGE_H - BOTTOM - FOOT_H + 1.5
        self.rule(y, 0.8)
        self.rule(y + 1.2, 0.2)
        self.pdf.set_y(y + 2.6)
        for lang in LANGS:
            self.say(self.t(lang, "doc.contact"), 8, "", MUTED, Align.C, scaled=False)


def _qr(pdf: FPDF, url: str, x: float, y: float, size: float) -> None:
    """The QR code of ``url`` as filled squares, with the quiet zone of 4 modules the standard asks for, so that
    a scanner finds it next to the text."""
    qr = segno.make(url, error=QR_ERROR, micro=False, boost_error=False)
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
