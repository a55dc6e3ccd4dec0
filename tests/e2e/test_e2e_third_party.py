"""Another person's information, with that person's consent, in both languages."""

from __future__ import annotations

import pytest

from tests.harness import CITIZENS, Chat
from tests.repos import repos

# The registry flow against the seeded tables and against the state systems' HTTP contract (reference server).
pytestmark = pytest.mark.parametrize("state_backend", ["embedded", "http"], indirect=True)

L = {
    "ru": {"other": "Сведения о другом", "status": "Статус моих заявок", "own": "Сведения о себе"},
    "kk": {"other": "Басқа адам", "status": "Өтінімдерімнің", "own": "Өзім туралы"},
}


async def ask_about(chat: Chat, lang: str, subject: str, service_label: str = "фтизиатрия") -> str:
    """Identified as Сергей, asks about ``subject``; returns the application number."""
    await chat.start_in(lang)
    await chat.press(L[lang]["other"])
    await chat.press(service_label)
    await chat.identify("Сергей")
    # "Identity confirmed" leads the next question (one message, asking for the subject's IIN).
    assert len(chat.last) == 1, chat.texts()
    assert chat.texts().startswith(chat.h.services.texts(lang, "id.done")), chat.texts()
    assert chat.h.services.texts(lang, "btn.cancel") in chat.buttons()
    await chat.send(CITIZENS[subject]["iin"])
    numbers = [w for w in chat.texts().replace("(", " ").split() if w.startswith("QZ-")]
    assert numbers, chat.texts()
    return numbers[0]


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_consent_by_code_delivers_and_tells_subject(h, lang):
    chat = Chat(h, 2001, lang)
    number = await ask_about(chat, lang, "Ерлан")
    subject_phone = CITIZENS["Ерлан"]["phone"]
    request_sms = h.phone.last(subject_phone)
    assert "Сергей И." in request_sms and "******" in request_sms
    assert CITIZENS["Сергей"]["iin"] not in request_sms  # the requester's IIN is masked
    await chat.send(h.phone.code(subject_phone))
    certificate = next(m for m in chat.last if m.protect_content)
    assert "Жақсылықов Ерлан Серікұлы" in certificate.plain_text
    assert number in certificate.plain_text
    provided = h.phone.last(subject_phone)
    assert provided != request_sms and "Сергей И." in provided
    consent = await repos(h.services).apps.consent(number)
    assert consent.status == "given"
    # The code was single use: typing it again changes nothing.
    app = await repos(h.services).apps.get(number)
    assert app.status == "result_ready"


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_five_wrong_codes_refuse(h, lang):
    chat = Chat(h, 2002, lang)
    number = await ask_about(chat, lang, "Дана")
    real = h.phone.code(CITIZENS["Дана"]["phone"])
    wrong = "000000" if real != "000000" else "111111"
    for attempt in range(4):
        await chat.send(wrong)
        assert str(4 - attempt) in chat.texts()
    await chat.send(wrong)
    text = chat.texts()
    assert ("Отсутствие согласия лица" in text) if lang == "ru" else ("келісімінің болмауы" in text)
    app = await repos(h.services).apps.get(number)
    assert app.status == "refused" and app.refusal_ground == "no_consent"
    # Even the right code is useless now.
    await chat.send(real)
    assert not any(m.protect_content for m in chat.last)


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_consent_window_expires(h, lang):
    chat = Chat(h, 2003, lang)
    number = await ask_about(chat, lang, "Айгерім")
    h.clock.advance(minutes=11)
    await h.sweep()
    text = "\n".join(m.plain_text or "" for m in h.drain(chat.user_id))
    assert number in text
    assert ("не получено в установленный срок" in text) if lang == "ru" else ("мерзімде берілмеді" in text)
    app = await repos(h.services).apps.get(number)
    assert app.status == "refused"


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_subject_declines_in_own_chat(h, lang):
    # The subject uses the bot too and is identified: the request reaches their chat with two buttons.
    subject = Chat(h, 2100, lang)
    await subject.start_in(lang)
    await subject.press(L[lang]["own"])
    await subject.press("ркология")
    await subject.identify("Айгерім")
    h.drain(subject.user_id)

    chat = Chat(h, 2004, lang)
    number = await ask_about(chat, lang, "Айгерім")
    offer = h.drain(subject.user_id)
    assert offer and number in offer[-1].plain_text
    decline = next(d for _, d in h.emu.inline_buttons(offer[-1]) if d.startswith("cn:"))
    await subject.press_data(offer[-1].message_id, decline)
    decided = next(m for m in h.emu.messages(subject.user_id) if m.message_id == offer[-1].message_id)
    assert not h.emu.inline_buttons(decided)  # a decided offer cannot be pressed again
    pushed = "\n".join(m.plain_text or "" for m in h.drain(chat.user_id))
    assert number in pushed
    assert ("отказалось дать согласие" in pushed) if lang == "ru" else ("бас тартты" in pushed)
    assert (await repos(h.services).apps.get(number)).status == "refused"


async def test_subject_consents_in_own_chat_and_requester_gets_result(h):
    subject = Chat(h, 2101, "kk")
    await subject.start_in("kk")
    await subject.press("Өзім туралы")
    await subject.press("ркология")
    await subject.identify("Айгерім")
    chat = Chat(h, 2005, "ru")
    number = await ask_about(chat, "ru", "Айгерім")
    offer = h.drain(subject.user_id)[-1]
    consent = next(d for _, d in h.emu.inline_buttons(offer) if d.startswith("cy:"))
    await subject.press_data(offer.message_id, consent)
    pushed = h.drain(chat.user_id)
    assert any(m.protect_content and "Сейтқали Айгерім" in m.plain_text for m in pushed)
    assert (await repos(h.services).apps.consent(number)).status == "given"


async def test_a_stranger_cannot_decide_for_the_subject(h):
    chat = Chat(h, 2006, "ru")
    number = await ask_about(chat, "ru", "Ерлан")
    stranger = Chat(h, 2200, "ru")
    await stranger.start_in("ru")
    menu = stranger.last[-1]
    await stranger.press_data(menu.message_id, f"cy:{number}")
    assert (await repos(h.services).apps.consent(number)).status == "pending"
    assert not any(m.protect_content for m in h.drain(chat.user_id))


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_subject_without_phone_is_refused_with_reason(h, lang):
    chat = Chat(h, 2007, lang)
    await chat.start_in(lang)
    await chat.press(L[lang]["other"])
    await chat.press("фтизиатрия")
    await chat.identify("Сергей")
    await chat.send(CITIZENS["Ольга"]["iin"])
    text = chat.texts()
    assert ("нет зарегистрированного мобильного номера" in text) if lang == "ru" else ("ұялы нөмірі жоқ" in text)
    assert h.phone.inbox.get(CITIZENS["Ольга"]["phone"] or "") is None


async def test_own_iin_as_subject_gives_own_result(h):
    chat = Chat(h, 2008, "ru")
    await chat.start_in("ru")
    await chat.press("Сведения о другом")
    await chat.press("фтизиатрия")
    await chat.identify("Сергей")
    await chat.send(CITIZENS["Сергей"]["iin"])
    assert any(m.protect_content and "Иванов Сергей" in m.plain_text for m in chat.last)


async def test_resend_waits_a_minute_then_sends_a_new_code(h):
    chat = Chat(h, 2009, "ru")
    await ask_about(chat, "ru", "Ерлан")
    first = h.phone.code(CITIZENS["Ерлан"]["phone"])
    await chat.press("Отправить код повторно")
    assert "через" in chat.texts()
    h.clock.advance(seconds=61)
    await chat.press("Отправить код повторно")
    second = h.phone.code(CITIZENS["Ерлан"]["phone"])
    assert len(h.phone.inbox[CITIZENS["Ерлан"]["phone"]]) == 2
    if first != second:
        await chat.send(first)  # the old code no longer opens the request
        assert not any(m.protect_content for m in chat.last)
    await chat.send(second)
    assert any(m.protect_content for m in chat.last)


@pytest.mark.parametrize("identified", [False, True])
async def test_a_forged_consent_button_answers_alike_for_real_and_made_up_numbers(h, identified):
    """From any chat but the identified subject's, `cy:<number>` / `cn:<number>` tell nothing: the same
    stale-button answer whether the request exists or not, and nothing is decided."""
    requester = Chat(h, 2300, "ru")
    number = await ask_about(requester, "ru", "Ерлан")
    stranger = Chat(h, 2301, "ru")
    await stranger.start_in("ru")
    if identified:  # verified, but as someone else than the subject
        await stranger.press(L["ru"]["own"])
        await stranger.press("ркология")
        await stranger.identify("Айгерім")
    answers = []
    for data in (f"cy:{number}", "cy:QZ-261201-0000000", f"cn:{number}", "cn:QZ-000000-1234567"):
        menu = stranger.last[-1]
        await stranger.press_data(menu.message_id, data)
        answers.append(stranger.texts())
    assert answers[0] == answers[1] == answers[2] == answers[3], answers
    assert h.services.texts("ru", "stale.button") in answers[0]
    assert (await repos(h.services).apps.consent(number)).status == "pending"
    assert not h.drain(requester.user_id)


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_a_subject_who_uses_the_bot_is_told_in_their_chat_too(h, lang):
    """Besides the SMS of record, the subject's own chat hears that their information was given, and to whom."""
    subject = Chat(h, 2400, lang)
    await subject.start_in(lang)
    await subject.press(L[lang]["own"])
    await subject.press("ркология")
    await subject.identify("Ерлан")
    await subject.send("/logout")  # the chat stays linked to the IIN after its identity ends
    h.drain(subject.user_id)
    chat = Chat(h, 2401, "ru")
    number = await ask_about(chat, "ru", "Ерлан")
    await chat.send(h.phone.code(CITIZENS["Ерлан"]["phone"]))
    told = "\n".join(m.plain_text or "" for m in h.drain(subject.user_id))
    expected = h.services.texts(lang, "subject.data_provided", register=h.services.texts(lang, "sms.register.tb"),
                                number=number, name="Сергей И.", iin="******0451", when="").split("\n")[:2]
    assert all(line in told for line in expected), told
    assert CITIZENS["Сергей"]["iin"] not in told  # masked
    assert "Сергей И." in h.phone.last(CITIZENS["Ерлан"]["phone"])  # and the SMS of record went as well


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_status_marks_a_request_about_another_person_and_names_whom(h, lang):
    """/status lists the requester's own applications beside the requests about other people: each of the
    latter says so, with the person's masked IIN, in the list and on its card."""
    t = h.services.texts
    chat = Chat(h, 2071, lang)
    about_erlan = await ask_about(chat, lang, "Ерлан")
    await chat.send(h.phone.code(CITIZENS["Ерлан"]["phone"]))
    await chat.send("/status")
    listing = chat.texts()
    marker = t(lang, "status.about_other", iin="******" + CITIZENS["Ерлан"]["iin"][-4:])
    line = next(x for x in listing.splitlines() if about_erlan in x)
    assert marker in line, listing
    assert CITIZENS["Ерлан"]["iin"] not in listing
    await chat.send(f"/status {about_erlan}")
    assert marker in chat.texts()
