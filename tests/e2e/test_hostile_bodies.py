"""Every inbound body is hostile until parsed: whatever is posted — with the right signature, token or secret —
gets an answer below 500, and no log record at ERROR or above, no traceback; a refusal is one WARNING line that
quotes nothing of the body. On every route of the bot's HTTP server: the Telegram webhook, SMS inbound and
receipts, the status feed, the complaints' answers, the verification page; and for requests aiohttp's own parser
refuses (a URL over 8 KB, a NUL in a header), sent over a raw socket.

One bot (webhook mode, feed on, complaints' addressee connected) for the whole module: starting it costs far
more than a hundred posts. Hypothesis draws bodies of every kind: arbitrary JSON (huge integers, NaN, NULs,
deep nesting), a valid body with one field anywhere replaced by anything, raw bytes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.sandbox.emulator import BotApiEmulator
from handlers.http.complaints import PATH as COMPLAINTS
from handlers.http.feed import PATH as FEED
from handlers.http.sms import SIGNATURE_HEADER, sign
from handlers.http.telegram_webhook import SECRET_HEADER
from handlers.http.verify import PATH as VERIFY
from tests import engines
from tests.harness import CITIZENS, TOKEN
from tests.sms_harness import SECRET
from tests.webhook_harness import WEBHOOK_SECRET, WebhookHarness, text_update

# One bot for the module, on the suite's engine: the fuzzing runs on PostgreSQL too (tests/conftest.py).
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.database]

FEED_TOKEN = "hostile-feed-token"
AIGERIM = CITIZENS["Айгерім"]
IIN, PHONE = AIGERIM["iin"], AIGERIM["phone"]  # in bodies, so that a log line quoting one is caught
EXAMPLES = settings(max_examples=100, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield engines.new_database(tmp_path_factory.mktemp("hostile"))
    engines.release_databases()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(module_tmp: str) -> AsyncIterator[WebhookHarness]:
    emu = BotApiEmulator(token=TOKEN)
    await emu.start()
    # complaints_url: the addressee's system is connected, so its answers' route exists; nothing is filed here,
    # so nothing is ever sent to it.
    harness = WebhookHarness(emu, module_tmp, feed_token=FEED_TOKEN, complaints_url="http://127.0.0.1:9/")
    await harness.start()
    yield harness
    await harness.close()
    await emu.stop()


# Posting, and what the log must show -----------------------------------------------------------------------

def signed(body: bytes) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(SECRET, body), "Content-Type": "application/json"}


HEADERS = {
    "webhook": lambda body: {SECRET_HEADER: WEBHOOK_SECRET, "Content-Type": "application/json"},
    "/sms/inbound": signed,
    "/sms/receipts": signed,
    COMPLAINTS: signed,
    FEED: lambda body: {"Authorization": f"Bearer {FEED_TOKEN}", "Content-Type": "application/json"},
}


async def post(bot: WebhookHarness, route: str, body: bytes) -> httpx.Response:
    url = bot.webhook if route == "webhook" else bot.base + route
    return await bot.client.post(url, content=body, headers=HEADERS[route](body))


def encode(value: Any) -> bytes:
    """JSON as a careless sender writes it: NaN and Infinity as Python writes them, any integer, no escaping."""
    return json.dumps(value, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


def check_log(caplog: pytest.LogCaptureFixture, status: int, secrets: tuple[str, ...] = (IIN, PHONE)) -> None:
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    errors = [r for r in records if r.levelno >= logging.ERROR]
    assert not errors, [(r.name, r.getMessage()) for r in errors]
    assert not any(r.exc_info for r in records), "a traceback in the log"
    assert "Traceback" not in caplog.text
    for secret in secrets:
        assert secret not in caplog.text
    if 400 <= status < 500:
        # a route's refusal, or (a URL over 8 KB) the server's own
        refusals = [r for r in records if r.name in ("handlers.http.refusal", "bot.app.http_server.protocol")]
        assert len(refusals) == 1, [(r.name, r.getMessage()) for r in records]


async def send(bot: WebhookHarness, caplog: pytest.LogCaptureFixture, route: str, body: bytes) -> int:
    caplog.clear()
    response = await post(bot, route, body)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if route == "webhook" and response.status_code == 200:
        await bot.delivered()  # what the update owed went out: anything logged on the way is in caplog
    check_log(caplog, response.status_code)
    return response.status_code


# What hypothesis draws -------------------------------------------------------------------------------------

TEXT = (st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(["\x00", "\ud800"]), max_size=30)
        | st.sampled_from([IIN, PHONE, "", "x" * 5000]))
SCALAR = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**62, max_value=2**80)
          | st.floats(allow_nan=True, allow_infinity=True) | TEXT)
JSON_VALUE = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12)
DEEP = st.integers(min_value=15, max_value=30_000).map(lambda n: ("[" * n + "]" * n).encode())


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value (the root too): where a field's value may be replaced by anything."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def replaced(template: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(template))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return copy


def dropped(template: dict[str, Any], path: tuple[Any, ...]) -> Any:
    """``template`` without the field at ``path`` (a required one missing)."""
    copy = json.loads(json.dumps(template))
    node = copy
    for step in path[:-1]:
        node = node[step]
    if path and isinstance(node, dict):
        del node[path[-1]]
    return copy


def bodies(*templates: Any) -> st.SearchStrategy[bytes]:
    """Raw bytes, arbitrary JSON, deep nesting, and each template with one field anywhere replaced or missing."""
    def mutations(template: Any) -> st.SearchStrategy[bytes]:
        places = st.sampled_from(paths(template))
        return (st.builds(replaced, st.just(template), places, JSON_VALUE).map(encode)
                | st.builds(dropped, st.just(template), places).map(encode))
    return st.one_of(st.binary(max_size=300), JSON_VALUE.map(encode), DEEP,
                     *(mutations(template) for template in templates))


update_ids = iter(range(700_000_000, 800_000_000))


def message_update(user_id: int = 5501) -> dict[str, Any]:
    return text_update(next(update_ids), user_id, "/help")


def press(user_id: int = 5502) -> dict[str, Any]:
    chat = {"id": user_id, "type": "private", "first_name": "U"}
    return {"update_id": next(update_ids), "callback_query": {
        "id": "4300001", "chat_instance": "1", "data": "lang:ru",
        "from": {"id": user_id, "is_bot": False, "first_name": "U"},
        "message": {"message_id": 1, "date": 1_764_500_000, "text": "…", "chat": chat,
                    "from": {"id": 1, "is_bot": True, "first_name": "Qyzmet"}}}}


def member(user_id: int = 5503) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "U"}
    bot_user = {"id": 123456, "is_bot": True, "first_name": "Qyzmet"}
    return {"update_id": next(update_ids), "my_chat_member": {
        "chat": {"id": user_id, "type": "private", "first_name": "U"}, "from": user, "date": 1_764_500_000,
        "old_chat_member": {"user": bot_user, "status": "member"},
        "new_chat_member": {"user": bot_user, "status": "kicked", "until_date": 0}}}


def fresh_ids(body: bytes) -> bytes:
    """A drawn update gets a new update_id where it has a valid one: each is handled, not skipped as seen."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return body
    if isinstance(data, dict) and isinstance(data.get("update_id"), int) and data["update_id"] >= 700_000_000:
        data["update_id"] = next(update_ids)
        return encode(data)
    return body


TEMPLATES: dict[str, tuple[Any, ...]] = {
    "/sms/inbound": ({"from": PHONE, "text": "ДА", "id": "gw-1"},),
    "/sms/receipts": ({"id": "gw-1", "status": "delivered", "reason": "ok"},),
    FEED: ({"number": "QZ-261125-0000501", "iin": IIN, "service": "social_services_docs", "status": "accepted",
            "at": "2026-11-25T10:00:00+05:00", "note": None},),
    COMPLAINTS: ({"number": "CP-261125-0000001", "event": "registered", "incoming_number": "ВХ-1"},
                 {"number": "CP-261125-0000001", "event": "answered", "text": "ответ"}),
}


# The routes, fuzzed ----------------------------------------------------------------------------------------

@EXAMPLES
@given(body=bodies(message_update(), press(), member()))
async def test_the_webhook_takes_any_body_without_a_500(bot, caplog, body):
    await send(bot, caplog, "webhook", fresh_ids(body))


@pytest.mark.parametrize("route", list(TEMPLATES))
@EXAMPLES
@given(data=st.data())
async def test_the_signed_routes_take_any_body_without_a_500(bot, caplog, route, data):
    body = data.draw(bodies(*TEMPLATES[route]), label="body")
    await send(bot, caplog, route, body)


FORM_FIELD = st.sampled_from(["lang", "number", "code", "p", "x"])


@EXAMPLES
@given(fields=st.lists(st.tuples(FORM_FIELD, TEXT), max_size=4), raw=st.binary(max_size=300),
       content_type=st.sampled_from(["application/x-www-form-urlencoded", "multipart/form-data",
                                     "application/json", "text/plain; charset=bogus", ""]))
async def test_the_verify_page_takes_any_post_without_a_500(bot, caplog, fields, raw, content_type):
    for kwargs in ({"data": dict(fields)}, {"content": raw, "headers": {"Content-Type": content_type}}):
        caplog.clear()
        try:
            response = await bot.client.post(bot.base + VERIFY, **kwargs)  # type: ignore[arg-type]
        except UnicodeEncodeError:  # httpx cannot encode a lone surrogate into a form: nothing is sent
            continue
        assert response.status_code < 500, response.text[:300]
        check_log(caplog, response.status_code)


@EXAMPLES
@given(params=st.dictionaries(FORM_FIELD, TEXT, max_size=3))
async def test_the_verify_page_takes_any_query_without_a_500(bot, caplog, params):
    caplog.clear()
    try:
        response = await bot.client.get(bot.base + VERIFY, params=params)
    except UnicodeEncodeError:
        return
    assert response.status_code < 500, response.text[:300]
    check_log(caplog, response.status_code)


# The webhook's named cases ---------------------------------------------------------------------------------

def update(**fields: Any) -> dict[str, Any]:
    return {"update_id": next(update_ids), **fields}


def message(**changes: Any) -> dict[str, Any]:
    base = text_update(0, 5510, "/help")["message"]
    return {key: value for key, value in {**base, **changes}.items() if value is not ...}


NAMED: dict[str, tuple[bytes, set[int]]] = {
    "message is a string": (encode(update(message="x")), {400}),
    "NaN update_id": (b'{"update_id": NaN, "message": {}}', {400}),
    "Infinity in a field": (encode(update(message=message(date=float("inf")))), {400}),
    "1e999 in a field": (b'{"update_id": 1, "message": {"message_id": 1e999}}', {400}),
    "50 KB of nesting": (b"[" * 25_000 + b"]" * 25_000, {400}),
    "nesting within the limit of the parser": (b'{"update_id": 1, "x": ' + b"[" * 500 + b"]" * 500 + b"}", {400}),
    "update_id 2**70": (encode(update(update_id=2**70, message=message())), {400}),
    "chat id 2**63": (encode(update(message=message(chat={"id": 2**63, "type": "private"}))), {400}),
    "a message without chat": (encode(update(message=message(chat=...))), {400}),
    "an empty body": (b"", {400}),
    "not JSON": (b"{", {400}),
    "a JSON array": (b"[1, 2]", {400}),
    "a JSON string": (b'"update"', {400}),
    "null": (b"null", {400}),
    "no update_id": (encode({"message": message()}), {400}),
    "update_id a string": (encode(update(update_id="1", message=message())), {400}),
    "update_id negative": (encode(update(update_id=-1, message=message())), {400}),
    "update_id a boolean": (encode(update(update_id=True, message=message())), {400}),
    "text an integer": (encode(update(message=message(text=5))), {400}),
    "a callback query without from": (encode(update(callback_query={"id": "1", "chat_instance": "1"})), {400}),
    "two kinds in one update": (encode(update(message=message(), callback_query={})), {400}),
    "a NUL in the text": (encode(update(message=message(text="/help\x00" + IIN))), {400}),
    "a lone surrogate in the text": (b'{"update_id": 1, "message": {"text": "\\ud800"}}', {400}),
    "not UTF-8": (b'{"update_id": 1, "message": "\xff\xfe"}', {400}),
    "a body over 64 KB": (encode(update(message=message(text="x" * 70_000))), {413}),
    "a date beyond the platform's": (encode(update(message=message(date=2**40))), {400}),
    "a kind the bot does not take": (encode(update(poll={"id": "1"})), {200}),
}


@pytest.mark.parametrize("name", list(NAMED))
async def test_a_named_hostile_update_is_refused_with_one_warning(bot, caplog, name):
    body, statuses = NAMED[name]
    caplog.clear()
    response = await post(bot, "webhook", body)
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    check_log(caplog, response.status_code)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]


async def test_a_well_formed_update_is_still_handled(bot, caplog):
    bot.emu.add_user(5520, "User5520", language_code="ru")
    caplog.clear()
    response = await post(bot, "webhook", encode(message_update(5520)))
    assert response.status_code == 200
    await bot.delivered()
    assert bot.emu.drain(5520)  # answered (the language choice)
    check_log(caplog, 200)


# Requests aiohttp's parser refuses, over a raw socket ------------------------------------------------------

async def raw_request(bot: WebhookHarness, request: bytes) -> bytes:
    assert bot.bot is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", bot.bot.http_port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()


@pytest.mark.parametrize("request_bytes", [
    b"GET /verify?p=" + b"A" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /sms/inbound HTTP/1.1\r\nHost: x\r\nX-Qyzmet-Signature: ab\x00cd\r\nContent-Length: 0\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + b"h" * 9000 + b"\r\n\r\n",
    b"POST /sms/inbound HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
], ids=["a URL over 8 KB", "a NUL in a header", "a header over 8 KB", "broken chunking"])
async def test_a_request_the_parser_refuses_is_a_400_and_one_warning(bot, caplog, request_bytes):
    caplog.clear()
    answer = await raw_request(bot, request_bytes)
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:200]
    await asyncio.sleep(0.05)  # the server logs after it has answered
    check_log(caplog, 0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert b"A" * 100 not in caplog.text.encode()  # the URL is not quoted
