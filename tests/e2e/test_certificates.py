"""Certificates anyone can verify, end to end in both languages: the code on the certificate, the PDF (read
back from what the bot sent through the Bot API emulator), /verify in the bot, the web page over real HTTP,
the rate limit on wrong codes, and the holder told of each check."""

from __future__ import annotations

import asyncio
import io
import re
from html import escape

import pytest
from pypdf import PdfReader

from bot.sandbox.emulator import SentMessage
from tests.harness import CITIZENS, Chat, Harness
from tests.repos import repos
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


async def verify_in_bot(chat: Chat, number: str, code: str, observed: bool) -> str:
    t = chat.h.services.texts
    await chat.send("/verify")
    assert t(chat.lang, "verify.ask_number").split("\n")[0] in chat.texts()
    await chat.send(number)
    await chat.send(code)
    await chat.press(t(chat.lang, "form.observed_yes" if observed else "form.observed_no"))
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


# /verify in the bot ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
async def test_an_employer_verifies_in_the_bot_and_the_holder_is_told(h, lang):
    holder, _, number, code = await own_certificate(h, 6031, lang)
    h.drain(holder.user_id)
    employer = Chat(h, 6032, lang)
    await employer.start_in(lang)

    answer = await verify_in_bot(employer, number, code.lower().replace("-", " "), observed=True)
    assert says(h, lang, "verify.status_match", status=says(h, lang, "form.observed_yes")) in answer
    assert says(h, lang, "verify.valid") in answer
    assert "Сергей И." in answer and "Иванов" not in answer  # the holder's name masked
    assert says(h, lang, "service.tb_info.short") in answer and number in answer
    told = "\n".join(m.plain_text or "" for m in h.drain(holder.user_id))
    assert says(h, lang, "notice.certificate_checked", number=number, when="@").split("@")[0] in told

    # The status on the paper changed: the code is genuine, the paper is not.
    answer = await verify_in_bot(employer, number, code, observed=False)
    assert says(h, lang, "verify.status_mismatch", status=says(h, lang, "form.observed_no")) in answer
    told = "\n".join(m.plain_text or "" for m in h.drain(holder.user_id))
    assert number in told and says(h, lang, "notice.certificate_check_mismatch", number=number,
                                   when="@").split("@")[0] in told

    # A wrong code: the same answer as a number never issued, and the holder hears nothing.
    wrong = "00000-00000" if code != "00000-00000" else "11111-11111"
    answer = await verify_in_bot(employer, number, wrong, observed=True)
    assert says(h, lang, "verify.no_match") in answer and "Сергей" not in answer
    answer = await verify_in_bot(employer, "QZ-261125-0000001", code, observed=True)
    assert says(h, lang, "verify.no_match") in answer
    assert not h.drain(holder.user_id)

    # Ten calendar days later it is still the certificate issued, but no longer valid.
    h.clock.advance(days=11)
    answer = await verify_in_bot(employer, number, code, observed=True)
    assert says(h, lang, "verify.expired") in answer
    assert says(h, lang, "verify.status_match", status=says(h, lang, "form.observed_yes")) in answer


@pytest.mark.parametrize("lang", LANGS)
async def test_the_bot_asks_again_for_what_is_not_a_number_or_a_code(h, lang):
    employer = Chat(h, 6041, lang)
    await employer.start_in(lang)
    await employer.send("/verify")
    await employer.send("hello")
    assert says(h, lang, "verify.bad_number") in employer.texts()
    await employer.send("qz 261125 0482913")
    assert says(h, lang, "verify.ask_code") in employer.texts()
    await employer.send("12345")
    assert says(h, lang, "verify.bad_code") in employer.texts()
    await employer.photo()
    assert says(h, lang, "verify.ask_code") in employer.texts()
    # Nothing was checked yet, so nothing counts against the limit.
    assert await h.services.db.fetchval("SELECT count(*) FROM certificate_checks") == 0


async def test_wrong_codes_are_limited_per_client_and_per_number(h):
    lang = "ru"
    _, _, number, code = await own_certificate(h, 6051, lang)
    wrong = "00000-00000" if code != "00000-00000" else "11111-11111"
    first = Chat(h, 6052, lang)
    await first.start_in(lang)
    for _ in range(5):
        assert says(h, lang, "verify.no_match") in await verify_in_bot(first, number, wrong, observed=True)
    # Now even the right code is not checked for this client…
    assert says(h, lang, "verify.limited") in await verify_in_bot(first, number, code, observed=True)
    # …nor for anyone else on this number (5 wrong codes on it).
    second = Chat(h, 6053, lang)
    await second.start_in(lang)
    assert says(h, lang, "verify.limited") in await verify_in_bot(second, number, code, observed=True)
    # A quarter of an hour later it answers again.
    h.clock.advance(minutes=16)
    answer = await verify_in_bot(second, number, code, observed=True)
    assert says(h, lang, "verify.status_match", status=says(h, lang, "form.observed_yes")) in answer

    # Every check is in the audit trail: the client as a keyed hash, never the code or the status seen.
    rows = await h.services.db.fetchall("SELECT channel, client, number, outcome FROM certificate_checks ORDER BY at")
    assert [r[3] for r in rows] == ["no_match"] * 5 + ["limited", "limited", "valid"]
    assert {r[0] for r in rows} == {"telegram"} and {r[2] for r in rows} == {number}
    assert all(r[1].startswith("telegram:") and "6052" not in r[1] and "6053" not in r[1] for r in rows)
    dump = "\n".join(" ".join(str(v) for v in r) for r in await h.services.db.fetchall(
        "SELECT * FROM certificate_checks"))
    assert code not in dump and code.replace("-", "") not in dump and wrong.replace("-", "") not in dump


@pytest.mark.parametrize("lang", LANGS)
async def test_a_subject_without_telegram_is_told_by_sms(h, lang):
    requester = Chat(h, 6061, lang)
    number = await ask_about(requester, lang, "Ерлан")
    erlan = CITIZENS["Ерлан"]["phone"]
    await requester.send(h.phone.code(erlan))
    code = code_on(h, lang, next(m for m in requester.last if m.protect_content).plain_text or "")
    sms_before = len(h.phone.inbox[erlan])
    employer = Chat(h, 6062, lang)
    await employer.start_in(lang)
    # Ерлан is not in the TB register: the paper says «не состоит».
    answer = await verify_in_bot(employer, number, code, observed=False)
    assert says(h, lang, "verify.status_match", status=says(h, lang, "form.observed_no")) in answer
    assert "Ерлан Ж." in answer
    await h.delivered()
    new = h.phone.inbox[erlan][sms_before:]
    assert len(new) == 1 and number in new[0], new
    # The same check again within the hour: no second SMS.
    await verify_in_bot(employer, number, code, observed=False)
    await h.delivered()
    assert len(h.phone.inbox[erlan]) == sms_before + 1


# The web page -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
async def test_the_web_page_checks_a_certificate(sh, lang):
    _, certificate, number, code = await own_certificate(sh, 6071, lang)
    link = re.search(r"http://\S+/verify\?\S+", certificate.plain_text or "")
    assert link, certificate.plain_text
    assert link.group(0).startswith(sh.base)  # the link names the port the server listens on

    page = await sh.client.get(link.group(0), headers={"Accept-Language": f"{lang}-KZ,en;q=0.5"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'<html lang="{lang}">' in page.text and escape(says(sh, lang, "web.title")) in page.text
    assert f'value="{number}"' in page.text and f'value="{code}"' in page.text  # filled in from the QR link
    assert "<script" not in page.text.lower()
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    other = "ru" if lang == "kk" else "kk"
    switched = await sh.client.get(f"{sh.base}/verify?lang={other}")
    assert f'<html lang="{other}">' in switched.text and escape(says(sh, other, "web.title")) in switched.text

    form = {"lang": lang, "number": number, "code": code, "status": "yes"}
    answer = await sh.client.post(f"{sh.base}/verify", data=form)
    assert answer.status_code == 200
    assert escape(says(sh, lang, "verify.status_match", status=says(sh, lang, "form.observed_yes"))) in answer.text
    assert escape(says(sh, lang, "verify.valid")) in answer.text and "Сергей И." in answer.text
    tampered = await sh.client.post(f"{sh.base}/verify", data={**form, "status": "no"})
    assert escape(says(sh, lang, "verify.status_mismatch", status=says(sh, lang, "form.observed_no"))) \
        in tampered.text
    incomplete = await sh.client.post(f"{sh.base}/verify", data={"lang": lang, "number": number})
    assert incomplete.status_code == 400 and escape(says(sh, lang, "web.bad_input")) in incomplete.text
    for bad, key in (({"number": "hello"}, "verify.bad_number"), ({"code": "12345"}, "verify.bad_code")):
        slip = await sh.client.post(f"{sh.base}/verify", data={**form, **bad})
        assert slip.status_code == 400 and escape(says(sh, lang, key)) in slip.text

    sh.clock.advance(days=11)
    expired = await sh.client.post(f"{sh.base}/verify", data=form)
    assert escape(says(sh, lang, "verify.expired")) in expired.text

    rows = await repos(sh.services).db.fetchall("SELECT channel, client, outcome FROM certificate_checks")
    assert [(r[0], r[2]) for r in rows] == [("web", "valid"), ("web", "status_mismatch"), ("web", "valid")]
    assert all("127.0.0.1" not in r[1] for r in rows)


async def test_the_web_page_limits_wrong_codes_per_address(sh):
    _, _, number, code = await own_certificate(sh, 6081, "ru")
    wrong = "00000-00000" if code != "00000-00000" else "11111-11111"
    for n in range(5):
        answer = await sh.client.post(f"{sh.base}/verify", data={"lang": "ru", "number": f"QZ-261125-000000{n}",
                                                                  "code": wrong, "status": "yes"})
        assert answer.status_code == 200 and escape(says(sh, "ru", "verify.no_match")) in answer.text
    # Five wrong tries on five numbers from one address: the sixth, even right, is refused.
    limited = await sh.client.post(f"{sh.base}/verify", data={"lang": "ru", "number": number, "code": code,
                                                               "status": "yes"})
    assert limited.status_code == 429 and escape(says(sh, "ru", "verify.limited")) in limited.text


async def test_wrong_codes_sent_at_once_are_limited_all_the_same(sh):
    """The limit holds when checks arrive together (on PostgreSQL their units run at the same time)."""
    _, _, number, code = await own_certificate(sh, 6091, "ru")
    wrong = "00000-00000" if code != "00000-00000" else "11111-11111"
    answers = await asyncio.gather(*(
        sh.client.post(f"{sh.base}/verify", data={"lang": "ru", "number": number, "code": wrong, "status": "yes"})
        for _ in range(12)))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [429] * 7
    rows = await repos(sh.services).db.fetchall("SELECT outcome FROM certificate_checks")
    assert sorted(r[0] for r in rows) == ["limited"] * 7 + ["no_match"] * 5


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
