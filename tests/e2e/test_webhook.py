"""Webhook mode, end to end: the real python-telegram-bot Application behind the bot's own HTTP server, the
emulator posting updates to it as Telegram does (per-chat queues, the next update only after a 2xx, retries).

The update is handled before it is answered, a request without the secret changes nothing, an update posted
twice is acted on once, a failed update is refused, posted again and handled once, and one chat's messages are
answered in the order written.
"""

from __future__ import annotations

import pytest
from telegram import Update
from telegram.ext import ContextTypes, MessageHandler, filters

from bot import faults
from bot.sandbox.emulator import SentMessage
from tests.harness import CITIZENS, Chat
from tests.webhook_harness import WEBHOOK_SECRET, WebhookHarness, own_tb_flow, press_update, text_update

SERGEI = CITIZENS["Сергей"]


@pytest.fixture
async def wh(emu, database):
    harness = WebhookHarness(emu, database)
    await harness.start()
    yield harness
    await harness.close()
    faults._failures.clear()  # a failure a test asked for and never reached must not hit the next test


async def handled_rows(wh: WebhookHarness) -> int:
    assert wh.services is not None
    return int(await wh.services.db.fetchval("SELECT count(*) FROM telegram_updates"))


async def test_a_citizens_whole_flow_over_the_webhook(wh, emu):
    info = await emu._get_webhook_info({}, {})
    assert info["url"] == wh.webhook and info["allowed_updates"] == ["callback_query", "message", "my_chat_member"]
    assert emu.stats["requests"]["getUpdates"] == 0
    chat = Chat(wh, 2001, "ru")
    await own_tb_flow(chat)
    await emu.webhook_idle()
    attempts = [a for a in emu.webhook_attempts if a.url == wh.webhook]
    assert attempts and all(a.status == 200 for a in attempts)  # each handled at the first post
    assert (await emu._get_webhook_info({}, {}))["pending_update_count"] == 0
    ready = await wh.client.get(f"{wh.base}/health/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["telegram_webhook"] is True
    assert "telegram_polling" not in ready.json()["checks"]


@pytest.mark.parametrize("secret", [None, "wrong-secret", WEBHOOK_SECRET.upper()])
async def test_a_request_without_the_right_secret_is_refused_and_changes_nothing(wh, emu, secret):
    before = await handled_rows(wh)
    answer = await wh.post_update(text_update(900_001, 2002, "/start"), secret=secret)
    assert answer.status_code == 403
    answer = await wh.post_update(text_update(900_002, 2002, SERGEI["iin"]), secret=secret)
    assert answer.status_code == 403
    assert emu.history(2002) == []  # nothing answered
    assert await handled_rows(wh) == before
    assert wh.services is not None
    assert await wh.services.conversation.language(2002) is None  # nothing written


async def test_a_body_that_is_not_an_update_is_a_bad_request(wh):
    response = await wh.client.post(wh.webhook, content=b"[1, 2]",
                                    headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET})
    assert response.status_code == 400
    response = await wh.post_update({"message": {"text": "no update id"}})
    assert response.status_code == 400


def language_button(wh: WebhookHarness, user_id: int, label: str) -> tuple[SentMessage, str]:
    """The newest language keyboard in the chat and the data of its ``label`` button."""
    for message in reversed(wh.emu.messages(user_id)):
        for text, data in wh.emu.inline_buttons(message):
            if label in text:
                return message, data
    raise AssertionError(f"no {label} button in chat {user_id}")


async def test_a_press_is_answered_in_the_webhook_answer_without_a_request_of_its_own(wh, emu):
    """The spinner of a pressed button is stopped by the method call the 2xx answer carries (Telegram runs it):
    the press is answered, and the bot made no answerCallbackQuery request of its own."""
    chat = Chat(wh, 2006, "kk")
    await chat.start_in("kk")  # a press: the language
    await emu.webhook_idle()
    assert [a.user_id for a in emu.callback_answers] == [2006]  # the spinner stopped
    assert emu.stats["requests"]["answerCallbackQuery"] == 0
    assert emu.stats["carried_calls"]["answerCallbackQuery"] == 1

    await chat.send("/language")
    response = await wh.post_update(press_update(900_030, 2006, *language_button(wh, 2006, "Русский")))
    assert response.status_code == 200
    assert response.json() == {"method": "answerCallbackQuery", "callback_query_id": "43000000900030"}
    text = await wh.post_update(text_update(900_031, 2006, "/help"))
    assert text.status_code == 200 and text.content == b""  # a message carries nothing


async def test_the_same_update_posted_twice_is_acted_on_once(wh, emu):
    emu.add_user(2003, "User2003", language_code="ru")
    # One that writes nothing (a new chat's /start asks for the language): remembered in the ledger.
    start = text_update(900_010, 2003, "/start")
    assert (await wh.post_update(start)).status_code == 200
    await wh.delivered()
    assert len(emu.drain(2003)) == 1
    assert (await wh.post_update(start)).status_code == 200
    await wh.delivered()
    assert emu.drain(2003) == []  # acknowledged, not answered twice

    # One that writes (the language chosen): marked handled in its own transaction.
    press = press_update(900_011, 2003, *language_button(wh, 2003, "Русский"))
    rows = await handled_rows(wh)
    assert (await wh.post_update(press)).status_code == 200
    await wh.delivered()
    assert emu.drain(2003) and await handled_rows(wh) == rows + 1
    assert wh.services is not None and await wh.services.conversation.language(2003) == "ru"
    assert (await wh.post_update(press)).status_code == 200
    await wh.delivered()
    assert emu.drain(2003) == [] and await handled_rows(wh) == rows + 1


async def test_a_retry_of_an_update_that_wrote_is_skipped_by_the_database_even_if_the_ledger_forgot(wh, emu):
    """The ledger of answered updates is a cache; the mark in telegram_updates is what keeps "once"."""
    chat = Chat(wh, 2004, "ru")
    await chat.start_in("ru")
    await chat.send("/language")
    press = press_update(900_020, 2004, *language_button(wh, 2004, "Қазақша"))  # writes: the language
    rows = await handled_rows(wh)
    assert (await wh.post_update(press)).status_code == 200
    await wh.delivered()
    assert emu.drain(2004) and await handled_rows(wh) == rows + 1
    webhook = wh.bot.http._telegram._updates  # type: ignore[union-attr]
    webhook._ledger._seen.clear()  # as after a restart, or on another replica without Redis
    assert (await wh.post_update(press)).status_code == 200
    await wh.delivered()
    assert emu.drain(2004) == [] and await handled_rows(wh) == rows + 1


async def test_an_update_whose_commit_fails_is_refused_posted_again_and_handled_once(wh, emu):
    chat = Chat(wh, 2005, "ru")
    await chat.start_in("ru")
    await chat.send("/language")
    faults.fail_once("before_commit", "turn")  # the next update that writes fails at its commit
    keyboard, data = language_button(wh, 2005, "Қазақша")
    update_id, _ = emu.press_button(2005, keyboard.message_id, data)  # writes: the language
    await emu.webhook_idle()
    await wh.delivered()
    assert emu.webhook_statuses(update_id) == [500, 200]
    replies = emu.drain(2005)
    assert len(replies) == 1, [m.plain_text for m in replies]  # nothing from the failed try, one answer
    assert not faults._failures
    assert wh.services is not None and await wh.services.conversation.language(2005) == "kk"


async def test_a_failing_handler_is_silent_until_the_last_try_then_given_up(wh, emu):
    """A handler that raises: the person hears nothing while Telegram posts the update again; after the last
    try (handlers/telegram/webhook.py ATTEMPTS) the update is acknowledged and the person told once."""
    from handlers.telegram.webhook import ATTEMPTS
    tries: list[int] = []

    async def broken(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        tries.append(update.update_id)
        if len(tries) < 2 or update.message.text == "always":  # type: ignore[union-attr]
            raise RuntimeError("a bug")

    assert wh.bot is not None
    wh.bot.application.handlers[0].insert(0, MessageHandler(filters.Regex("^(once|always)$"), broken))
    chat = Chat(wh, 2006, "ru")
    await chat.start_in("ru")
    once = await emu.send_text(2006, "once")
    await emu.webhook_idle()
    await wh.delivered()
    assert emu.webhook_statuses(once) == [500, 200]
    assert emu.drain(2006) == []  # the failed try said nothing; the second try's handler answers nothing
    always = await emu.send_text(2006, "always")
    await emu.webhook_idle()
    await wh.delivered()
    assert emu.webhook_statuses(always) == [500] * (ATTEMPTS - 1) + [200]
    told = emu.drain(2006)
    assert [m.plain_text for m in told] == [wh.services.texts("ru", "error.generic")]  # type: ignore[union-attr]


async def test_one_chats_messages_are_answered_in_the_order_written(wh, emu):
    chat = Chat(wh, 2007, "ru")
    await chat.start_in("ru")
    texts = wh.services.texts  # type: ignore[union-attr]
    commands = ["/help", "/status", "/menu", "/help", "/settings", "/status"]
    expected = [texts("ru", "help.text")[:40], texts("ru", "status.none_identify"), texts("ru", "flow.cancelled"),
                texts("ru", "help.text")[:40], None, texts("ru", "status.none_identify")]
    other = Chat(wh, 2008, "kk")
    await other.start_in("kk")
    for command in commands:  # all written at once: they wait in the chat's queue at the emulator
        await emu.send_text(2007, command)
        await emu.send_text(2008, "/help")
    await emu.webhook_idle()
    await wh.delivered()
    replies = emu.drain(2007)
    assert len(replies) == len(commands), [m.plain_text for m in replies]
    for reply, start in zip(replies, expected, strict=True):
        if start is not None:
            assert (reply.plain_text or "").startswith(start), (start, reply.plain_text)
    assert len(emu.drain(2008)) == len(commands)
