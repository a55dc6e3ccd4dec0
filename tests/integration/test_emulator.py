"""The Bot API emulator, driven by the real python-telegram-bot Application over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dtm
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, Forbidden, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.sandbox.emulator import BotApiEmulator, NoMessageError, SentMessage

TOKEN = "123456:TEST"
USER = 1001


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton("Иә", callback_data="yes"),
          InlineKeyboardButton("Жоқ", callback_data="no")]]
    )
    await update.effective_message.reply_text("Сәлем!", reply_markup=keyboard, protect_content=True)


async def _phone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    keyboard = ReplyKeyboardMarkup([[KeyboardButton("Нөмірді жіберу", request_contact=True)]],
                                   one_time_keyboard=True, resize_keyboard=True)
    await update.effective_message.reply_text("Телефон?", reply_markup=keyboard)


async def _contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    contact = update.effective_message.contact
    own = contact.user_id == update.effective_user.id
    await update.effective_message.reply_text(
        f"got {contact.phone_number} own={own}", reply_markup=ReplyKeyboardRemove()
    )


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    text = update.effective_message.text
    assert isinstance(text, str)
    await update.effective_message.reply_text(text)


async def _button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer(f"ok {query.data}")
    await query.edit_message_text(f"chose {query.data}")


def _build_app(emu: BotApiEmulator) -> Application:
    app = ApplicationBuilder().token(TOKEN).base_url(emu.base_url).base_file_url(emu.base_file_url).build()
    app.add_handler(CommandHandler("start", _start))
    app.add_handler(CommandHandler("phone", _phone))
    app.add_handler(MessageHandler(filters.CONTACT, _contact))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _echo))
    app.add_handler(CallbackQueryHandler(_button))
    return app


async def _run(app: Application) -> None:
    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=1)


async def _halt(app: Application) -> None:
    await app.updater.stop()
    await app.stop()
    await app.shutdown()


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    emulator = BotApiEmulator(token=TOKEN, port=0)
    await emulator.start()
    emulator.add_user(USER, first_name="Айгерім", language_code="kk")
    yield emulator
    await emulator.stop()


@pytest.fixture
async def app(emu: BotApiEmulator) -> AsyncIterator[Application]:
    application = _build_app(emu)
    await _run(application)
    yield application
    await _halt(application)


@pytest.fixture
def bot_factory(emu: BotApiEmulator) -> Callable[[], Bot]:
    return lambda: Bot(TOKEN, base_url=emu.base_url, base_file_url=emu.base_file_url)


async def test_echo_reply_and_numeric_text_stays_string(emu: BotApiEmulator, app: Application) -> None:
    await emu.send_text(USER, "hello")
    reply = await emu.next_message(USER)
    assert (reply.text, reply.kind, reply.chat_id) == ("hello", "message", USER)

    for text in ("123456", "true", "null", '{"a": 1}'):
        await emu.send_text(USER, text)
        assert (await emu.next_message(USER)).text == text
    sent = await app.bot.send_message(USER, "123456")
    assert sent.text == "123456" and sent.chat.first_name == "Айгерім"


async def test_inline_keyboard_protect_content_and_callback(emu: BotApiEmulator, app: Application) -> None:
    await emu.send_command(USER, "/start")
    greeting = await emu.next_message(USER)
    assert greeting.text == "Сәлем!"
    assert greeting.protect_content is True
    assert emu.inline_buttons(greeting) == [("Иә", "yes"), ("Жоқ", "no")]

    query_id = await emu.press(USER, greeting.message_id, "yes")
    edit = await emu.next_message(USER)
    assert (edit.kind, edit.edited, edit.message_id) == ("edit", True, greeting.message_id)
    assert edit.text == "chose yes"
    assert edit.reply_markup is None  # editMessageText without markup drops the keyboard
    await asyncio.sleep(0.05)
    assert [(a.query_id, a.text, a.show_alert) for a in emu.callback_answers] == [(query_id, "ok yes", False)]
    assert [m.text for m in emu.messages(USER)] == ["chose yes"]
    assert emu.stale_presses == []

    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await app.bot.answer_callback_query(query_id)  # already answered


async def test_stale_callback_is_delivered_and_recorded(emu: BotApiEmulator, app: Application) -> None:
    await emu.send_command(USER, "/start")
    greeting = await emu.next_message(USER)
    await emu.press(USER, greeting.message_id, "yes")
    await emu.next_message(USER)  # the edit removed the keyboard
    await emu.press(USER, greeting.message_id, "no")  # an old client still shows the button
    assert (await emu.next_message(USER)).text == "chose no"
    assert [(p.message_id, p.data) for p in emu.stale_presses] == [(greeting.message_id, "no")]
    with pytest.raises(LookupError):
        await emu.press(USER, 999, "yes")


async def test_request_contact_round_trip(emu: BotApiEmulator, app: Application) -> None:
    await emu.send_command(USER, "/phone")
    ask = await emu.next_message(USER)
    assert emu.reply_buttons(ask) == [{"text": "Нөмірді жіберу", "request_contact": True}]
    assert emu.current_keyboard(USER) is not None

    await emu.send_contact(USER, phone_number="+77011234567")
    reply = await emu.next_message(USER)
    assert reply.text == "got +77011234567 own=True"
    assert reply.reply_markup == {"remove_keyboard": True}
    assert emu.current_keyboard(USER) is None

    await emu.send_contact(USER, phone_number="+77020000000", contact_user_id=None, first_name="Мама")
    assert (await emu.next_message(USER)).text == "got +77020000000 own=False"


async def test_validation_errors_match_telegram(emu: BotApiEmulator, app: Application) -> None:
    bot = app.bot
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(USER, "я" * 4097)
    assert (await bot.send_message(USER, "я" * 4096)).text == "я" * 4096
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(USER, "😀" * 2049)  # 4098 UTF-16 code units
    with pytest.raises(BadRequest, match="(?i)text is empty"):
        await bot.send_message(USER, "  ")
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "x", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("b", callback_data="ж" * 33)]]))  # 66 bytes
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(USER, "<b>bold", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(USER, "<br>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(USER, "a < b", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.send_message(424242, "hi")
    with pytest.raises(BadRequest, match="(?i)caption is too long"):
        await bot.send_document(USER, document=b"x", filename="a.txt", caption="c" * 1025)

    html = await bot.send_message(USER, "<b>Жұма</b> &amp; <i>сенбі</i>", parse_mode="HTML")
    assert html.text == "Жұма & сенбі"
    assert [(e.type, e.offset, e.length) for e in html.entities] == [("bold", 0, 4), ("italic", 7, 5)]
    assert html.text_html == "<b>Жұма</b> &amp; <i>сенбі</i>"

    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text("я" * 4096, chat_id=USER, message_id=html.message_id - 1)
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=9999)
    with pytest.raises(BadRequest, match="(?i)message to delete not found"):
        await bot.delete_message(USER, 9999)
    assert await bot.delete_message(USER, html.message_id)
    kinds = [m.kind for m in await emu.wait_idle(USER, quiet=0.05)]
    assert kinds == ["message", "message", "delete"]


async def test_blocked_and_deactivated_users_are_forbidden(
    emu: BotApiEmulator, bot_factory: Callable[[], Bot]
) -> None:
    emu.add_user(2002, "Blocker")
    emu.add_user(3003, "Gone")
    emu.block(2002)
    emu.deactivate(3003)
    async with bot_factory() as bot:
        with pytest.raises(Forbidden, match="(?i)bot was blocked by the user"):
            await bot.send_message(2002, "hi")
        with pytest.raises(Forbidden, match="(?i)user is deactivated"):
            await bot.send_message(3003, "hi")
        await emu.send_text(2002, "I'm back")  # writing again unblocks, like "Restart"
        assert (await bot.send_message(2002, "welcome back")).text == "welcome back"
        updates = await bot.get_updates(timeout=0)
    assert [u.my_chat_member.new_chat_member.status for u in updates if u.my_chat_member] == [
        "kicked", "member"
    ]


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_rate_limit_answers_retry_after() -> None:
    async with BotApiEmulator(token=TOKEN, per_chat_rate=0.5, global_rate=100) as emu:
        emu.add_user(USER, "A")
        emu.add_user(2002, "B")
        async with Bot(TOKEN, base_url=emu.base_url) as bot:
            await bot.send_message(USER, "one")
            with pytest.raises(RetryAfter) as caught:
                await bot.send_message(USER, "two")
            await bot.send_message(2002, "other chat is not limited")
        retry_after = caught.value.retry_after
        if isinstance(retry_after, dtm.timedelta):
            retry_after = int(retry_after.total_seconds())
        assert retry_after == 2
        assert emu.stats["rate_limited"] == 1 and emu.stats["rate_limited_by"] == {"per_chat": 1}
        assert emu.stats["sent"] == 2
        assert emu.stats["requests"]["sendMessage"] == 3


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_burst_seconds_scale_the_burst_of_each_rate() -> None:
    """A burst of 0.1 s at 30/s is 3 messages, not 30; per chat, a burst of its own (10/s: one message)."""
    async with BotApiEmulator(token=TOKEN, global_rate=30, burst_seconds=0.1, per_chat_rate=10,
                              per_chat_burst_seconds=0.1) as emu:
        for user in range(2001, 2011):
            emu.add_user(user, "U")
        async with Bot(TOKEN, base_url=emu.base_url) as bot:
            await bot.send_message(2001, "one")
            with pytest.raises(RetryAfter):
                await bot.send_message(2001, "two in a row to one chat")
            for user in range(2002, 2004):
                await bot.send_message(user, "burst")
            with pytest.raises(RetryAfter):
                await bot.send_message(2004, "one too many")
        assert emu.stats["rate_limited_by"] == {"per_chat": 1, "global": 1} and emu.stats["sent"] == 3


async def test_restart_keeps_offset_semantics(emu: BotApiEmulator) -> None:
    first = _build_app(emu)
    await _run(first)
    await emu.send_text(USER, "one")
    assert (await emu.next_message(USER)).text == "one"
    await _halt(first)

    await emu.send_text(USER, "two")  # arrives while the bot is down
    second = _build_app(emu)
    await _run(second)
    try:
        replies = await emu.wait_idle(USER, quiet=0.3)
    finally:
        await _halt(second)
    assert [m.text for m in replies] == ["two"]  # "one" was confirmed, never redelivered


async def test_get_updates_offset_rules_over_raw_http(emu: BotApiEmulator) -> None:
    ids = [await emu.send_text(USER, str(i)) for i in range(3)]
    async with httpx.AsyncClient(base_url=f"{emu.base_url}{TOKEN}/") as client:

        async def updates(**params: object) -> list[int]:
            body = (await client.post("getUpdates", data=params)).json()
            return [u["update_id"] for u in body["result"]]

        assert await updates() == ids
        assert await updates() == ids  # not confirmed yet
        assert await updates(offset=ids[1]) == ids[1:]  # confirms ids[0]
        assert await updates(offset=-1) == ids[2:]  # forgets all but the last
        assert await updates(offset=ids[2] + 1, timeout=0) == []
        loop = asyncio.get_running_loop()
        later = loop.call_later(0.1, lambda: asyncio.ensure_future(emu.send_text(USER, "x")))
        started = loop.time()
        assert len(await updates(timeout=5)) == 1  # long poll returns as soon as it arrives
        assert loop.time() - started < 2
        later.cancel()

        wrong = await client.post(f"{emu.base_url}999:WRONG/getMe")
        assert (wrong.status_code, wrong.json()) == (
            401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        )
        missing = await client.post("sendTelepathy")
        assert missing.status_code == 404 and missing.json()["description"] == "Not Found: method not found"
        as_json = await client.post("sendMessage", json={"chat_id": USER, "text": "via json"})
        assert as_json.json()["result"]["text"] == "via json"


async def test_send_document_bytes_and_download(emu: BotApiEmulator, app: Application) -> None:
    sent = await app.bot.send_document(USER, document=b"%PDF-1.4 hello", filename="талон.pdf",
                                       caption="Талон", protect_content=True)
    assert sent.document.file_name == "талон.pdf"
    seen = await emu.next_message(USER)
    assert seen.document is not None and seen.document["file_name"] == "талон.pdf"
    assert seen.document["mime_type"] == "application/pdf"
    assert (seen.text, seen.protect_content) == ("Талон", True)
    file = await app.bot.get_file(sent.document.file_id)
    assert bytes(await file.download_as_bytearray()) == b"%PDF-1.4 hello"

    await emu.send_document(USER, file_name="анализ.pdf", data=b"user file")
    await emu.send_photo(USER)
    await emu.send_sticker(USER)
    with pytest.raises(NoMessageError):  # the echo bot ignores media
        await emu.next_message(USER, timeout=0.2)


async def test_commands_menu_chat_action_and_subscribe(emu: BotApiEmulator, app: Application) -> None:
    seen: list[SentMessage] = []

    async def printer(message: SentMessage) -> None:
        seen.append(message)

    emu.subscribe(printer)
    bot = app.bot
    await bot.set_my_commands([("start", "Бастау"), ("phone", "Телефон")], language_code="kk")
    assert [c.command for c in await bot.get_my_commands(language_code="kk")] == ["start", "phone"]
    assert await bot.get_my_commands() == ()
    with pytest.raises(BadRequest):
        await bot.set_my_commands([("Bad-Command", "x")])
    await bot.set_chat_menu_button(USER)
    assert await bot.send_chat_action(USER, "typing")
    chat = await bot.get_chat(USER)
    assert (chat.id, chat.type, chat.first_name) == (USER, "private", "Айгерім")
    await bot.send_message(USER, "live")
    await asyncio.sleep(0.01)
    assert [m.text for m in seen] == ["live"]


async def test_control_api_for_other_processes(emu: BotApiEmulator, app: Application) -> None:
    async with httpx.AsyncClient(base_url=f"http://{emu.host}:{emu.port}/_emu/") as client:
        sent = (await client.post("send", json={"user_id": 5005, "text": "load"})).json()
        assert sent["update_id"] > 0
        got = (await client.get("messages", params={"chat_id": 5005, "after": 0, "timeout": 5})).json()
        assert [m["text"] for m in got["messages"]] == ["load"]
        contact = {"user_id": 5005, "contact": {"phone_number": "+77011234567", "user_id": 5005}}
        assert (await client.post("send", json=contact)).status_code == 200
        after = got["messages"][-1]["seq"]
        got = (await client.get("messages", params={"chat_id": 5005, "after": after, "timeout": 5})).json()
        assert got["messages"][0]["text"] == "got +77011234567 own=True"
        stats = (await client.get("stats")).json()
        assert stats["requests"]["getUpdates"] >= 1 and stats["sent"] == 2
        assert stats["webhook"] == {"posts": 0, "acknowledged": 0, "refused": 0, "retried_updates": 0,
                                    "pending": 0, "in_flight": 0}  # updates went by getUpdates here


async def test_next_message_timeout_says_what_was_received(emu: BotApiEmulator) -> None:
    with pytest.raises(asyncio.TimeoutError, match="(?i)nothing new"):
        await emu.next_message(USER, timeout=0.05)
