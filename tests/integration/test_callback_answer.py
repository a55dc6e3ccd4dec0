"""A press answered too late (Telegram's "query is too old"): one WARNING line, no traceback."""

from __future__ import annotations

import logging

from telegram import Bot, CallbackQuery, User

from handlers.telegram.app import _answer
from tests.harness import TOKEN


async def test_a_query_too_old_to_answer_is_one_warning_line_without_a_traceback(emu, caplog):
    async with Bot(TOKEN, base_url=emu.base_url) as bot:
        query = CallbackQuery("no-such-query", User(1001, "U", False), chat_instance="c", data="op")
        query.set_bot(bot)
        with caplog.at_level(logging.WARNING):
            await _answer(query)
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert "query is too old" in records[0].getMessage().lower()
    assert records[0].exc_info is None and "Traceback" not in caplog.text
