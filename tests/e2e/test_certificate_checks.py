"""Checking a certificate, end to end in both languages, as an employer and a holder would: by number and code
(in the bot and on the web page, over real HTTP), by the signed payload of its QR code, and by the holder's
share links; what the holder and the person it is about are told; the limits on wrong codes behind a proxy.

The promise tested hardest: a number and a code never tell the registry mark, whatever is sent."""

from __future__ import annotations

import asyncio
import re
from html import escape
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.domain.certificate_seal import BadSeal
from tests.e2e.test_certificates import LANGS, OWN, code_on, own_certificate, says, verify_in_bot
from tests.harness import CITIZENS, Chat, Harness
from tests.sms_harness import SmsHarness, ask_about

WRONG = "00000-00000"


def wrong_for(code: str) -> str:
    return WRONG if code != WRONG else "11111-11111"


@pytest.fixture
async def psh(emu, database):
    """The bot's HTTP server behind a reverse proxy on 127.0.0.1 (QYZMET_TRUSTED_PROXIES)."""
    harness = SmsHarness(emu, database, trusted_proxies="127.0.0.1")
    await harness.start()
    yield harness
    await harness.close()


async def certificate_of(h: Harness, number: str):
    certificate = await h.services.results.certificate_for(number)
    assert certificate is not None
    return certificate


def marks(h: Harness, lang: str) -> list[str]:
    return [says(h, lang, "form.observed_yes"), says(h, lang, "form.observed_no")]


# By number and code: issued, when, about whom, until when — never the mark ----------------------------------------

@pytest.mark.parametrize("lang", LANGS)
async def test_an_employer_checks_by_number_and_code_in_the_bot_and_the_subject_is_told(h, lang):
    holder, _, number, code = await own_certificate(h, 6031, lang)
    h.drain(holder.user_id)
    employer = Chat(h, 6032, lang)
    await employer.start_in(lang)

    answer = await verify_in_bot(employer, number, code.lower().replace("-", " "))
    assert says(h, lang, "verify.valid", number=number) in answer
    assert says(h, lang, "verify.mark_not_told") in answer
    assert "Сергей И." in answer and "Иванов" not in answer  # the subject's name masked
    assert says(h, lang, "service.tb_info.short") in answer
    assert not any(f"«{mark}»" in answer or f": {mark}" in answer for mark in marks(h, lang))
    told = "\n".join(m.plain_text or "" for m in h.drain(holder.user_id))
    assert says(h, lang, "notice.certificate_checked", number=number, when="@").split("@")[0] in told

    # A wrong code: the same answer as a number never issued, and nobody is told.
    answer = await verify_in_bot(employer, number, wrong_for(code))
    assert says(h, lang, "verify.no_match") in answer and "Сергей" not in answer
    answer = await verify_in_bot(employer, "QZ-261125-0000001", code)
    assert says(h, lang, "verify.no_match") in answer
    assert not h.drain(holder.user_id)

    # Revoked by the issuer: every check says so.
    assert await h.services.certificates.revoke(number)
    assert not await h.services.certificates.revoke(number)
    assert says(h, lang, "verify.revoked", number=number) in await verify_in_bot(employer, number, code)
    # Ten calendar days later it is still the certificate issued (and still revoked).
    h.clock.advance(days=11)
    assert says(h, lang, "verify.revoked", number=number) in await verify_in_bot(employer, number, code)


async def test_an_expired_certificate_is_said_to_be_expired(h):
    _, _, number, code = await own_certificate(h, 6035, "kk")
    employer = Chat(h, 6036, "kk")
    await employer.start_in("kk")
    h.clock.advance(days=11)
    assert says(h, "kk", "verify.expired", number=number) in await verify_in_bot(employer, number, code)


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
    # A button of the check as it was (the mark asked for): the stale-button answer.
    await employer.press_data(employer.last[-1].message_id, "vfy:yes")
    assert says(h, lang, "stale.button") in employer.texts()
    # Nothing was checked yet, so nothing counts against the limit.
    assert await h.services.db.fetchval("SELECT count(*) FROM certificate_checks") == 0


async def normalized_answers(sh: SmsHarness, lang: str, number: str, code: str, service: str) -> list[str]:
    """Every way of asking the web page about a number and a code (the right code, with any mark fields a
    checker might add, wrong codes, reloads), each answer with what differs between two certificates by right
    (the number, the code, the service's name) blanked out."""
    answers = []
    form = {"lang": lang, "number": number, "code": code}
    requests = [
        ("GET", {"number": number, "code": code, "lang": lang}),
        ("POST", form), ("POST", {**form, "status": "yes"}), ("POST", {**form, "status": "no"}),
        ("POST", {**form, "observed": "true"}), ("POST", {**form, "status": "yes", "status2": "no"}),
        ("POST", {**form, "code": wrong_for(code)}), ("POST", form),
    ]
    for method, data in requests:
        if method == "GET":
            response = await sh.client.get(f"{sh.base}/verify", params=data)
        else:
            response = await sh.client.post(f"{sh.base}/verify", data=data)
        text = f"{response.status_code}\n{response.text}"
        for value, blank in ((number, "NUMBER"), (code, "CODE"), (service, "SERVICE")):
            text = text.replace(value, blank).replace(escape(value), blank)
        answers.append(text)
    return answers


@pytest.mark.parametrize("lang", LANGS)
async def test_number_and_code_never_tell_the_mark_whatever_is_sent(sh, lang):
    """Сергей is observed in the TB register and not in the narcology one: the two certificates answer every
    request alike, but for their number, code and service — so nothing there can tell the mark."""
    _, _, tb, tb_code = await own_certificate(sh, 6101, lang, service="фтизиатрия")
    _, _, narco, narco_code = await own_certificate(sh, 6102, lang, service="Наркология")
    tb_answers = await normalized_answers(sh, lang, tb, tb_code, says(sh, lang, "service.tb_info.short"))
    narco_answers = await normalized_answers(sh, lang, narco, narco_code,
                                             says(sh, lang, "service.narcology_info.short"))
    assert tb_answers == narco_answers
    for text in tb_answers:
        for mark in marks(sh, lang):
            assert f"«{mark}»" not in text and f"<dd>{escape(mark)}</dd>" not in text
    assert "Сергей И." in tb_answers[1] and escape(says(sh, lang, "verify.valid", number="NUMBER")) in tb_answers[1]

    # And in the bot.
    employer = Chat(sh, 6103, lang)
    await employer.start_in(lang)
    in_bot = []
    for number, code, service in ((tb, tb_code, "service.tb_info.short"),
                                  (narco, narco_code, "service.narcology_info.short")):
        text = await verify_in_bot(employer, number, code)
        in_bot.append(text.replace(number, "N").replace(says(sh, lang, service), "S"))
    assert in_bot[0] == in_bot[1]


@pytest.mark.parametrize("lang", LANGS)
async def test_the_web_page_checks_by_number_and_code(sh, lang):
    _, certificate, number, code = await own_certificate(sh, 6071, lang)
    link = re.search(r"http://\S+/verify\?\S+", certificate.plain_text or "")
    assert link, certificate.plain_text
    assert link.group(0).startswith(sh.base)  # the link names the port the server listens on

    page = await sh.client.get(link.group(0), headers={"Accept-Language": f"{lang}-KZ,en;q=0.5"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'<html lang="{lang}">' in page.text and escape(says(sh, lang, "web.title")) in page.text
    assert escape(says(sh, lang, "web.issuer")) in page.text and "1414" in page.text
    assert f'value="{number}"' in page.text and f'value="{code}"' in page.text  # filled in from the link
    assert "<script" not in page.text.lower()
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    other = "ru" if lang == "kk" else "kk"
    switched = await sh.client.get(f"{sh.base}/verify?lang={other}")
    assert f'<html lang="{other}">' in switched.text and escape(says(sh, other, "web.title")) in switched.text

    form = {"lang": lang, "number": number, "code": code}
    answer = await sh.client.post(f"{sh.base}/verify", data=form)
    assert answer.status_code == 200 and 'id="verdict" class="verdict ok"' in answer.text
    assert escape(says(sh, lang, "verify.valid", number=number)) in answer.text and "Сергей И." in answer.text
    incomplete = await sh.client.post(f"{sh.base}/verify", data={"lang": lang, "number": number})
    assert incomplete.status_code == 400 and escape(says(sh, lang, "web.bad_input")) in incomplete.text
    for bad, key in (({"number": "hello"}, "verify.bad_number"), ({"code": "12345"}, "verify.bad_code")):
        slip = await sh.client.post(f"{sh.base}/verify", data={**form, **bad})
        assert slip.status_code == 400 and escape(says(sh, lang, key)) in slip.text
    # Not a form at all: a polite 400, never a 500.
    for body, kind in ((b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded"),
                       (bytes(range(256)), "application/octet-stream"), (b"%ff%fe=%ff", "text/plain"),
                       (b"--x\r\nbroken", "multipart/form-data; boundary=x")):
        raw = await sh.client.post(f"{sh.base}/verify?lang={lang}", content=body, headers={"Content-Type": kind})
        assert raw.status_code == 400, (kind, raw.status_code)
        assert escape(says(sh, lang, "web.bad_input")) in raw.text

    sh.clock.advance(days=11)
    expired = await sh.client.post(f"{sh.base}/verify", data=form)
    assert escape(says(sh, lang, "verify.expired", number=number)) in expired.text

    rows = await sh.services.db.fetchall("SELECT channel, client, outcome, via FROM certificate_checks")
    assert [(r[0], r[2], r[3]) for r in rows] == [("web", "valid", "code")] * 2
    assert all("127.0.0.1" not in r[1] for r in rows)


# Limits: they slow guessing, and never refuse the right number and code --------------------------------------------

async def test_wrong_codes_never_lock_out_the_genuine_check(h):
    lang = "ru"
    _, _, number, code = await own_certificate(h, 6051, lang)
    wrong = wrong_for(code)
    guesser = Chat(h, 6052, lang)
    await guesser.start_in(lang)
    for _ in range(5):
        assert says(h, lang, "verify.no_match") in await verify_in_bot(guesser, number, wrong)
    # The guesser's next wrong tries are refused…
    assert says(h, lang, "verify.limited") in await verify_in_bot(guesser, number, wrong)
    # …and so are wrong tries on this number from anyone else (five wrong codes on it)…
    other = Chat(h, 6053, lang)
    await other.start_in(lang)
    assert says(h, lang, "verify.limited") in await verify_in_bot(other, number, wrong)
    # …but the right number and code go through, for the employer and even for the guesser.
    assert says(h, lang, "verify.valid", number=number) in await verify_in_bot(other, number, code)
    assert says(h, lang, "verify.valid", number=number) in await verify_in_bot(guesser, number, code)

    # Every check is in the audit trail: the client as a keyed hash, never the code.
    rows = await h.services.db.fetchall("SELECT channel, client, number, outcome FROM certificate_checks ORDER BY at")
    assert [r[3] for r in rows] == ["no_match"] * 5 + ["limited", "limited", "valid", "valid"]
    assert all(r[1].startswith("telegram:") and "6052" not in r[1] and "6053" not in r[1] for r in rows)
    dump = "\n".join(" ".join(str(v) for v in r) for r in await h.services.db.fetchall(
        "SELECT * FROM certificate_checks"))
    assert code.replace("-", "") not in dump and code not in dump and wrong.replace("-", "") not in dump


async def test_behind_the_proxy_one_clients_wrong_codes_do_not_block_another(psh):
    _, _, number, code = await own_certificate(psh, 6081, "ru")
    wrong = wrong_for(code)

    async def check(client: str, number: str, code: str):
        return await psh.client.post(f"{psh.base}/verify", data={"lang": "ru", "number": number, "code": code},
                                     headers={"X-Forwarded-For": f"198.51.100.7, {client}"})

    for n in range(5):  # five wrong tries on five numbers from one client
        answer = await check("203.0.113.10", f"QZ-261125-000000{n}", wrong)
        assert answer.status_code == 200 and escape(says(psh, "ru", "verify.no_match")) in answer.text
    limited = await check("203.0.113.10", "QZ-261125-0000009", wrong)
    assert limited.status_code == 429 and escape(says(psh, "ru", "verify.limited")) in limited.text
    # Another client behind the same proxy is not blocked; a forged left-most entry changes nothing.
    other = await check("203.0.113.20", "QZ-261125-0000009", wrong)
    assert other.status_code == 200 and escape(says(psh, "ru", "verify.no_match")) in other.text
    # The right pair always goes through, even from the guesser.
    right = await check("203.0.113.10", number, code)
    assert right.status_code == 200 and escape(says(psh, "ru", "verify.valid", number=number)) in right.text
    clients = {r[0] for r in await psh.services.db.fetchall("SELECT client FROM certificate_checks")}
    assert len(clients) == 2 and not any("203.0.113" in c for c in clients)


async def test_without_trusted_proxies_the_header_is_not_believed(sh):
    """A client cannot escape its limit by naming another address itself."""
    _, _, number, code = await own_certificate(sh, 6085, "ru")
    for n in range(5):
        await sh.client.post(f"{sh.base}/verify", data={"lang": "ru", "number": f"QZ-261125-000000{n}",
                                                        "code": WRONG}, headers={"X-Forwarded-For": f"192.0.2.{n}"})
    limited = await sh.client.post(f"{sh.base}/verify", data={"lang": "ru", "number": "QZ-261125-0000009",
                                                              "code": WRONG}, headers={"X-Forwarded-For": "192.0.2.99"})
    assert limited.status_code == 429
    right = await sh.client.post(f"{sh.base}/verify", data={"lang": "ru", "number": number, "code": code})
    assert right.status_code == 200


async def test_wrong_codes_sent_at_once_are_limited_all_the_same(sh):
    """The limit holds when checks arrive together (on PostgreSQL their units run at the same time)."""
    _, _, number, code = await own_certificate(sh, 6091, "ru")
    answers = await asyncio.gather(*(
        sh.client.post(f"{sh.base}/verify", data={"lang": "ru", "number": number, "code": wrong_for(code)})
        for _ in range(12)))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [429] * 7
    right = await sh.client.post(f"{sh.base}/verify", data={"lang": "ru", "number": number, "code": code})
    assert right.status_code == 200


# The QR code's signed payload -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
async def test_the_qr_payload_shows_the_form_as_issued_and_a_changed_one_is_refused(sh, lang):
    holder, _, number, _ = await own_certificate(sh, 6111, lang)
    sh.drain(holder.user_id)
    certificate = await certificate_of(sh, number)
    assert certificate.seal_url.startswith(f"{sh.base}/verify?p=")
    token = parse_qs(urlsplit(certificate.seal_url).query)["p"][0]
    fields = sh.services.issuer.unseal(token)
    assert fields.number == number and fields.observed is True and fields.full_name == "Иванов Сергей Петрович"

    page = await sh.client.get(f"{certificate.seal_url}&lang={lang}")
    assert page.status_code == 200 and 'class="verdict ok"' in page.text
    assert escape(says(sh, lang, "verify.seal_valid", number=number)) in page.text
    assert "Иванов Сергей Петрович" in page.text and "15.07.1990" in page.text
    assert f"<dd>{escape(says(sh, lang, 'form.observed_yes'))}</dd>" in page.text
    await sh.delivered()
    told = "\n".join(m.plain_text or "" for m in sh.emu.messages(holder.user_id))
    assert says(sh, lang, "notice.certificate_checked", number=number, when="@").split("@")[0] in told

    # One character of the payload changed: refused, and nothing of the form shown.
    i = len(token) // 2
    changed = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
    with pytest.raises(BadSeal):
        sh.services.issuer.unseal(changed)
    forged = await sh.client.get(f"{sh.base}/verify", params={"p": changed, "lang": lang})
    assert forged.status_code == 200 and 'class="verdict bad"' in forged.text
    assert escape(says(sh, lang, "verify.seal_forged")) in forged.text and "Иванов" not in forged.text

    assert await sh.services.certificates.revoke(number)
    revoked = await sh.client.get(f"{certificate.seal_url}&lang={lang}")
    assert escape(says(sh, lang, "verify.revoked", number=number)) in revoked.text

    keys = (await sh.client.get(f"{sh.base}/.well-known/jwks.json")).json()
    assert keys["keys"][0]["kty"] == "EC" and keys["keys"][0]["crv"] == "P-256" and "d" not in keys["keys"][0]
    pem = await sh.client.get(f"{sh.base}/.well-known/qyzmet-issuer.pem")
    assert pem.text.startswith("-----BEGIN CERTIFICATE-----")


# Share links -------------------------------------------------------------------------------------------------------

async def make_share(h: Harness, chat: Chat, lifetime_key: str) -> str:
    await chat.press(says(h, chat.lang, "btn.share"))
    assert says(h, chat.lang, "share.ask_lifetime", number="@").split("@")[0] in chat.texts()
    await chat.press(says(h, chat.lang, lifetime_key))
    photos = [m for m in chat.last if m.photo]
    assert len(photos) == 1, chat.texts()  # the link as a QR code to show from the phone, with its text
    match = re.search(r"http://\S+/s/\S+", photos[0].plain_text or "")
    assert match, photos[0].plain_text
    return match.group(0)


@pytest.mark.parametrize("lang", LANGS)
async def test_a_share_link_shows_the_whole_form_to_its_holder_and_is_seen_in_about_me(sh, lang):
    holder, _, number, _ = await own_certificate(sh, 6121, lang)
    url = await make_share(sh, holder, "share.btn.1h")
    sh.drain(holder.user_id)

    page = await sh.client.get(url, params={"lang": lang})
    assert page.status_code == 200 and 'class="verdict ok"' in page.text
    assert "Иванов Сергей Петрович" in page.text and "15.07.1990" in page.text
    assert f"<dd>{escape(says(sh, lang, 'form.observed_yes'))}</dd>" in page.text
    assert escape(says(sh, lang, "web.issuer")) in page.text
    # /about_me shows the opening at once: it was recorded before the page was answered.
    await holder.send("/about_me")
    about = holder.texts()
    assert says(sh, lang, "about.via.link") in about and number in about
    assert says(sh, lang, "about.share.active", number=number, until="@", count=1).split("@")[0] in about
    # The holder is told in their chat too.
    await sh.delivered()
    told = "\n".join(m.plain_text or "" for m in sh.emu.messages(holder.user_id))
    assert says(sh, lang, "notice.share_opened", number=number, when="@").split("@")[0] in told

    # Revoked from /about_me: the page then says only that.
    await holder.press(says(sh, lang, "share.btn.revoke_one", number=number, until="@").split(",")[0])
    assert says(sh, lang, "share.revoked") in holder.texts()
    gone = await sh.client.get(url, params={"lang": lang})
    assert gone.status_code == 410 and escape(says(sh, lang, "share.page.revoked")) in gone.text
    assert "Иванов" not in gone.text and "Сергей" not in gone.text and number not in gone.text
    # Nothing of the link's secret or of the mark is stored.
    secret = url.rsplit(".", 1)[1]
    dump = " ".join(str(v) for r in await sh.services.db.fetchall("SELECT * FROM certificate_shares") for v in r)
    assert secret not in dump


@pytest.mark.parametrize("lang", LANGS)
async def test_an_expired_or_unknown_link_shows_nothing_but_that(sh, lang):
    holder, _, number, _ = await own_certificate(sh, 6131, lang)
    url = await make_share(sh, holder, "share.btn.1h")
    sh.clock.advance(minutes=61)
    expired = await sh.client.get(url, params={"lang": lang})
    assert expired.status_code == 410 and escape(says(sh, lang, "share.page.expired")) in expired.text
    assert "Иванов" not in expired.text and number not in expired.text
    for token in (url.rsplit("/", 1)[1][:-1] + "x", "nothing", "a.b", "%00"):
        unknown = await sh.client.get(f"{sh.base}/s/{token}", params={"lang": lang})
        assert unknown.status_code == 404 and escape(says(sh, lang, "share.page.unknown")) in unknown.text


async def test_a_link_ends_with_the_certificate_and_only_its_holder_makes_one(sh):
    holder, _, number, _ = await own_certificate(sh, 6141, "kk")
    url = await make_share(sh, holder, "share.btn.end")
    sh.clock.advance(days=9, hours=23)
    assert (await sh.client.get(url)).status_code == 200
    sh.clock.advance(hours=2)
    assert (await sh.client.get(url)).status_code == 410
    # Someone else's forged button: the stale-button answer, no link.
    stranger = Chat(sh, 6142, "kk")
    await stranger.start_in("kk")
    await stranger.press(OWN["kk"])
    await stranger.press("фтизиатрия")
    await stranger.identify("Айгерім")
    await stranger.press_data(stranger.last[-1].message_id, f"shr:{number}:1h")
    assert not any(m.photo for m in stranger.last)
    assert says(sh, "kk", "stale.button") in stranger.texts()


async def test_the_requester_shares_a_consented_certificate_and_the_subject_is_told(sh):
    requester = Chat(sh, 6151, "ru")
    number = await ask_about(requester, "ru", "Ерлан")
    erlan = CITIZENS["Ерлан"]["phone"]
    await requester.send(sh.phone.code(erlan))
    code_on(sh, "ru", next(m for m in requester.last if m.protect_content).plain_text or "")
    url = await make_share(sh, requester, "share.btn.1d")
    before = len(sh.phone.inbox.get(erlan, []))
    page = await sh.client.get(url, params={"lang": "ru"})
    assert page.status_code == 200 and "Жақсылықов Ерлан Серікұлы" in page.text
    await sh.delivered()
    assert any(number in text for text in sh.phone.inbox[erlan][before:])  # the subject is told by SMS


@pytest.mark.parametrize("lang", LANGS)
async def test_a_link_is_made_from_about_me_too(sh, lang):
    holder, _, number, _ = await own_certificate(sh, 6161, lang)
    await holder.send("/about_me")
    assert says(sh, lang, "about.in_force.title") in holder.texts() and number in holder.texts()
    await holder.press(says(sh, lang, "about.btn.share", number=number))
    await holder.press(says(sh, lang, "share.btn.1d"))
    photos = [m for m in holder.last if m.photo]
    assert len(photos) == 1 and "/s/" in (photos[0].plain_text or "")
    # Ten days later the certificate is no longer in force: nothing to share, and no button for it.
    sh.clock.advance(days=11)
    await holder.send("/about_me")
    await holder.identify("Сергей")
    assert says(sh, lang, "about.btn.share", number=number) not in " ".join(holder.buttons())


async def test_responses_name_no_server_and_metrics_carry_no_created_series(sh):
    page = await sh.client.get(f"{sh.base}/verify")
    assert "server" not in {k.lower() for k in page.headers}
    metrics = await sh.client.get(f"{sh.base}/metrics")
    assert metrics.status_code == 200 and "_created" not in metrics.text
