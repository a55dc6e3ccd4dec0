"""raw_api sends what send_message sent, byte for byte, through the same rate limiter, with the same errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot, ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, ReplyKeyboardRemove, TelegramObject
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import ExtBot
from telegram.request import BaseRequest, RequestData

from bot.gateways import telegram_raw_api as raw_api
from bot.gateways.telegram_rate_limit import BULK, PriorityRateLimiter
from bot.i18n import texts
from handlers.telegram import keyboards
from handlers.telegram.delivery import Reply

SENT = {"message_id": 77, "date": 0, "chat": {"id": 5, "type": "private"}, "text": "x",
        "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}}


class Recording(BaseRequest):
    """Records each request's method and body (parameters in order, as they go on the wire); answers ``reply``."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, list[tuple[str, str]]]] = []
        self.reply: tuple[int, dict[str, Any]] = (200, {"ok": True, "result": SENT})

    @property
    def read_timeout(self) -> float:
        return 5.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         **timeouts: Any) -> tuple[int, bytes]:
        assert request_data is not None and not request_data.contains_files
        self.bodies.append((url.rsplit("/", 1)[1], list(request_data.json_parameters.items())))
        return self.reply[0], json.dumps(self.reply[1]).encode()


class SeeingLimiter(PriorityRateLimiter):
    """The project's limiter, noting what it is asked to pace."""

    def __init__(self) -> None:
        super().__init__(1000.0, 1000.0, 0.0)
        self.seen: list[tuple[str, dict[str, Any], dict | None]] = []

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):  # type: ignore[no-untyped-def]
        self.seen.append((endpoint, dict(data), rate_limit_args))
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


def _plain(seen: tuple[str, dict[str, Any], dict | None]) -> tuple[str, dict[str, Any], dict | None]:
    """What the limiter saw, keyboards as dicts (send_message hands it the object, raw_api its to_dict())."""
    endpoint, data, args = seen
    return endpoint, {k: v.to_dict() if isinstance(v, TelegramObject) else v for k, v in data.items()}, args


def _bot() -> tuple[ExtBot, Recording, SeeingLimiter]:
    request, limiter = Recording(), SeeingLimiter()
    return ExtBot("1:x", request=request, get_updates_request=request, rate_limiter=limiter), request, limiter


def _stored(markup: Any) -> dict[str, Any] | None:
    """The keyboard as an envelope keeps it: to_dict(), through JSON text and back."""
    data = Reply("", markup.to_dict() if markup is not None else None).to_json()
    return Reply.from_json(json.loads(json.dumps(data, ensure_ascii=False))).markup


_texts = texts()
MARKUPS = [
    None,
    keyboards.language(),
    keyboards.share_contact(_texts, "kk"),
    InlineKeyboardMarkup([[InlineKeyboardButton("Ашу", callback_data="open:QZ-1")]]),
    ReplyKeyboardRemove(),
    ForceReply(input_field_placeholder="ИИН"),
]


@pytest.mark.parametrize("markup", MARKUPS, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("protect", [False, True])
async def test_a_reply_goes_as_send_message_sent_it(markup, protect):
    bot, request, limiter = _bot()
    html = "<b>Сәлем</b> &amp; «привет» 😀"
    sent = await bot.send_message(5, html, parse_mode=ParseMode.HTML, reply_markup=markup, protect_content=protect)
    raw = await raw_api.send_html(bot, 5, html, _stored(markup), protect=protect)
    assert request.bodies[0] == request.bodies[1]
    assert _plain(limiter.seen[0]) == _plain(limiter.seen[1])
    assert raw == SENT and raw["message_id"] == sent.message_id


async def test_a_broadcast_message_goes_as_before_with_its_rate_limit_args():
    bot, request, limiter = _bot()

    async def before_send() -> bool:
        return True

    args = {"priority": BULK, "before_send": before_send}
    await bot.send_message(5, "<i>news</i>", parse_mode=ParseMode.HTML, rate_limit_args=dict(args))
    raw = await raw_api.send_html(bot, 5, "<i>news</i>", rate_limit_args=dict(args))
    assert request.bodies[0] == request.bodies[1]
    assert limiter.seen[0] == limiter.seen[1] and limiter.seen[1][2] == args
    assert raw["message_id"] == 77


async def test_editing_a_keyboard_off_goes_as_before():
    bot, request, limiter = _bot()
    await bot.edit_message_reply_markup(chat_id=5, message_id=9, reply_markup=None)
    await raw_api.remove_inline_keyboard(bot, 5, 9)
    assert request.bodies[0] == request.bodies[1]
    assert limiter.seen[0] == limiter.seen[1]


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter's own message
@pytest.mark.parametrize(("status", "description", "params", "error"), [
    (429, "Too Many Requests: retry after 3", {"retry_after": 3}, RetryAfter),
    (403, "Forbidden: bot was blocked by the user", None, Forbidden),
    (400, "Bad Request: chat not found", None, BadRequest),
    (502, "Bad Gateway", None, NetworkError),
])
async def test_errors_are_raised_as_before(status, description, params, error):
    request = Recording()
    bot = Bot("1:x", request=request, get_updates_request=request)  # no limiter: its 429 retries aside
    answer: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if params:
        answer["parameters"] = params
    request.reply = (status, answer)
    with pytest.raises(error) as before:
        await bot.send_message(5, "x", parse_mode=ParseMode.HTML)
    with pytest.raises(error) as now:
        await raw_api.send_html(bot, 5, "x")
    assert type(now.value) is type(before.value) and now.value.message == before.value.message
    if error is RetryAfter:
        assert now.value._retry_after == before.value._retry_after


def test_no_warning_about_calling_a_method_by_name():
    """PTB warns that sendMessage has a named method; raw_api silences that, for its own calls only. (In a process
    of its own: pytest resets the warning filters around each test, and pyproject.toml repeats the filter.)"""
    script = (
        "import asyncio, warnings\n"
        "from telegram import Bot\n"
        "from bot.gateways import telegram_raw_api as raw_api\n"
        "from tests.unit.test_raw_api import Recording\n"
        "bot = Bot('1:x', request=Recording(), get_updates_request=Recording())\n"
        "asyncio.run(raw_api.send_html(bot, 5, 'x'))\n"
        "try:\n"
        "    asyncio.run(bot.do_api_request('sendMessage', {'chat_id': 5, 'text': 'x'}))\n"
        "except UserWarning:\n"
        "    print('others still warned')\n")
    root = str(Path(__file__).parents[2])
    done = subprocess.run([sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=root, env={**os.environ, "PYTHONPATH": root})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "others still warned\n"
