"""Certificates anyone can verify, end to end in both languages: the code on the certificate, the PDF (read
back from what the bot sent through the Bot API emulator), /verify in the bot, the web page over real HTTP,
the rate limit on wrong codes, and the holder told of each check."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from bot.sandbox.emulator import SentMessage
from tests.harness import CITIZENS, Chat, Harness
from tests.sms_harness import ask_about

LANGS = ["ru", "kk"]
OWN = {"ru": "Сведения о себе", "kk": "Өзім туралы"}
NUMBER = re.compile(r"QZ-\d{6}-\d{7}")


async def columns_of(h: Harness, table: str) -> set[str]:
    """The columns of a table, from the engine's catalogue."""
    assert h.services is not None
    db = h.services.db
    if db.engine == "sqlite":
        rows = await db.fetchall("SELECT name FROM pragma_table_info(?)", (table,))
    else:
        rows = await db.fetchall("SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                                 (table,))
    assert rows, table
    return {r[0] for r in rows}


def code_on(h: Harness, lang: str, text: str) -> str:
    """The verification code printed on a certificate."""
    head = h.services.texts(lang, "cert.code", code="@").split("@")[0]
    match = re.search(r"[0-9A-Z]{5}-[0-9A-Z]{5}", text.split(head, 1)[1])
    assert match, text
    return match.group(0)


async def own_certificate(h: Harness, user_id: int, lang: str, name: str = "Сергей",
                          service: str = "фтизиатрия") -> tuple[Chat, SentMessage, str, str]:
    """``name`` identifies and asks for their own information; (chat, certificate message, number, code)."""
    chat = Chat(h, user_id, lang)
    await chat.start_in(lang)
    await chat.press(OWN[lang])
    await chat.press(service)
    await chat.identify(name)
    certificate = next(m for m in chat.last if m.protect_content)
    text = certificate.plain_text or ""
    match = NUMBER.search(text)
    assert match, text
    return chat, certificate, match.group(0), code_on(h, lang, text)


async def pdf_of(h: Harness, chat: Chat) -> tuple[SentMessage, str]:
    """Press «PDF» under the certificate: the document the bot sent, and the text read back from it."""
    await chat.press(h.services.texts(chat.lang, "btn.pdf"))
    documents = [m for m in chat.last if m.document]
    assert len(documents) == 1, chat.texts()
    document = documents[0]
    assert h.bot is not None
    file = await h.bot.application.bot.get_file(document.document["file_id"])  # type: ignore[index]
    data = bytes(await file.download_as_bytearray())
    assert data.startswith(b"%PDF-")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return document, " ".join(text.split())


async def verify_in_bot(chat: Chat, number: str, code: str) -> str:
    """/verify in the bot: the number, then the code; the answer."""
    t = chat.h.services.texts
    await chat.send("/verify")
    assert t(chat.lang, "verify.ask_number").split("\n")[0] in chat.texts()
    await chat.send(number)
    await chat.send(code)
    return chat.texts()


def says(h: Harness, lang: str, key: str, **params: object) -> str:
    return h.services.texts(lang, key, **params)


# The certificate and its PDF -----------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
async def test_the_certificate_shows_a_code_and_the_holder_gets_it_as_a_signed_pdf_to_keep(h, lang):
    chat, certificate, number, code = await own_certificate(h, 6001, lang)
    text = certificate.plain_text or ""
    assert says(h, lang, "cert.code", code=code) in text
    assert f"/verify?number={number}&code={code}" in text
    assert says(h, lang, "btn.pdf") in [b for b, _ in h.emu.inline_buttons(certificate)]

    document, pdf = await pdf_of(h, chat)
    assert not document.protect_content  # the holder saves, prints and forwards it: its signature guards it
    assert document.document["file_name"] == f"{number}.pdf"  # type: ignore[index]
    assert number in (document.plain_text or "")
    assert "Иванов Сергей Петрович" in pdf and number in pdf and code in pdf
    # One page in both languages, whatever the holder's: Сергей is observed in the TB register.
    t = h.services.texts
    labels = f"{t('kk', 'service.tb_info.observed_label')} {t('ru', 'service.tb_info.observed_label')}"
    assert f"{labels} {t('kk', 'form.observed_yes')} / {t('ru', 'form.observed_yes')} " in pdf
    assert t("kk", "form.full_name") in pdf and t("ru", "form.full_name") in pdf and "Сведения/Мәлімет" in pdf
    assert "Деректер «Фтизиатрия» ақпараттық жүйесімен берілген" in pdf
    assert "Данные предоставлены информационной системой «Фтизиатрия»" in pdf
    # Nothing of it was stored: the database knows it was delivered twice, to whom, and when.
    assert await h.services.db.fetchval("SELECT count(*) FROM deliveries WHERE number = ?", (number,)) == 2
    columns = await columns_of(h, "certificates")
    assert not columns & {"observed", "status", "code"}, columns


@pytest.mark.parametrize("lang", LANGS)
async def test_the_requester_gets_the_pdf_too_and_nobody_else(h, lang):
    chat = Chat(h, 6011, lang)
    number = await ask_about(chat, lang, "Ерлан")
    await chat.send(h.phone.code(CITIZENS["Ерлан"]["phone"]))
    certificate = next(m for m in chat.last if m.protect_content)
    code = code_on(h, lang, certificate.plain_text or "")
    _, pdf = await pdf_of(h, chat)
    assert "Жақсылықов Ерлан Серікұлы" in pdf and "Шымкент қ., Тәуке хан даңғылы, 11" in pdf
    assert number in pdf and code in pdf

    # Someone else, identified as another citizen, with a forged button: the stale-button answer, no PDF.
    stranger = Chat(h, 6012, lang)
    await stranger.start_in(lang)
    await stranger.press(OWN[lang])
    await stranger.press("фтизиатрия")
    await stranger.identify("Айгерім")
    menu = stranger.last[-1]
    await stranger.press_data(menu.message_id, f"pdf:{number}")
    assert not any(m.document for m in stranger.last)
    assert says(h, lang, "stale.button") in stranger.texts()


@pytest.mark.parametrize("lang", LANGS)
async def test_no_pdf_after_the_ten_days(h, lang):
    chat, _, number, _ = await own_certificate(h, 6021, lang)
    h.clock.advance(days=11)
    await chat.press(says(h, lang, "btn.pdf"))  # the identity has lapsed too: identify first
    await chat.identify("Сергей")
    assert not any(m.document for m in chat.last)
    assert says(h, lang, "cert.pdf_expired", number=number, when="@").split("@")[0] in chat.texts()


# The checks (by number and code, by the QR payload, by share links) are in test_certificate_checks.py.


@pytest.mark.parametrize("lang", LANGS)
async def test_a_result_pushed_after_consent_by_sms_carries_the_code_and_the_pdf_button(sh, lang):
    chat = Chat(sh, 6091, lang)
    number = await ask_about(chat, lang, "Ерлан")
    erlan = CITIZENS["Ерлан"]["phone"]
    response = await sh.sms_in(erlan, sh.phone.code(erlan), "cert-in-1")
    assert response.status_code == 200
    pushed = sh.drain(chat.user_id)
    certificate = next(m for m in pushed if m.protect_content)
    code = code_on(sh, lang, certificate.plain_text or "")
    assert says(sh, lang, "btn.pdf") in [b for b, _ in sh.emu.inline_buttons(certificate)]
    chat.last = pushed
    _, pdf = await pdf_of(sh, chat)
    assert number in pdf and code in pdf and "Жақсылықов Ерлан Серікұлы" in pdf
