"""Notices about a person's own matters: Telegram when they use the bot, SMS otherwise or when Telegram
refuses; nothing when they turned notices off; both languages; SMS forms within their budget."""

from __future__ import annotations

import asyncio
import string

import pytest

from bot.domain.sms_segments import count_segments
from bot.i18n import LANGS, Texts
from tests.harness import CITIZENS, Chat
from tests.repos import notify, repos

TEXTS = Texts.load()
APP_STATUSES = ("accepted", "awaiting_consent", "in_progress", "result_ready", "refused")
NOTICE_KEYS = sorted(k for k in TEXTS.keys("ru") if k.startswith("notice.") and not k.endswith(".sms"))
WORST = {"number": "Q" * 40, "service": "S" * 60, "due": "31 желтоқсан 2026 ж., 23:59", "when": "x" * 30,
         "days": 99, "n": 99, "addressee": "A" * 40}


def placeholders(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}


def test_every_notice_has_both_languages_and_an_sms_form_with_the_same_placeholders():
    assert NOTICE_KEYS
    for key in NOTICE_KEYS:
        for form in (key, f"{key}.sms"):
            kk, ru = TEXTS.raw("kk", form), TEXTS.raw("ru", form)
            assert kk and ru and kk != ru, form
            assert placeholders(kk) == placeholders(ru), form
        assert placeholders(TEXTS.raw("ru", f"{key}.sms")) <= placeholders(TEXTS.raw("ru", key)), key


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("key", NOTICE_KEYS)
def test_sms_form_fits_two_segments_with_worst_case_values(lang, key):
    statuses = [TEXTS(lang, f"status.{s}") for s in APP_STATUSES]
    statuses += [TEXTS(lang, k) for k in TEXTS.keys(lang) if k.startswith("complaint.state.")]
    params = {**WORST, "status": max(statuses, key=len), "state": max(statuses, key=len)}
    text = TEXTS(lang, f"{key}.sms", **params)
    assert count_segments(text).segments <= 2, (len(text), text)


async def identified(h, user_id: int, lang: str, name: str) -> Chat:
    """A bot user who verified their identity (an own TB request on the way)."""
    chat = Chat(h, user_id, lang)
    await chat.start_in(lang)
    await chat.press("Сведения о себе" if lang == "ru" else "Өзім туралы")
    await chat.press("фтизиатрия")
    await chat.identify(name)
    return chat


async def notice_statuses(h, user_id: int, expected: list) -> list:
    """The person's notices once the worker has recorded ``expected`` (or what they are after 5 s)."""
    for _ in range(250):
        found = await repos(h.services).telegram.statuses(user_id, "notice")
        if found == expected:
            break
        await asyncio.sleep(0.02)
    return found


def _status_params() -> dict:
    return {"number": "QZ-261124-0000102", "status": {"text": "status.in_progress"},
            "service": {"text": "service.sanatorium_conclusion.short"}, "due": {"when": "2026-11-25T13:30:00+00:00"},
            "_open": "app:QZ-261124-0000102"}


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_a_linked_bot_user_gets_the_notice_in_telegram_in_their_language(h, lang):
    await identified(h, 5001, lang, "Айгерім")
    route = await notify(h.services, "notice.app_status", _status_params(), iin=CITIZENS["Айгерім"]["iin"])
    assert route == "telegram"
    message = await h.emu.next_message(5001)
    if lang == "ru":
        assert "Статус заявки QZ-261124-0000102 изменён: в работе" in message.plain_text
        assert "25 ноября 2026\u202fг., 18:30" in message.plain_text
    else:
        assert "QZ-261124-0000102 өтінімінің мәртебесі өзгерді" in message.plain_text
        assert "2026\u202fж. 25 қараша, 18:30" in message.plain_text
    assert [text for text, _ in h.emu.inline_buttons(message)] == ["Открыть" if lang == "ru" else "Ашу"]
    expected = [("notice.app_status", "sent")]
    assert await notice_statuses(h, 5001, expected) == expected


async def test_the_link_outlives_logout_and_the_switch_turns_notices_off(h):
    chat = await identified(h, 5002, "ru", "Айгерім")
    await chat.send("/logout")
    iin = CITIZENS["Айгерім"]["iin"]
    assert await notify(h.services, "notice.app_status", _status_params(), iin=iin) == "telegram"
    await h.emu.next_message(5002)
    await h.services.subscriptions.set_status_notices(5002, False)
    sms_before = len(h.phone.inbox.get(CITIZENS["Айгерім"]["phone"], []))
    assert await notify(h.services, "notice.app_status", _status_params(), iin=iin) == "off"
    assert len(h.phone.inbox.get(CITIZENS["Айгерім"]["phone"], [])) == sms_before  # no SMS either


async def test_without_the_bot_the_notice_goes_by_sms_in_the_phones_language(h):
    citizen = CITIZENS["Сергей"]
    assert await notify(h.services, "notice.app_status", _status_params(), iin=citizen["iin"]) == "sms"
    await h.services.sms.retry_queued()
    assert h.phone.last(citizen["phone"]) == "Qyzmet: QZ-261124-0000102 өтінімінің мәртебесі: орындалуда."


async def test_retrying_the_queue_waits_for_the_workers_attempt_already_in_flight(h):
    """The worker may claim a notice first; a retry then finds it taken, and still returns only once it is sent."""
    in_gateway, release = asyncio.Event(), asyncio.Event()

    async def held_gateway(to: str, text: str) -> None:
        in_gateway.set()
        await release.wait()

    h.gateway.listeners.insert(0, held_gateway)  # the phone hears of it only once released
    citizen = CITIZENS["Сергей"]
    assert await notify(h.services, "notice.app_status", _status_params(), iin=citizen["iin"]) == "sms"
    await asyncio.wait_for(in_gateway.wait(), 10)  # the worker, woken by the commit, claimed it and is sending
    retry = asyncio.create_task(h.services.sms.retry_queued())
    await asyncio.sleep(0.05)
    assert not retry.done()  # it waits for the worker's attempt
    assert citizen["phone"] not in h.phone.inbox
    release.set()
    assert await retry == 0  # taken by the worker: not attempted here
    assert h.phone.last(citizen["phone"]) == "Qyzmet: QZ-261124-0000102 өтінімінің мәртебесі: орындалуда."


async def test_when_telegram_refuses_the_notice_goes_by_sms(h):
    await identified(h, 5003, "ru", "Сергей")
    h.emu.deactivate(5003)  # no update tells the bot: it learns from the 403
    citizen = CITIZENS["Сергей"]
    assert await notify(h.services, "notice.app_status", _status_params(), iin=citizen["iin"]) == "telegram"
    expected = [("notice.app_status", "by_sms")]
    assert await notice_statuses(h, 5003, expected) == expected
    await h.services.sms.retry_queued()
    assert h.phone.last(citizen["phone"]) == "Qyzmet: статус заявки QZ-261124-0000102: в работе."
    # Marked blocked now: the next notice goes straight by SMS.
    assert await notify(h.services, "notice.app_status", _status_params(), iin=citizen["iin"]) == "sms"


async def test_blocking_the_bot_sends_notices_by_sms_until_the_person_comes_back(h):
    chat = await identified(h, 5004, "kk", "Сергей")
    citizen = CITIZENS["Сергей"]
    h.emu.block(5004)
    await h.emu.wait_idle(5004, quiet=0.2, timeout=2)  # the bot handles the my_chat_member update
    for _ in range(100):
        if await h.services.subscriptions.blocked(5004):
            break
        await asyncio.sleep(0.02)
    assert await notify(h.services, "notice.app_status", _status_params(), iin=citizen["iin"]) == "sms"
    h.emu.unblock(5004)
    await chat.send("/start")
    assert await notify(h.services, "notice.app_status", _status_params(), iin=citizen["iin"]) == "telegram"
    message = await h.emu.next_message(5004)
    assert "QZ-261124-0000102 өтінімінің мәртебесі өзгерді" in message.plain_text
