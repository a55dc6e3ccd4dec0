"""The verification code of a certificate (bot/domain/verification.py) and the certificate's PDF
(handlers/certificate_pdf.py), without the bot."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader

from bot.core.registry_info import Certificate
from bot.domain.calendar import ALMATY
from bot.domain.verification import (
    CodeFields,
    certificate_code,
    format_code,
    normalize_code,
    same_code,
    valid_until,
)
from bot.i18n import Texts
from handlers.certificate_pdf import render_pdf

KEY = b"test-key"
ISSUED = datetime(2026, 11, 25, 9, 30, 15, 123456, tzinfo=UTC)
FIELDS = CodeFields("QZ-261125-0482913", "900715300451", ISSUED, "tb_info", "Фтизиатрия")
TEXTS = Texts.load()


def test_the_code_is_ten_characters_of_crockford_base32_and_the_same_each_time():
    code = certificate_code(KEY, FIELDS)
    assert len(code) == 10 and set(code) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    assert certificate_code(KEY, FIELDS) == code
    assert format_code(code) == f"{code[:5]}-{code[5:]}"


@pytest.mark.parametrize("change", [
    {"number": "QZ-261125-0482914"}, {"iin": "900715300452"}, {"issued_at": ISSUED + timedelta(seconds=1)},
    {"service": "narcology_info"}, {"source_system": "Наркология"},
])
def test_every_field_the_code_covers_changes_it(change):
    assert certificate_code(KEY, replace(FIELDS, **change)) != certificate_code(KEY, FIELDS)


def test_the_code_does_not_cover_the_mark_and_a_v1_code_is_its_own():
    """Today's code is the same whatever the mark (a number and a code cannot tell it); a code of a certificate
    issued before (v1, over the mark) differs from it and between the two marks."""
    today = certificate_code(KEY, FIELDS)
    v1_observed = certificate_code(KEY, replace(FIELDS, observed=True))
    v1_not = certificate_code(KEY, replace(FIELDS, observed=False))
    assert len({today, v1_observed, v1_not}) == 3


def test_the_code_needs_the_key_and_ignores_what_the_store_does_not_keep():
    assert certificate_code(b"another key", FIELDS) != certificate_code(KEY, FIELDS)
    # The store keeps times to the second, and in UTC: the code is computed the same from what it reads back.
    stored = replace(FIELDS, issued_at=ISSUED.replace(microsecond=0).astimezone(UTC))
    assert certificate_code(KEY, stored) == certificate_code(KEY, FIELDS)
    assert certificate_code(KEY, replace(FIELDS, issued_at=ISSUED.astimezone(ALMATY))) == \
        certificate_code(KEY, FIELDS)


def test_a_code_read_off_paper_is_forgiving():
    code = certificate_code(KEY, FIELDS)
    assert normalize_code(format_code(code).lower()) == code
    assert normalize_code(f" {code[:3]} {code[3:7]}-{code[7:]} ") == code
    assert normalize_code("O0ILl-ABCDE") == "00111ABCDE"  # O is 0; I and L are 1
    assert normalize_code("ABCDE-FGHJ") is None  # too short
    assert normalize_code("ABCDE-FGHJU") is None  # U is not in the alphabet
    assert normalize_code("АВСDE-FGHJK") is None  # Cyrillic look-alikes are not read as Latin letters
    assert same_code(code, code) and not same_code(code, "0000000000")


@given(st.text(max_size=60))
def test_any_text_is_a_code_or_none(text):
    result = normalize_code(text)
    assert result is None or len(result) == 10


def test_validity_is_ten_calendar_days():
    assert valid_until(ISSUED) == ISSUED + timedelta(days=10)


def _certificate(observed: bool) -> Certificate:
    return Certificate(number="QZ-261125-0482913", service="tb_info", issued_at=ISSUED,
                       full_name="Әбдіқадырова Гауһар Асқарқызы", birth_date="2002-09-18",
                       address="Қарағанды қ., Бұқар жырау даңғылы, 33, 5-пәтер", observed=observed,
                       source_system="Фтизиатрия", code="7KQ2M-X9D4A",
                       verify_url="https://qyzmet.example.kz/verify?number=QZ-261125-0482913&code=7KQ2M-X9D4A")


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


@pytest.mark.parametrize("lang", ["kk", "ru"])
@pytest.mark.parametrize("observed", [True, False])
def test_the_pdf_is_readable_text_with_every_kazakh_letter(lang, observed):
    data = render_pdf(TEXTS, lang, _certificate(observed))
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    assert "Сведения/Мәлімет" in text
    assert "Әбдіқадырова Гауһар Асқарқызы" in text and "Бұқар жырау даңғылы" in text
    assert "QZ-261125-0482913" in text and "7KQ2M-X9D4A" in text
    assert "18.09.2002" in text and "25.11.2026" in text
    # The page is bilingual whatever the holder's language: each label in Kazakh, then in Russian.
    assert TEXTS("kk", "form.full_name") in text and TEXTS("ru", "form.full_name") in text
    assert observed_row(observed) in text and observed_row(not observed) not in text
    assert "qyzmet.example.kz/verify" in text.replace(" ", "")
    reader = PdfReader(io.BytesIO(data))
    assert reader.metadata is not None and reader.metadata.title == TEXTS(lang, "service.tb_info.form_title")
    for letter in "әғқңөұүһі":  # each drawn by the font, not replaced: the text comes back as written
        assert letter in text.lower(), letter


def observed_row(observed: bool, service: str = "tb_info") -> str:
    """The observation row as the PDF's text reads back: both labels, then «тұрады / состоит»."""
    mark = "form.observed_yes" if observed else "form.observed_no"
    labels = " ".join(TEXTS(lang, f"service.{service}.observed_label") for lang in ("kk", "ru"))
    return f"{labels} {TEXTS('kk', mark)} / {TEXTS('ru', mark)} "
