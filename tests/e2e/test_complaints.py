"""Complaints end to end: the real PTB Application through the emulator over HTTP and a real SQLite file.
A citizen files a complaint in the bot, an operator moves it through its marks in the console, the citizen is
told at each change and sees the card with the answer and the court note; deadlines across a real holiday."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from bot.core.complaints import normalize_number
from bot.domain.calendar import ALMATY
from bot.domain.deadlines import complaint_due_at
from handlers.telegram import render
from tests.harness import CITIZENS, Chat

OPERATOR = 7101
AIGERIM = CITIZENS["Айгерім"]
SERGEY = CITIZENS["Сергей"]


def at(h, local: datetime) -> None:
    """Put the harness clock at a given Almaty moment (ShiftedClock = real time + offset)."""
    h.clock.offset = timedelta(0)
    h.clock.offset = local.replace(tzinfo=ALMATY) - h.clock.now()


def tx(h, lang: str):
    return lambda key, **params: h.services.texts(lang, key, **params)


async def operator(h, lang: str) -> Chat:
    await h.services.staff.add("cli", OPERATOR, "operator")
    op = Chat(h, OPERATOR, lang)
    await op.start_in(lang)
    return op


async def start_filing(h, user_id: int, lang: str, name: str) -> Chat:
    """Language chosen, "File a complaint" pressed, identified: the flow continues at the addressee."""
    t = tx(h, lang)
    chat = Chat(h, user_id, lang)
    await chat.start_in(lang)
    await chat.press(t("cp.btn.file"))
    await chat.identify(name)
    assert t("cp.addressee.ask") in chat.texts()
    return chat


async def notice(h, user_id: int) -> str:
    return (await h.emu.next_message(user_id)).plain_text or ""


async def latest(h, iin: str):
    return (await h.services.complaints.repo.for_iin(iin))[0]


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_complaint_about_an_application_from_filing_to_answer(h, lang):
    t = tx(h, lang)
    at(h, datetime(2026, 11, 25, 10, 0))
    chat = await start_filing(h, 6001, lang, "Айгерім")
    await chat.press(t("cp.btn.to_provider"))
    assert {"QZ-261120-0000101", "QZ-261124-0000102"} <= {b.split(" ")[0] for b in chat.buttons()}
    await chat.press("QZ-261124-0000102")
    shown = chat.texts()
    assert AIGERIM["full_name"] in shown and AIGERIM["address"] in shown
    assert AIGERIM["iin"] not in shown  # masked even to its owner in the chat
    await chat.press(t("cp.btn.details_ok"))
    assert t("cp.text.ask", limit=3000) in chat.texts()
    await chat.send("Заключение не выдано в срок, ответа нет 😡 Прошу рассмотреть.")
    await chat.press(t("cp.btn.send"))
    c = await latest(h, AIGERIM["iin"])
    assert c.state == "delivered" and c.app_number == "QZ-261124-0000102" and c.addressee == "provider"
    assert c.due_at == complaint_due_at("provider", c.filed_at, h.services.calendar)
    assert c.due_at.astimezone(ALMATY).date() == date(2026, 12, 2)  # 5 working days from Thu 26 Nov
    assert c.number in chat.texts() and render.when(c.due_at, lang) in chat.texts()
    assert normalize_number(c.number) == c.number and c.number.startswith("CP-261125-")
    if lang == "ru":
        assert "Жалоба доставлена. Номер жалобы: " + c.number in chat.texts()
    else:
        assert "Шағым жеткізілді. Шағым нөмірі: " + c.number in chat.texts()

    op = await operator(h, lang)
    await op.send(f"/complaint {c.number.lower().replace('-', ' ')}")
    assert "Заключение не выдано в срок" in op.texts() and c.number in op.texts()
    await op.press(t("op.cp.btn.registered"))
    assert t("op.cp.moved", number=c.number, state=t("complaint.state.registered")) in op.texts()
    assert t("notice.complaint_state", number=c.number, state=t("complaint.state.registered")) in await notice(h, 6001)
    await op.press(t("op.cp.btn.under_review"))
    assert t("complaint.state.under_review") in await notice(h, 6001)
    await op.press(t("op.cp.btn.answered"))
    assert t("op.cp.ask_answered", number=c.number, limit=2000) in op.texts()
    await op.send("Заключение выдано 26.11.2026, сотрудник предупреждён.")
    assert t("complaint.state.answered") in await notice(h, 6001)

    await chat.press(t("btn.open"))  # the Open button of the notice
    card = chat.texts()
    for state in ("delivered", "registered", "under_review", "answered"):
        assert t("complaint.state." + state) in card
    assert "Заключение выдано 26.11.2026, сотрудник предупреждён." in card
    assert t("cp.card.court") in card
    if lang == "ru":
        assert "обращение в суд допускается после обжалования в досудебном порядке" in card
    else:
        assert "сотқа дейінгі тәртіппен шағым жасалғаннан кейін сотқа жүгінуге жол беріледі" in card

    # Every operator action is audited, the complaint number kept, nothing personal in clear.
    audit = await h.services.staff._audit.recent(actor=str(OPERATOR))
    actions = [e.action for e in reversed(audit)]
    assert actions[:1] == ["view_complaint"]
    assert [a for a in actions if a.startswith("complaint_")] == [
        "complaint_registered", "complaint_under_review", "complaint_answered"]
    assert all(e.number == c.number for e in audit)
    assert AIGERIM["iin"] not in str([e.details for e in audit])

    # A button pressed twice (a stale console card) cannot move it again, and says so.
    await op.press_data(op.last[-1].message_id, f"op:cpmove:{c.number}:registered")
    assert t("op.cp.not_moved_not_allowed", number=c.number) in op.texts()
    assert (await latest(h, AIGERIM["iin"])).state == "answered"


async def test_quality_authority_forwarding_and_the_15_day_term_across_a_holiday(h):
    t = tx(h, "ru")
    at(h, datetime(2026, 11, 25, 10, 0))  # Wednesday
    chat = await start_filing(h, 6002, "ru", "Айгерім")
    await chat.press("В орган по контролю качества")
    await chat.press("QZ-261120-0000101")
    await chat.press("Да, всё верно")
    await chat.send("Документы не оформлены, прошу проверить качество оказания услуги.")
    await chat.press("Отправить жалобу")
    c = await latest(h, AIGERIM["iin"])
    cal = h.services.calendar
    assert not cal.is_working_day(date(2026, 12, 16))  # Independence Day
    # 15 working days from Thu 26 Nov: weekdays only would end on Wed 16 Dec, the holiday moves it to 17 Dec.
    assert c.due_at.astimezone(ALMATY) == datetime(2026, 12, 17, 18, 30, tzinfo=ALMATY)
    assert c.forward_due_at.astimezone(ALMATY) == datetime(2026, 11, 30, 18, 30, tzinfo=ALMATY)
    assert "17 декабря 2026" in chat.texts()

    op = await operator(h, "ru")
    await op.send(f"/complaint {c.number}")
    # The quality authority reviews only what the provider forwarded: no "under review" before forwarding.
    assert t("op.cp.btn.registered") in op.buttons() and t("op.cp.btn.under_review") not in op.buttons()
    await op.press("Зарегистрировать")
    await notice(h, 6002)
    assert t("op.cp.btn.under_review") not in op.buttons()
    assert t("cp.card.forward_late") not in op.texts()
    at(h, datetime(2026, 12, 1, 10, 0))  # Tuesday: the 3 working days to forward ended on Monday evening
    await op.send(f"/complaint {c.number}")
    assert t("cp.card.forward_late") in op.texts()
    await op.press("Направить в уполномоченный орган")
    assert "направлена в уполномоченный орган" in await notice(h, 6002)
    await op.press("Принять к рассмотрению")
    await notice(h, 6002)

    at(h, datetime(2026, 12, 21, 10, 0))  # Monday: Fri 18 and Mon 21 Dec are past the deadline
    await op.send("/op")
    await op.press("Открытые жалобы")
    assert c.number in op.texts() and "просрочено на 2 рабочих дня" in op.texts().lower()
    await chat.send("/start")
    await chat.press("Мои жалобы")
    await chat.identify("Айгерім")  # weeks later the identity has expired: asked again, then the list
    assert "Ваши жалобы:" in chat.texts()
    await chat.press(c.number)
    assert "Просрочено на 2 рабочих дня" in chat.texts()
    assert "направлена в уполномоченный орган" in chat.texts()

    await op.send(f"/complaint {c.number}")
    await op.press("Отказать в рассмотрении")
    await op.send("Жалоба подана повторно по тому же вопросу.")
    assert "отказано в рассмотрении" in await notice(h, 6002)
    await chat.press("Открыть")
    assert "Отказ в рассмотрении жалобы:\nЖалоба подана повторно по тому же вопросу." in chat.texts()
    assert "Просрочено" not in chat.texts()  # answered: no longer late
    assert "обращение в суд" in chat.texts()


async def test_about_a_provider_without_an_application_long_text_new_address_and_a_photo(h):
    t = tx(h, "kk")
    chat = await start_filing(h, 6003, "kk", "Сергей")
    await chat.press(t("cp.btn.to_provider"))
    assert t("cp.subject.ask_none") in chat.texts()  # Сергей has no applications in the bot
    await chat.send("QZ-261120-0000101")  # someone else's application
    assert t("cp.subject.not_found") in chat.texts()
    await chat.press(t("cp.btn.no_application"))
    await chat.send("№ 5 қалалық емхана")
    assert SERGEY["address"] in chat.texts()
    await chat.press(t("cp.btn.change_address"))
    await chat.send("Астана қ., Мәңгілік Ел даңғылы, 10, 3-пәтер")
    assert "Мәңгілік Ел даңғылы, 10" in chat.texts()
    await chat.press(t("cp.btn.details_ok"))
    await chat.photo()  # a photo before the text: the text is asked for again
    assert t("cp.text.ask_again") in chat.texts()
    await chat.send("ә" * 5000)
    assert t("cp.text.too_long", limit=3000, length=5000) in chat.texts()
    assert "5000" in chat.texts() and "3000" in chat.texts()
    await chat.send("Тіркеу бөлімінде қызметкер дөрекі сөйледі 🙁")
    await chat.photo()
    assert t("cp.file.attached") in chat.texts()
    await chat.press(t("cp.btn.send"))
    c = await latest(h, SERGEY["iin"])
    assert c.provider_name == "№ 5 қалалық емхана" and c.app_number is None
    assert c.address == "Астана қ., Мәңгілік Ел даңғылы, 10, 3-пәтер" and c.full_name == SERGEY["full_name"]
    assert c.file_kind == "photo" and c.file_id
    assert c.body == "Тіркеу бөлімінде қызметкер дөрекі сөйледі 🙁"
    assert t("cp.card.file_photo") in chat.texts() and "«№ 5 қалалық емхана»" in chat.texts()

    # The operator sees the photo itself (protected), and that view is audited.
    op = await operator(h, "kk")
    await op.send(f"/complaint {c.number}")
    await op.press("Тіркемені көрсету")
    photo = next(m for m in op.last if m.photo)
    assert photo.protect_content
    assert any(e.action == "view_attachment" and e.number == c.number for e in await h.services.staff._audit.recent())


async def test_someone_elses_complaint_is_not_visible_and_citizens_cannot_use_operator_actions(h):
    chat = await start_filing(h, 6004, "ru", "Айгерім")
    await chat.press("Руководителю услугодателя")
    await chat.press("QZ-261120-0000101")
    await chat.press("Да, всё верно")
    await chat.send("Прошу разобраться со сроками оформления.")
    await chat.press("Отправить жалобу")
    c = await latest(h, AIGERIM["iin"])

    other = Chat(h, 6005, "ru")
    await other.start_in("ru")
    await other.press("Мои жалобы")
    await other.identify("Сергей")
    assert "Вы ещё не подавали жалоб." in other.texts()
    await other.send(c.number)
    not_yours = other.texts()
    await other.send("CP-261125-0000000")
    assert other.texts() == not_yours == "Жалоба с таким номером не найдена среди ваших жалоб."
    await other.press_data(other.last[-1].message_id, f"cpv:{c.number}")
    assert other.texts() == not_yours

    # The console refuses a citizen exactly like an unknown command / a stale button, and moves nothing.
    await other.send("/nosuchcommand")
    unknown = other.texts()
    await other.send(f"/complaint {c.number}")
    assert other.texts() == unknown
    await other.send("/complaints")
    assert other.texts() == unknown
    await other.press_data(other.last[-1].message_id, f"op:cpmove:{c.number}:registered")
    assert "Эта кнопка больше не действует" in other.texts()
    assert (await latest(h, AIGERIM["iin"])).state == "delivered"
    assert await h.services.staff._audit.recent(actor="6005") == []
    # And the core itself refuses a non-operator.
    moved = await h.services.complaints.move(6005, c.number, "registered")
    assert getattr(moved, "reason", None) == "not_staff"


async def test_a_restart_in_the_middle_of_filing_continues_and_stale_buttons_are_answered(h):
    chat = await start_filing(h, 6006, "ru", "Айгерім")
    await chat.press("Руководителю услугодателя")
    addressee_message = chat.last[-1].message_id
    await chat.press("QZ-261124-0000102")
    await chat.send("просто текст")  # typed on the details step: the buttons are shown again
    assert "Пожалуйста, подтвердите данные" in chat.texts()
    await chat.press("Да, всё верно")
    await h.restart()
    await chat.send("Коротко")
    assert "Текст слишком короткий" in chat.texts()
    await chat.send("После перезапуска бот должен помнить, что я пишу жалобу.")
    assert "При необходимости приложите фотографию или документ" in chat.texts()
    await h.restart()
    await chat.after(await h.emu.send_sticker(6006))
    assert "можно приложить только фотографию или документ" in chat.texts()
    await chat.after(await h.emu.send_document(6006))  # a scan of a document, after the restart
    assert "Файл приложен" in chat.texts()
    await chat.press("Отправить жалобу")
    c = await latest(h, AIGERIM["iin"])
    assert c.file_kind == "document" and c.file_id
    assert "Приложен документ" in chat.texts()
    assert c.body == "После перезапуска бот должен помнить, что я пишу жалобу." and c.app_number == "QZ-261124-0000102"
    # An old addressee button pressed after filing is stale, and files nothing more.
    await chat.press_data(addressee_message, "cpa:provider")
    assert "Эта кнопка больше не действует" in chat.texts()
    assert len(await h.services.complaints.repo.for_iin(AIGERIM["iin"])) == 1


async def test_the_provider_satisfies_a_complaint_to_the_quality_authority_instead_of_forwarding_it(h):
    t = tx(h, "kk")
    chat = await start_filing(h, 6010, "kk", "Айгерім")
    await chat.press(t("cp.btn.to_quality"))
    await chat.press("QZ-261120-0000101")
    await chat.press(t("cp.btn.details_ok"))
    await chat.send("Құжаттарым әлі рәсімделмеді, тексеруіңізді сұраймын.")
    await chat.press(t("cp.btn.send"))
    c = await latest(h, AIGERIM["iin"])
    op = await operator(h, "kk")
    await op.send(f"/complaint {c.number}")
    await op.press(t("op.cp.btn.registered"))
    await notice(h, 6010)
    assert t("op.cp.btn.satisfied_by_provider") in op.buttons() and t("op.cp.btn.forwarded") in op.buttons()
    await op.press(t("op.cp.btn.satisfied_by_provider"))
    assert t("op.cp.ask_satisfied_by_provider", number=c.number, limit=2000) in op.texts()
    await op.send("Құжаттар 27 қарашада рәсімделді, өтініш берушіге хабарланды.")
    assert t("complaint.state.satisfied_by_provider") in await notice(h, 6010)
    assert (await h.services.complaints.repo.get(c.number)).forward_due_at is not None  # it had a term to forward …
    await chat.press(t("btn.open"))
    card = chat.texts()
    assert "Құжаттар 27 қарашада рәсімделді" in card and t("cp.card.court") in card
    assert "кешіктірмей" not in card  # … no longer shown ("… — {due} кешіктірмей"): it is not to be forwarded
    # Final: nothing moves it any more.
    await op.send(f"/complaint {c.number}")
    assert t("op.cp.btn.forwarded") not in op.buttons()
