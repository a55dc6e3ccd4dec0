"""Shared pieces for the SMS tests (no tests here): the harness with the HTTP server on a free port, a fake
outbound gateway on 127.0.0.1, signed webhook posts, and polling for what the worker does in the background."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from bot.app.runner import RunningBot
from bot.config import Settings
from bot.core.seed import Seed
from bot.gateways.sms_gateway import SmsGateway
from bot.sandbox.emulator import BotApiEmulator
from bot.services import Services
from handlers.http.sms import SIGNATURE_HEADER, sign
from tests.harness import CITIZENS, SEED, TOKEN, Chat, Harness

SECRET = "test-sms-secret"

# Kazakh and Russian words the tests look for in replies.
W = {
    "ru": {"yes": "ДА", "no": "НЕТ", "status": "СТАТУС", "stop": "СТОП", "start": "СТАРТ", "help": "ПОМОЩЬ",
           "other": "Сведения о другом", "given": "согласие принято", "declined": "отказались дать согласие",
           "code_needed": "ответьте кодом", "wrong": "неверный код", "no_pending": "нет запросов",
           "stopped": "отключены", "started": "включены", "not_found": "не найдена", "in_progress": "в работе",
           "pushed_declined": "отказалось дать согласие", "pushed_wrong": "неверно 5 раз", "locked": "слишком много",
           "help_text": "СТАТУС <номер>"},
    "kk": {"yes": "ИӘ", "no": "ЖОҚ", "status": "МӘРТЕБЕ", "stop": "ТОҚТА", "start": "БАСТА", "help": "КӨМЕК",
           "other": "Басқа адам", "given": "келісіміңіз қабылданды", "declined": "келісім беруден бас тарттыңыз",
           "code_needed": "кодпен жауап", "wrong": "код қате", "no_pending": "сұрауы жоқ",
           "stopped": "өшірілді", "started": "қосылды", "not_found": "табылмады", "in_progress": "орындалуда",
           "pushed_declined": "бас тартты", "pushed_wrong": "5 рет қате", "locked": "тым көп",
           "help_text": "МӘРТЕБЕ <нөмір>"},
}


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 5.0) -> None:
    """Wait for something the worker does in the background."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@dataclass
class FakeGateway:
    """The outbound SMS gateway of DESIGN.md on 127.0.0.1: answers from `script` (then 200) and records all."""
    script: list[int] = field(default_factory=list)
    default: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)  # every POST, with the status answered
    on_accept: Callable[[str, str], None] | None = None
    delay: float = 0.0  # seconds before each answer (a gateway takes a moment)
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/send", self._send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/send"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.script.pop(0) if self.script else self.default
        self.requests.append({**body, "status": status})
        if 200 <= status < 300:
            if self.on_accept:
                self.on_accept(body["to"], body["text"])
            return web.json_response({"message_id": f"gw-{len(self.requests)}"}, status=status)
        return web.json_response({"error": "nope"}, status=status)

    def accepted(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if 200 <= r["status"] < 300]


class SmsHarness(Harness):
    """The project's harness plus the HTTP server (port 0) and fast outbox settings."""

    def __init__(self, emu: BotApiEmulator, database: Path | str, gateway: FakeGateway | None = None,
                 **overrides: Any) -> None:
        super().__init__(emu, database)
        self.fake = gateway
        values: dict[str, Any] = dict(
            database=str(database), secret_key="test-secret", sweep_interval_seconds=3600, sms_secret=SECRET,
            sms_backoff_base_seconds=0.05, sms_backoff_max_seconds=0.2, sms_worker_idle_seconds=0.2,
            sms_gateway_timeout_seconds=2.0, http_port=0,
        )
        if gateway is not None:
            gateway.on_accept = self.phone.receive
            values["sms_gateway_url"] = gateway.url
        values.update(overrides)
        self.settings = Settings(_env_file=None, **values)
        self.client = httpx.AsyncClient(timeout=10)

    async def start(self) -> None:
        # With a gateway URL, Services.open builds a fresh HttpSmsGateway (the old one is closed on stop).
        gateway: SmsGateway | None = None if self.fake is not None else self.gateway
        self.services = await Services.open(self.settings, clock=self.clock, sms_gateway=gateway)
        await self.services.load_seed(Seed.model_validate(SEED))
        self.bot = await RunningBot.start(self.services, TOKEN, self.emu.base_url, self.emu.base_file_url,
                                          poll_timeout=1, http=True, http_port=0)
        self.watch_updates()

    async def close(self) -> None:
        await self.stop()
        await self.client.aclose()

    @property
    def base(self) -> str:
        assert self.bot is not None and self.bot.http_port
        return f"http://127.0.0.1:{self.bot.http_port}"

    async def post(self, path: str, payload: Any, secret: str | None = SECRET, raw: bytes | None = None
                   ) -> httpx.Response:
        body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SIGNATURE_HEADER] = sign(secret, body)
        response = await self.client.post(self.base + path, content=body, headers=headers)
        if response.status_code == 200:
            await self.delivered()  # what the message owes people (a reply, a result in a chat) has gone out
        return response

    async def sms_in(self, phone: str, text: str, gateway_id: str | None = None, **kwargs: Any) -> httpx.Response:
        payload: dict[str, Any] = {"from": phone, "text": text}
        if gateway_id is not None:
            payload["id"] = gateway_id
        return await self.post("/sms/inbound", payload, **kwargs)

    def inbox(self, phone: str) -> list[str]:
        return list(self.phone.inbox.get(phone, []))


async def ask_about(chat: Chat, lang: str, subject: str, identify_as: str | None = "Сергей") -> str:
    """The requester asks for `subject`'s TB information; returns the application number (code goes by SMS)."""
    await chat.start_in(lang)
    await chat.press(W[lang]["other"])
    await chat.press("фтизиатрия")
    if identify_as:
        await chat.identify(identify_as)
    await chat.send(CITIZENS[subject]["iin"])
    numbers = [w.strip(".,()") for w in chat.texts().replace("(", " ").split() if w.startswith("QZ-")]
    assert numbers, chat.texts()
    return numbers[0]


def pushed_text(h: Harness, chat: Chat) -> tuple[str, list]:
    messages = h.drain(chat.user_id)
    return "\n".join(m.plain_text or m.text or "" for m in messages), messages


__all__ = ["CITIZENS", "SECRET", "Chat", "FakeGateway", "SmsHarness", "W", "ask_about", "eventually", "pushed_text"]
