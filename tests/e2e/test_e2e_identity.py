"""Proving identity, bad input at every step, status privacy, and a restart in the middle."""

from __future__ import annotations

import pytest

from tests.harness import CITIZENS, Chat
from tests.repos import repos


async def to_contact_step(chat: Chat, lang: str) -> None:
    await chat.start_in(lang)
    await chat.press("Сведения о себе" if lang == "ru" else "Өзім туралы")
    await chat.press("фтизиатрия")


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_a_strangers_contact_is_refused(h, lang):
    chat = Chat(h, 3001, lang)
    await to_contact_step(chat, lang)
    await chat.contact(CITIZENS["Ерлан"]["phone"], own=False)
    assert ("контакт другого человека" in chat.texts()) if lang == "ru" else ("басқа адамның" in chat.texts())
    assert (await repos(h.services).users.state(3001)).state == "id_contact"


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_a_phone_that_does_not_match_the_iin(h, lang):
    chat = Chat(h, 3002, lang)
    await to_contact_step(chat, lang)
    await chat.contact(CITIZENS["Сергей"]["phone"])
    await chat.send(CITIZENS["Ерлан"]["iin"])  # a real IIN, registered to another phone
    assert ("Не удалось связать" in chat.texts()) if lang == "ru" else ("байланыстыру мүмкін болмады" in chat.texts())
    assert CITIZENS["Ерлан"]["phone"] not in h.phone.inbox and CITIZENS["Сергей"]["phone"] not in h.phone.inbox


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_bad_input_at_every_step_gets_a_localized_hint(h, lang):
    chat = Chat(h, 3003, lang)
    await chat.send("hello")  # before a language is chosen
    assert "Қазақша" in chat.buttons()
    await to_contact_step(chat, lang)
    await chat.send("87051112233")  # typing the phone instead of sharing it
    assert chat.last and chat.last[-1].text
    await chat.photo()
    assert len(chat.last) >= 1
    await chat.contact("+79121234567")  # a Russian mobile
    assert ("не является" in chat.texts()) if lang == "ru" else ("ұялы байланыс нөмірі емес" in chat.texts())
    await chat.contact(CITIZENS["Сергей"]["phone"])
    for bad in ["x" * 5000, "😀" * 50, "٩٠٠٧١٥٣٠٠٤٥١", "9007 1530 0452", "12345"]:
        await chat.send(bad)
        assert chat.last, bad
        assert chat.texts() and "Traceback" not in chat.texts()
    await chat.send("9007 1530 0451")  # spaces are fine
    code = h.phone.code(CITIZENS["Сергей"]["phone"])
    await chat.send("abc")
    assert "6 цифр" in chat.texts()  # the same words in both languages
    await chat.send(f"{code[:3]} {code[3:]}")
    assert any(m.protect_content for m in chat.last)


async def test_iin_errors_are_explained(h):
    chat = Chat(h, 3004, "ru")
    await to_contact_step(chat, "ru")
    await chat.contact(CITIZENS["Сергей"]["phone"])
    await chat.send("900715300452")
    assert "контрольный разряд" in chat.texts()
    await chat.send("９００７１５３００４５１")
    assert "обычными цифрами" in chat.texts()
    await chat.send("90071530045")
    assert "12 цифр" in chat.texts()


async def test_five_wrong_identity_codes_lock(h):
    chat = Chat(h, 3005, "ru")
    await to_contact_step(chat, "ru")
    await chat.contact(CITIZENS["Сергей"]["phone"])
    await chat.send(CITIZENS["Сергей"]["iin"])
    code = h.phone.code(CITIZENS["Сергей"]["phone"])
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        await chat.send(wrong)
    assert "заблокирован" in chat.texts()
    await chat.send(code)
    assert not any(m.protect_content for m in chat.last)
    assert await h.services.identity.current(3005) is None


async def test_expired_identity_code(h):
    chat = Chat(h, 3006, "kk")
    await to_contact_step(chat, "kk")
    await chat.contact(CITIZENS["Сергей"]["phone"])
    await chat.send(CITIZENS["Сергей"]["iin"])
    h.clock.advance(minutes=6)
    await chat.send(h.phone.code(CITIZENS["Сергей"]["phone"]))
    assert "мерзімі өтіп кетті" in chat.texts()
    await chat.press("Кодты қайта жіберу")
    await chat.send(h.phone.code(CITIZENS["Сергей"]["phone"]))
    assert any(m.protect_content for m in chat.last)


async def test_identity_holds_30_minutes_of_inactivity_and_logout_ends_it(h):
    chat = Chat(h, 3007, "ru")
    await to_contact_step(chat, "ru")
    await chat.identify("Сергей")
    h.clock.advance(minutes=29)
    assert await h.services.identity.current(3007) is not None  # and this use extends it
    h.clock.advance(minutes=29)
    assert await h.services.identity.current(3007) is not None
    h.clock.advance(minutes=31)
    assert await h.services.identity.current(3007) is None
    await to_contact_step(chat, "ru")
    await chat.identify("Сергей")
    await chat.send("/logout")
    assert await h.services.identity.current(3007) is None


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_restart_after_the_code_was_sent(h, lang):
    chat = Chat(h, 3008, lang)
    await to_contact_step(chat, lang)
    await chat.contact(CITIZENS["Сергей"]["phone"])
    await chat.send(CITIZENS["Сергей"]["iin"])
    code = h.phone.code(CITIZENS["Сергей"]["phone"])
    await h.restart()
    await chat.send(code)
    certificate = [m for m in chat.last if m.protect_content]
    assert certificate and "Иванов Сергей" in certificate[0].plain_text


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_status_shows_only_own_applications(h, lang):
    owner = Chat(h, 3009, lang)
    await to_contact_step(owner, lang)
    await owner.identify("Сергей")
    number = next(w for w in owner.texts().split() if w.startswith("QZ-"))
    await owner.send(f"/status {number}")
    assert number in owner.texts()
    stranger = Chat(h, 3010, lang)
    await stranger.start_in(lang)
    await stranger.send(number)
    not_yours = stranger.texts()
    await stranger.send("QZ-261125-0000000")
    assert stranger.texts() == not_yours  # "not yours" reads exactly like "no such number"
    await stranger.send("/status QZ-261125-0000000")
    assert stranger.texts() == not_yours
    await stranger.send("/status")
    assert number not in stranger.texts()


async def test_seeded_applications_are_visible_to_their_owner_after_identification(h):
    chat = Chat(h, 3011, "ru")
    await chat.start_in("ru")
    await chat.press("Статус моих заявок")
    assert "подтвердите личность" in chat.texts()
    await to_contact_step(chat, "ru")
    await chat.identify("Айгерім")
    await chat.send("/status")
    assert "QZ-261120-0000101" in chat.texts()
    await chat.press("QZ-261120-0000101")
    assert "Этапы" in chat.texts()


async def test_stale_buttons_and_commands_midway(h):
    chat = Chat(h, 3012, "ru")
    await to_contact_step(chat, "ru")
    first_menu = next(m for m in h.emu.messages(3012) if any(d == "own" for _, d in h.emu.inline_buttons(m)))
    await chat.press_data(first_menu.message_id, "resend")
    assert "больше не действует" in chat.texts()
    await chat.send("/start")
    assert "Главное меню" in chat.texts() or "Здравствуйте" in chat.texts()
    await chat.send("/nonsense")
    assert "Такой команды нет" in chat.texts()
    assert not h.emu.unanswered_callbacks()


async def test_language_is_remembered_and_can_change(h):
    chat = Chat(h, 3013, "ru")
    await chat.start_in("kk")
    await chat.send("/start")
    assert "Сәлеметсіз бе" in chat.texts()
    await chat.send("/language")
    await chat.press("Русский")
    assert "Здравствуйте" in chat.texts()
    await chat.send("/help")
    assert "1414" in chat.texts() and "8-800-080-7777" in chat.texts()


async def test_identity_ends_after_24_hours_even_when_active(h):
    chat = Chat(h, 3014, "ru")
    await to_contact_step(chat, "ru")
    await chat.identify("Сергей")
    for _ in range(49):  # active every 29 minutes: 23 h 41 min
        h.clock.advance(minutes=29)
        assert await h.services.identity.current(3014) is not None
    h.clock.advance(minutes=29)
    assert await h.services.identity.current(3014) is None


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_a_contact_shared_at_the_menu_starts_identification(h, lang):
    """Telegram lets a person share their contact anywhere: at the menu it is the first step of identification
    (not "files and images are not kept"), and a verified person is told it is not needed."""
    t = h.services.texts
    chat = Chat(h, 3061, lang)
    await chat.start_in(lang)
    await chat.contact(CITIZENS["Сергей"]["phone"])
    assert t(lang, "id.ask_iin") in chat.texts()
    assert t(lang, "input.text_only") not in chat.texts()
    await chat.send(CITIZENS["Сергей"]["iin"])
    await chat.send(h.phone.code(CITIZENS["Сергей"]["phone"]))
    assert t(lang, "id.done") in chat.texts()
    await chat.contact(CITIZENS["Сергей"]["phone"])
    assert t(lang, "id.contact_not_needed") in chat.texts()


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_an_iin_typed_at_the_menu_is_pointed_to_the_contact_first(h, lang):
    t = h.services.texts
    chat = Chat(h, 3062, lang)
    await chat.start_in(lang)
    await chat.send(CITIZENS["Сергей"]["iin"])
    assert t(lang, "id.iin_at_menu") in chat.texts()
    assert t(lang, "menu.hint") not in chat.texts()
    await chat.contact(CITIZENS["Сергей"]["phone"])  # and identification goes on from there
    assert t(lang, "id.ask_iin") in chat.texts()
