"""No dead ends: each replays a path that used to end in the main menu or the help text with nothing done."""

from __future__ import annotations

import pytest

from bot.core import complaints as cp
from tests.e2e.test_status_feed import NUMBER, event, feed, set_now
from tests.harness import CITIZENS, Chat
from tests.repos import repos
from tests.sms_harness import SmsHarness

AIGERIM = CITIZENS["Айгерім"]
SEEDED = "QZ-261120-0000101"  # Айгерім's application (S6) in the test seed
FEED_TOKEN = "feed-token-1"


def tx(h, lang: str):
    return lambda key, **params: h.services.texts(lang, key, **params)


# The identity step where it opens more -------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_my_applications_offers_the_identity_step_and_comes_back_to_the_list(h, lang):
    t = tx(h, lang)
    chat = Chat(h, 2500, lang)
    await chat.start_in(lang)
    await chat.press(t("btn.status"))
    assert t("status.none_identify") in chat.texts()
    await chat.press(t("btn.identify"))
    assert t("id.intro") in chat.texts()
    await chat.identify("Айгерім")
    assert t("id.done") in chat.texts() and t("status.list_title") in chat.texts() and SEEDED in chat.texts()


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_a_typed_number_before_identification_offers_the_identity_step_then_the_card(h, lang):
    t = tx(h, lang)
    chat = Chat(h, 2501, lang)
    await chat.start_in(lang)
    await chat.send(SEEDED)
    mine = (chat.texts(), chat.buttons())
    await chat.send("QZ-261120-0009999")  # no such application: the very same answer
    assert (chat.texts(), chat.buttons()) == mine and t("status.not_found_identify") in mine[0]
    await chat.press(t("btn.identify"))
    await chat.identify("Айгерім")
    assert t("status.not_found") in chat.texts()  # verified: the number still is nobody's
    await chat.send(SEEDED)
    assert t("status.card_title", number=SEEDED) in chat.texts()


# Deep links ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_a_deep_link_opens_the_card_and_someone_elses_number_reads_like_none(h, lang):
    t = tx(h, lang)
    owner = Chat(h, 2510, lang)
    await owner.start_in(lang)
    await owner.send(f"/start {SEEDED}")  # not verified: the identity step, then that card
    await owner.press(t("btn.identify"))
    await owner.identify("Айгерім")
    assert t("status.card_title", number=SEEDED) in owner.texts()
    await owner.send(f"/start {SEEDED}")
    assert t("status.card_title", number=SEEDED) in owner.texts()

    stranger = Chat(h, 2511, lang)
    await stranger.start_in(lang)
    await stranger.send("/status")
    await stranger.press(t("btn.identify"))
    await stranger.identify("Сергей")
    await stranger.send(f"/start {SEEDED}")
    not_yours = (stranger.texts(), stranger.buttons())
    await stranger.send("/start QZ-261120-0009999")
    assert (stranger.texts(), stranger.buttons()) == not_yours and t("status.not_found") in not_yours[0]
    await stranger.send("/start from_a_poster")  # a payload that is no number: a plain /start
    assert t("menu.welcome") in stranger.texts()


async def test_a_deep_link_to_a_complaint_opens_its_card_for_its_filer_only(h):
    t = tx(h, "ru")
    filer = Chat(h, 2512, "ru")
    await filer.start_in("ru")
    await filer.send("/status")
    await filer.press(t("btn.identify"))
    await filer.identify("Айгерім")
    identity = await h.services.identity.current(2512)
    complaint = await h.services.complaints.file(identity, 2512, cp.Draft(
        addressee="provider", app_number=SEEDED, provider_name=None, full_name=AIGERIM["full_name"],
        address="Алматы", phone=AIGERIM["phone"], body="Срок оказания услуги нарушен."))
    await filer.send("/logout")
    await filer.send(f"/start {complaint.number}")
    assert t("card.identify") in filer.texts()
    await filer.press(t("btn.identify"))
    await filer.identify("Айгерім")
    assert t("cp.card.title", number=complaint.number) in filer.texts()

    stranger = Chat(h, 2513, "ru")
    await stranger.start_in("ru")
    for identified in (False, True):  # someone else's complaint reads like none, verified or not
        await stranger.send(f"/start {complaint.number}")
        someone_elses = stranger.texts()
        await stranger.send("/start CP-261201-0000000")
        assert stranger.texts() == someone_elses
        assert t("cp.not_found" if identified else "card.identify") in someone_elses
        if not identified:
            await stranger.press(t("btn.identify"))
            await stranger.identify("Сергей")


# The language prompt does not lose the flow -----------------------------------------------------------

@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_an_operators_first_op_waits_for_the_language_then_the_console_and_a_broadcast_go_on(h, lang):
    await h.services.staff.add("cli", 9101, "operator")
    op = Chat(h, 9101, "ru")  # a new operator: no language chosen in the bot yet
    await op.send("/op")  # the console speaks the operator's language: asked first
    assert "Тілді таңдаңыз" in op.texts() and "Выберите язык" in op.texts()
    await op.send("Ертең 1414 байланыс орталығы жұмыс істемейді.")  # typed at the prompt: it asks again
    assert "Тілді таңдаңыз" in op.texts()
    await op.press("Қазақша" if lang == "kk" else "Русский")
    t = tx(h, lang)
    assert t("lang.set") in op.texts() and t("op.console.title") in op.texts()  # /op, not the main menu
    await op.press(t("op.btn.broadcast"))
    assert t("op.bc.ask_kk") in op.texts()
    await op.send("Ертең 1414 байланыс орталығы жұмыс істемейді.")
    assert t("op.bc.ask_ru") in op.texts()
    await op.send("Завтра контакт-центр 1414 не работает.")
    assert t("op.bc.ask_audience") in op.texts()


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_a_command_before_the_language_is_answered_after_it(h, lang):
    t = tx(h, lang)
    chat = Chat(h, 2520, lang)
    await chat.send("/status")
    assert "Тілді таңдаңыз" in chat.texts()
    await chat.press("Қазақша" if lang == "kk" else "Русский")
    assert t("status.none_identify") in chat.texts()  # /status, not the main menu
    deep = Chat(h, 2521, lang)
    await deep.send(f"/start {SEEDED}")
    await deep.press("Қазақша" if lang == "kk" else "Русский")
    assert t("status.not_found_identify") in deep.texts()


# SMS: a bare number --------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_a_bare_number_by_sms_is_a_status_request_in_the_phones_language(sh, lang):
    chat = Chat(sh, 2530, lang)  # Айгерім uses the bot in ``lang``
    await chat.start_in(lang)
    await chat.press(tx(sh, lang)("btn.status"))
    await chat.press(tx(sh, lang)("btn.identify"))
    await chat.identify("Айгерім")
    await sh.sms_in(AIGERIM["phone"], SEEDED.lower().replace("-", " "))
    reply = sh.phone.last(AIGERIM["phone"])
    assert reply.startswith(tx(sh, lang)("smsin.status", number=SEEDED, status="", due="").split(":")[0]), reply
    assert SEEDED in reply and tx(sh, lang)("status.in_progress") in reply
    # Someone else's phone: the not-found answer, as for any number that is not theirs.
    await sh.sms_in(CITIZENS["Сергей"]["phone"], SEEDED)
    assert sh.services.texts("kk", "smsin.not_found") == sh.phone.last(CITIZENS["Сергей"]["phone"])


# Refusals and lateness: how to appeal --------------------------------------------------------------------

@pytest.fixture
async def fh(emu, database):
    harness = SmsHarness(emu, database, feed_token=FEED_TOKEN)
    await harness.start()
    set_now(harness, "2026-12-04T09:00:00+05:00")
    yield harness
    await harness.close()


async def identified(h, user_id: int, lang: str) -> Chat:
    chat = Chat(h, user_id, lang)
    await chat.start_in(lang)
    await chat.send("/status")
    await chat.press(tx(h, lang)("btn.identify"))
    await chat.identify("Айгерім")
    return chat


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_a_refusal_explains_the_complaint_and_the_court_and_files_one_about_it(fh, lang):
    t = tx(fh, lang)
    chat = await identified(fh, 2540, lang)
    assert (await feed(fh, event())).status_code == 200
    await fh.emu.next_message(2540)
    assert (await feed(fh, event(status="refused", at="2026-11-26T10:00:00+05:00",
                                 note="Неполный пакет документов"))).status_code == 200
    notice = await fh.emu.next_message(2540)
    court = "в суд" if lang == "ru" else "сотқа"
    assert court in notice.plain_text
    assert t("cp.btn.file") in [text for text, _ in fh.emu.inline_buttons(notice)]
    # The card says it too, with the same button.
    await chat.send(NUMBER)
    assert t("app.refused.appeal") in chat.texts() and t("cp.btn.file") in chat.buttons()
    # The button files a complaint about this application: no need to pick it again.
    await chat.press(t("cp.btn.file"))
    assert t("cp.addressee.ask") in chat.texts()
    await chat.press(t("cp.btn.to_provider"))
    assert t("cp.btn.details_ok") in chat.buttons()  # straight to the filer's details
    await chat.press(t("cp.btn.details_ok"))
    await chat.send("Отказ не обоснован: все документы были приложены к заявлению.")
    await chat.press(t("cp.btn.send"))
    filed = await fh.services.db.fetchval("SELECT app_number FROM complaints WHERE iin = ?", (AIGERIM["iin"],))
    assert filed == NUMBER


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_an_overdue_applications_notice_says_it_is_overdue(fh, lang):
    await identified(fh, 2550, lang)
    s4 = {"service": "sanatorium_conclusion", "number": "QZ-261125-0000777"}
    assert (await feed(fh, event(**s4))).status_code == 200  # one working day: due on 26 November
    await fh.emu.next_message(2550)
    assert (await feed(fh, event(**s4, status="in_progress", at="2026-12-03T10:00:00+05:00"))).status_code == 200
    notice = await fh.emu.next_message(2550)
    assert "⚠️" in notice.plain_text
    assert ("Срок оказания услуги нарушен" in notice.plain_text) if lang == "ru" \
        else ("мерзімі бұзылды" in notice.plain_text)
    assert tx(fh, lang)("cp.btn.file") in [text for text, _ in fh.emu.inline_buttons(notice)]


# /help and the broadcast preview -------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_help_lists_every_command_a_citizen_has_and_each_answers(h, lang):
    chat = Chat(h, 2560, lang)
    await chat.start_in(lang)
    await chat.send("/help")
    listed = chat.texts()
    commands = ["/start", "/status", "/about_me", "/new_complaint", "/my_complaints", "/settings", "/subscribe",
                "/unsubscribe", "/language", "/cancel", "/logout", "/help"]
    for command in [*commands, "/verify"]:
        assert command in listed, command
    unknown = h.services.texts(lang, "input.unknown_command")
    for command in commands:
        await chat.send(command)
        assert unknown not in chat.texts(), command
        await chat.send("/cancel")


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_the_broadcast_preview_says_the_operator_is_a_recipient(h, lang):
    t = tx(h, lang)
    await h.services.staff.add("cli", 9102, "operator")
    op = Chat(h, 9102, lang)
    await op.start_in(lang)  # a subscriber like anyone who chose a language
    await op.send("/broadcast")
    await op.press(t("op.btn.bc_skip"))
    await op.send("Завтра контакт-центр 1414 не работает.")
    await op.press(t("op.aud.all"))
    assert t("op.bc.preview", count=1, audience=t("op.aud.all"), kk=t("op.bc.missing"),
             ru="Завтра контакт-центр 1414 не работает.") in op.texts()
    assert t("op.bc.you_included") in op.texts()
    await op.press(t("btn.cancel"))
    # An audience without the operator says nothing of the kind.
    other = "kk" if lang == "ru" else "ru"
    citizen = Chat(h, 2570, other)
    await citizen.start_in(other)
    await op.send("/broadcast")
    await op.press(t("op.btn.bc_skip"))
    await op.send("Завтра контакт-центр 1414 не работает.")
    await op.press(t(f"op.aud.lang_{other}"))
    assert t("op.bc.you_included") not in op.texts()
    assert await repos(h.services).users.language(9102) == lang
