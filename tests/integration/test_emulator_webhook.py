"""The emulator's webhook delivery, against a plain HTTP receiver: Telegram's queues, retries and limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.sandbox.emulator import BotApiEmulator

TOKEN = "123456:TEST"
SECRET = "s3cret_token-1"


@dataclass
class Receiver:
    """A webhook on 127.0.0.1: records every request; ``answer`` decides the status (and may wait)."""

    answer: Callable[[dict[str, Any]], Any] | None = None
    requests: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    in_flight: set[tuple[str, int]] = field(default_factory=set)
    overlaps: list[tuple[str, int]] = field(default_factory=list)  # a queue posted again before its answer
    most_at_once: int = 0
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        update = json.loads(await request.read())
        self.requests.append((update, request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        queue = queue_key(update)
        if queue in self.in_flight:
            self.overlaps.append(queue)
        self.in_flight.add(queue)
        self.most_at_once = max(self.most_at_once, len(self.in_flight))
        try:
            status = 200
            if self.answer is not None:
                result = self.answer(update)
                status = await result if asyncio.iscoroutine(result) else result
            return web.json_response({}, status=status)
        finally:
            self.in_flight.discard(queue)

    def texts(self) -> list[str]:
        return [u["message"].get("text", "") for u, _ in self.requests if "message" in u]


def queue_key(update: dict[str, Any]) -> tuple[str, int]:
    if "callback_query" in update:
        return "user", update["callback_query"]["from"]["id"]
    return "chat", update["message"]["chat"]["id"]


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    emulator = BotApiEmulator(token=TOKEN, webhook_retry_seconds=0.05, webhook_timeout=2.0)
    await emulator.start()
    for user in (1, 2, 3):
        emulator.add_user(user, f"U{user}")
    yield emulator
    await emulator.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


async def call(emu: BotApiEmulator, method: str, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(f"{emu.base_url}{TOKEN}/{method}", json=params)


async def test_updates_are_posted_with_the_secret_and_get_updates_conflicts(emu, receiver):
    await emu.send_text(1, "before the webhook")  # pending updates go to the webhook once it is set
    answer = await call(emu, "setWebhook", url=receiver.url, secret_token=SECRET, max_connections=5,
                        allowed_updates=["message", "callback_query"])
    assert answer.json() == {"ok": True, "result": True}
    await emu.send_text(1, "after")
    await emu.webhook_idle()
    assert receiver.texts() == ["before the webhook", "after"]
    assert {secret for _, secret in receiver.requests} == {SECRET}
    conflict = await call(emu, "getUpdates", timeout=0)
    assert conflict.status_code == 409 and "webhook is active" in conflict.json()["description"]
    info = (await call(emu, "getWebhookInfo")).json()["result"]
    assert info["url"] == receiver.url and info["pending_update_count"] == 0 and info["max_connections"] == 5
    assert info["allowed_updates"] == ["callback_query", "message"]

    bad = await call(emu, "setWebhook", url=receiver.url, secret_token="no spaces allowed")
    assert bad.status_code == 400
    assert (await call(emu, "deleteWebhook")).json()["result"] is True
    assert (await call(emu, "getUpdates", timeout=0)).status_code == 200


async def test_a_refused_update_is_posted_again_and_its_chat_waits_behind_it(emu, receiver):
    refusals = {"first": 2}

    def answer(update: dict[str, Any]) -> int:
        if update["message"]["text"] == "first" and refusals["first"]:
            refusals["first"] -= 1
            return 500
        return 200

    receiver.answer = answer
    await call(emu, "setWebhook", url=receiver.url, secret_token=SECRET)
    first = await emu.send_text(1, "first")
    await emu.send_text(1, "second")
    await emu.send_text(2, "other chat")
    await emu.webhook_idle()
    assert emu.webhook_statuses(first) == [500, 500, 200]
    mine = [t for t in receiver.texts() if t != "other chat"]
    assert mine == ["first", "first", "first", "second"]  # "second" only after "first" was acknowledged
    info = (await call(emu, "getWebhookInfo")).json()["result"]
    assert "500" in info["last_error_message"]


async def test_one_request_per_chat_and_presses_in_their_own_queue(emu, receiver):
    release = asyncio.Event()

    async def slow(update: dict[str, Any]) -> int:
        await release.wait()
        return 200

    receiver.answer = slow
    await call(emu, "setWebhook", url=receiver.url, secret_token=SECRET, max_connections=2)
    bot = await call(emu, "sendMessage", chat_id=1, text="pick",
                     reply_markup={"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]})
    message_id = bot.json()["result"]["message_id"]
    for n in range(3):
        await emu.send_text(1, f"m{n}")
    emu.press_button(1, message_id, "a")
    await emu.send_text(2, "x")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while len(receiver.in_flight) < 2 and loop.time() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # give a third request the chance to show up (it must not)
    assert receiver.in_flight == {("chat", 1), ("user", 1)}  # max_connections 2: chat 2 waits for a slot
    release.set()
    await emu.webhook_idle()
    assert receiver.overlaps == [] and receiver.most_at_once == 2
    assert [t for t in receiver.texts() if t.startswith("m")] == ["m0", "m1", "m2"]
    assert len(receiver.requests) == 5


async def test_an_unreachable_webhook_keeps_its_updates_until_it_answers(emu, receiver):
    await receiver.stop()  # nobody listens on that port now
    await call(emu, "setWebhook", url=receiver.url, secret_token=SECRET)
    update_id = await emu.send_text(3, "hello")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while len(emu.webhook_statuses(update_id)) < 2 and loop.time() < deadline:
        await asyncio.sleep(0.01)
    assert emu.webhook_statuses(update_id)[:2] == [None, None]
    info = (await call(emu, "getWebhookInfo")).json()["result"]
    assert info["pending_update_count"] == 1 and info["last_error_message"].startswith("Connection failed")
