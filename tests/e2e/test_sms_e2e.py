"""The SMS channel end to end, over real HTTP: signed webhooks in, replies out through the outbox, results
pushed to the requester's Telegram chat through the Bot API emulator. kk and ru for each."""

from __future__ import annotations

import pytest

from bot.core.sms_sending import SUPPRESSED
from bot.domain.calendar import ALMATY
from tests.repos import repos, send_sms
from tests.sms_harness import CITIZENS, Chat, SmsHarness, W, ask_about, pushed_text

LANGS = ["ru", "kk"]
ERLAN = CITIZENS["Ерлан"]["phone"]      # no Telegram account: the SMS-only subject
AIGERIM = CITIZENS["Айгерім"]["phone"]  # applicant of the seeded applications
SERGEI = CITIZENS["Сергей"]["phone"]


@pytest.mark.parametrize("lang", LANGS)
async def test_consent_by_reply_pushes_result_to_requester(sh, lang):
    chat = Chat(sh, 3001, lang)
    number = await ask_about(chat, lang, "Ерлан")
    code = sh.phone.code(ERLAN)
    sent_before = len(sh.inbox(ERLAN))

    response = await sh.sms_in("8 777 222 33 44", f"{W[lang]['yes'].lower()} {code[:3]} {code[3:]}", "in-1")
    assert response.status_code == 200

    text, messages = pushed_text(sh, chat)
    certificate = next(m for m in messages if m.protect_content)
    assert number in text and "Жақсылықов Ерлан Серікұлы" in certificate.plain_text
    consent = await repos(sh.services).apps.consent(number)
    assert consent.status == "given"
    replies = sh.inbox(ERLAN)[sent_before:]
    # One SMS, the reply: consent taken, to whom (masked) and when the data went — no second notice.
    assert len(replies) == 1 and W[lang]["given"] in replies[0] and "Сергей И." in replies[0], replies
    # The reply carries no registry result: nothing about observation goes by SMS.
    assert not any("наблюд" in r or "бақылау" in r for r in replies)


@pytest.mark.parametrize("lang", LANGS)
async def test_bad_signature_is_401_and_changes_nothing(sh, lang):
    chat = Chat(sh, 3002, lang)
    number = await ask_about(chat, lang, "Ерлан")
    code = sh.phone.code(ERLAN)
    sent_before = len(sh.inbox(ERLAN))
    for secret in ("wrong-secret", None):
        response = await sh.sms_in(ERLAN, f"{W[lang]['yes']} {code}", "in-2", secret=secret)
        assert response.status_code == 401
    assert (await repos(sh.services).apps.consent(number)).status == "pending"
    assert len(sh.inbox(ERLAN)) == sent_before
    assert not pushed_text(sh, chat)[1]
    # The id of a refused request was not recorded: the genuine message with that id still counts.
    assert (await sh.sms_in(ERLAN, f"{W[lang]['yes']} {code}", "in-2")).status_code == 200
    assert (await repos(sh.services).apps.consent(number)).status == "given"


async def test_malformed_bodies_are_400(sh):
    for raw in (b"not json", b"[1, 2]", b'{"from": "+77772223344"}', b'{"from": 7, "text": "x"}',
                b'{"from": "+7 912 000 00 00", "text": "STOP"}', b'{"from": "hello", "text": "STOP"}',
                b'{"from": "+77772223344", "text": "STOP", "id": {"a": 1}}', b"\xff\xfe"):
        response = await sh.post("/sms/inbound", None, raw=raw)
        assert response.status_code == 400, raw
    assert sh.inbox(ERLAN) == []
    assert (await sh.client.get(sh.base + "/health")).status_code == 200


@pytest.mark.parametrize("lang", LANGS)
async def test_same_gateway_id_is_acted_on_once(sh, lang):
    chat = Chat(sh, 3003, lang)
    number = await ask_about(chat, lang, "Ерлан")
    code = sh.phone.code(ERLAN)
    sent_before = len(sh.inbox(ERLAN))
    first = await sh.sms_in(ERLAN, f"{W[lang]['yes']} {code}", "dup-1")
    second = await sh.sms_in(ERLAN, f"{W[lang]['yes']} {code}", "dup-1")
    assert first.status_code == second.status_code == 200
    assert second.json().get("duplicate") is True
    replies = [r for r in sh.inbox(ERLAN)[sent_before:] if W[lang]["given"] in r]
    assert len(replies) == 1
    assert sum(1 for m in pushed_text(sh, chat)[1] if m.protect_content) == 1
    # Remembered across a restart too.
    await sh.restart()
    again = await sh.sms_in(ERLAN, W[lang]["stop"], "dup-1")
    assert again.json().get("duplicate") is True
    assert not await repos(sh.services).sms_phones.opted_out(ERLAN)
    assert (await repos(sh.services).apps.consent(number)).status == "given"


@pytest.mark.parametrize("lang", LANGS)
async def test_decline_by_reply(sh, lang):
    chat = Chat(sh, 3004, lang)
    number = await ask_about(chat, lang, "Ерлан")
    sent_before = len(sh.inbox(ERLAN))
    assert (await sh.sms_in(ERLAN, W[lang]["no"].capitalize())).status_code == 200
    text, messages = pushed_text(sh, chat)
    assert number in text and W[lang]["pushed_declined"] in text
    assert not any(m.protect_content for m in messages)
    app = await repos(sh.services).apps.get(number)
    assert app.status == "refused" and app.refusal_ground == "no_consent"
    assert any(W[lang]["declined"] in r for r in sh.inbox(ERLAN)[sent_before:])


@pytest.mark.parametrize("lang", LANGS)
async def test_decline_with_code_latin(sh, lang):
    chat = Chat(sh, 3005, lang)
    number = await ask_about(chat, lang, "Ерлан")
    code = sh.phone.code(ERLAN)
    latin_no = "JOQ" if lang == "kk" else "net"
    await sh.sms_in(ERLAN, f"{latin_no} {code}")
    assert (await repos(sh.services).apps.consent(number)).status == "declined"
    assert W[lang]["pushed_declined"] in pushed_text(sh, chat)[0]


@pytest.mark.parametrize("lang", LANGS)
async def test_bare_yes_is_never_guessed(sh, lang):
    first = Chat(sh, 3006, lang)
    number_a = await ask_about(first, lang, "Ерлан")
    code_a = sh.phone.code(ERLAN)
    # One request open: a bare yes still asks for the code.
    await sh.sms_in(ERLAN, W[lang]["yes"])
    assert W[lang]["code_needed"] in sh.phone.last(ERLAN)
    assert (await repos(sh.services).apps.consent(number_a)).status == "pending"

    second = Chat(sh, 3007, lang)
    number_b = await ask_about(second, lang, "Ерлан", identify_as="Айгерім")
    code_b = sh.phone.code(ERLAN)
    # Two open: a bare yes and a bare no both ask which code.
    for word in (W[lang]["yes"], W[lang]["no"]):
        await sh.sms_in(ERLAN, word)
        assert "123456" in sh.phone.last(ERLAN) and "2" in sh.phone.last(ERLAN)
    assert (await repos(sh.services).apps.consent(number_a)).status == "pending"
    assert (await repos(sh.services).apps.consent(number_b)).status == "pending"
    pushed_text(sh, first), pushed_text(sh, second)

    # The code picks the request: B consents, A stays open.
    await sh.sms_in(ERLAN, f"{W[lang]['yes']} {code_b}")
    assert (await repos(sh.services).apps.consent(number_b)).status == "given"
    assert (await repos(sh.services).apps.consent(number_a)).status == "pending"
    assert any(m.protect_content for m in pushed_text(sh, second)[1])
    assert not pushed_text(sh, first)[1]
    # Now a bare no has exactly one request to decline.
    await sh.sms_in(ERLAN, W[lang]["no"])
    assert (await repos(sh.services).apps.consent(number_a)).status == "declined"
    assert W[lang]["pushed_declined"] in pushed_text(sh, first)[0]
    assert code_a  # (A's code was never needed)


@pytest.mark.parametrize("lang", LANGS)
async def test_wrong_codes_then_request_ends(sh, lang):
    chat = Chat(sh, 3008, lang)
    number = await ask_about(chat, lang, "Ерлан")
    real = sh.phone.code(ERLAN)
    wrong = "000000" if real != "000000" else "111111"
    for left in (4, 3, 2, 1):
        await sh.sms_in(ERLAN, f"{W[lang]['yes']} {wrong}")
        assert W[lang]["wrong"] in sh.phone.last(ERLAN) and str(left) in sh.phone.last(ERLAN)
        assert (await repos(sh.services).apps.consent(number)).status == "pending"
    assert not pushed_text(sh, chat)[1]
    await sh.sms_in(ERLAN, f"{W[lang]['yes']} {wrong}")
    assert W[lang]["locked"] in sh.phone.last(ERLAN)
    app = await repos(sh.services).apps.get(number)
    assert app.status == "refused" and app.refusal_ground == "no_consent"
    assert W[lang]["pushed_wrong"] in pushed_text(sh, chat)[0]
    # The right code is useless now, and the phone has nothing pending.
    await sh.sms_in(ERLAN, f"{W[lang]['yes']} {real}")
    assert W[lang]["no_pending"] in sh.phone.last(ERLAN)
    assert (await repos(sh.services).apps.get(number)).status == "refused"


@pytest.mark.parametrize("lang", LANGS)
async def test_reply_without_pending_request(sh, lang):
    await sh.sms_in(SERGEI, f"{W[lang]['yes']} 123456")
    assert W[lang]["no_pending"] in sh.phone.last(SERGEI)
    await sh.sms_in(SERGEI, "123456")
    assert len(sh.inbox(SERGEI)) == 2


@pytest.mark.parametrize("lang", LANGS)
async def test_stop_then_notice_is_not_sent(sh, lang):
    await sh.sms_in(ERLAN, W[lang]["stop"].lower())
    assert W[lang]["stopped"] in sh.phone.last(ERLAN)
    assert await repos(sh.services).sms_phones.opted_out(ERLAN)

    # An interactive code still goes; the "your data was provided" notice does not (the requester typed the
    # code the subject passed on).
    chat = Chat(sh, 3009, lang)
    number = await ask_about(chat, lang, "Ерлан")
    await chat.send(sh.phone.code(ERLAN))
    assert any(m.protect_content for m in chat.last)
    assert (await repos(sh.services).apps.consent(number)).status == "given"
    rows = await repos(sh.services).outbox.to_phone(ERLAN)
    notices = [r for r in rows if r.kind == "notice"]
    assert len(notices) == 1 and notices[0].status == "failed" and notices[0].last_error == SUPPRESSED
    assert notices[0].text not in sh.inbox(ERLAN)
    # A reply to the subject's own consenting SMS is no notice: it goes, and says to whom the data went.
    second = Chat(sh, 3019, lang)
    await ask_about(second, lang, "Ерлан")
    await sh.sms_in(ERLAN, sh.phone.code(ERLAN))
    assert W[lang]["given"] in sh.phone.last(ERLAN) and "Сергей И." in sh.phone.last(ERLAN)
    assert len([r for r in await repos(sh.services).outbox.to_phone(ERLAN) if r.kind == "notice"]) == 1

    await sh.sms_in(ERLAN, W[lang]["start"])
    assert W[lang]["started"] in sh.phone.last(ERLAN)
    await send_sms(sh.services, ERLAN, "notice after START", kind="notice")
    await sh.delivered()  # notices go through the worker
    assert sh.phone.last(ERLAN) == "notice after START"


@pytest.mark.parametrize("lang", LANGS)
async def test_status_by_sms_only_from_the_registered_phone(sh, lang):
    number = "QZ-261120-0000101"  # Айгерім's, in progress
    await sh.sms_in(AIGERIM, f"{W[lang]['status']} {number.lower().replace('-', ' ')}")
    reply = sh.phone.last(AIGERIM)
    assert number in reply and W[lang]["in_progress"] in reply
    # Another phone learns nothing, not even that the number exists.
    await sh.sms_in(SERGEI, f"{W[lang]['status']} {number}")
    not_yours = sh.phone.last(SERGEI)
    await sh.sms_in(SERGEI, f"{W[lang]['status']} QZ-261120-0009999")
    assert W[lang]["not_found"] in not_yours and sh.phone.last(SERGEI) == not_yours
    assert number not in not_yours


@pytest.mark.parametrize("lang", LANGS)
async def test_status_of_a_third_party_request_goes_to_the_requester(sh, lang):
    chat = Chat(sh, 3010, lang)
    number = await ask_about(chat, lang, "Ерлан")
    await sh.sms_in(SERGEI, f"STATUS {number}")  # Latin keyword: answered in the phone's language
    assert number in sh.phone.last(SERGEI)
    await sh.sms_in(ERLAN, f"{W[lang]['status']} {number}")  # the subject is not the applicant
    assert W[lang]["not_found"] in sh.phone.last(ERLAN)


@pytest.mark.parametrize("lang", LANGS)
async def test_help_and_unknown_text_in_the_language_of_the_words(sh, lang):
    await sh.sms_in(SERGEI, W[lang]["help"].lower())
    assert W[lang]["help_text"] in sh.phone.last(SERGEI)
    other = "Привет, что это?" if lang == "ru" else "Сәлеметсіз бе, бұл не?"
    await sh.sms_in(AIGERIM, other)
    assert W[lang]["help_text"] in sh.phone.last(AIGERIM)


async def test_latin_keyword_uses_the_phones_last_language(sh):
    await sh.sms_in(SERGEI, "СТОП")
    await sh.sms_in(SERGEI, "start")
    assert W["ru"]["started"] in sh.phone.last(SERGEI)
    await sh.sms_in(AIGERIM, "stop")  # nothing known: Kazakh
    assert W["kk"]["stopped"] in sh.phone.last(AIGERIM)


@pytest.mark.parametrize("lang", LANGS)
async def test_complaint_state_by_sms_only_to_the_filer(sh, lang):
    from bot.core.complaints import Draft
    from store.users import Identity
    citizen = CITIZENS["Айгерім"]
    identity = Identity(6101, citizen["iin"], citizen["phone"], sh.clock.now(), sh.clock.now())
    complaint = await sh.services.complaints.file(identity, 6101, Draft(
        addressee="provider", app_number=None, provider_name="Емхана", full_name=citizen["full_name"],
        address=citizen["address"], phone=citizen["phone"], body="Текст жалобы для проверки."))
    # Typed as people do: lower case, spaces, the Cyrillic "ср".
    typed = complaint.number.lower().replace("-", " ").replace("cp", "ср")
    await sh.sms_in(AIGERIM, f"{W[lang]['status']} {typed}")
    reply = sh.phone.last(AIGERIM)
    state = sh.services.texts(lang, "complaint.state.delivered")
    assert complaint.number in reply and state in reply, reply
    assert complaint.due_at.astimezone(ALMATY).strftime("%d.%m.%Y") in reply
    # Another phone learns nothing, not even that the number exists.
    await sh.sms_in(SERGEI, f"{W[lang]['status']} {complaint.number}")
    assert W[lang]["not_found"] in sh.phone.last(SERGEI) and complaint.number not in sh.phone.last(SERGEI)


async def test_replies_to_one_phone_are_capped_per_hour_but_the_sms_is_still_acted_on(emu, database):
    sh = SmsHarness(emu, database, sms_replies_per_phone_hour=3)
    await sh.start()
    try:
        for _ in range(5):
            await sh.sms_in(SERGEI, "HELP")
        assert len(sh.phone.inbox.get(SERGEI, [])) == 3  # the 4th and 5th get no answer
        await sh.sms_in(SERGEI, "STOP")  # not answered, but done
        assert await repos(sh.services).sms_phones.opted_out(SERGEI)
        assert len(sh.phone.inbox.get(SERGEI, [])) == 3
        await sh.sms_in(AIGERIM, "HELP")  # another phone is not affected
        assert sh.phone.inbox.get(AIGERIM)
        sh.clock.advance(hours=1, seconds=1)  # an hour later: answered again
        await sh.sms_in(SERGEI, "START")
        assert len(sh.phone.inbox.get(SERGEI, [])) == 4
    finally:
        await sh.close()
