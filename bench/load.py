"""The load generator: simulated citizens talking to the emulator's control API, and a fake SMS gateway.

One long poll of GET /_emu/messages (all chats) feeds every chat's view; each citizen sends one update,
waits for the bot's answer, and goes on. Latency of an update = from just before POST /_emu/send to the
arrival here of the first bot message in that chat after it. A certificate counts only when its text is the
seed's truth about the person it concerns (full name, «состоит» / «не состоит»); otherwise the session fails.
A data subject who consents by SMS posts a signed reply to the bot's own inbound SMS webhook.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bench.synth import Person
from handlers.http.sms import SIGNATURE_HEADER, sign

CODE_RE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
Msg = dict
Pred = Callable[[Msg], bool]


class FlowError(Exception):
    pass


# --- fake SMS gateway (the HTTP contract of bot.gateways.sms_gateway.HttpSmsGateway) -------------------------------

class SmsSink:
    """POST {"id","to","text"} -> 200; keeps the last 6-digit code per phone."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}
        self.received = 0
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received += 1
        match = CODE_RE.search(body.get("text", ""))
        if match:
            self.codes[body["to"]] = match.group(1)
            self.arrived.set()
            self.arrived = asyncio.Event()
        return web.json_response({"message_id": f"gw-{body.get('id')}"})

    async def start(self, port: int) -> None:
        app = web.Application()
        app.router.add_post("/sms", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/sms"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


# --- the emulator's control API ------------------------------------------------------------------------------

@dataclass
class ChatView:
    messages: list[Msg] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    event: asyncio.Event = field(default_factory=asyncio.Event)


class Emu:
    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base = base
        self.s = session
        self.chats: dict[int, ChatView] = {}
        self.last_seq = 0
        self._poller: asyncio.Task | None = None

    def chat(self, user_id: int) -> ChatView:
        view = self.chats.get(user_id)
        if view is None:
            view = self.chats[user_id] = ChatView()
        return view

    async def start(self) -> None:
        async with self.s.get(f"{self.base}/_emu/messages", params={"after": 0, "timeout": 0}) as r:
            self.last_seq = (await r.json())["last_seq"]
        self._poller = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._poller:
            self._poller.cancel()
            try:
                await self._poller
            except (asyncio.CancelledError, Exception):
                pass

    async def _poll(self) -> None:
        while True:
            try:
                async with self.s.get(f"{self.base}/_emu/messages",
                                      params={"after": self.last_seq, "timeout": 5}) as r:
                    body = await r.json()
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
                continue
            now = time.perf_counter()
            for m in body["messages"]:
                view = self.chat(m["chat_id"])
                view.messages.append(m)
                view.arrived.append(now)
                view.event.set()
            self.last_seq = max(self.last_seq, body["last_seq"])

    async def send(self, body: dict) -> None:
        async with self.s.post(f"{self.base}/_emu/send", json=body) as r:
            if r.status != 200:
                raise FlowError(f"/_emu/send {r.status}: {await r.text()}")

    async def stats(self) -> dict:
        async with self.s.get(f"{self.base}/_emu/stats") as r:
            return await r.json()


def buttons(m: Msg) -> list[str]:
    rows = (m.get("reply_markup") or {}).get("inline_keyboard") or []
    return [b.get("callback_data", "") for row in rows for b in row]


def has_button(data: str) -> Pred:
    return lambda m: data in buttons(m)


def asks_contact(m: Msg) -> bool:
    rows = (m.get("reply_markup") or {}).get("keyboard") or []
    return any(isinstance(b, dict) and b.get("request_contact") for row in rows for b in row)


def anything(m: Msg) -> bool:
    return True


def cancel_only(m: Msg) -> bool:
    return buttons(m) == ["cancel"]


def protected(m: Msg) -> bool:
    return bool(m.get("protect_content"))


# The certificate's registry line, e.g. "Состоит на диспансерном учёте …: не состоит" (form.observed_yes/_no).
OBSERVED_LINE = re.compile(r"^.*: (не )?состоит$", re.MULTILINE)


def check_certificate(m: Msg, person: Person) -> None:
    """The protected message must be the certificate about `person` and say what the seed's registry says."""
    text = m.get("plain_text") or ""
    if not any(line.endswith(f": {person.full_name}") for line in text.splitlines()):
        raise FlowError(f"certificate for citizen #{person.index}: the seed's full name is not on it: {text[:160]!r}")
    lines = OBSERVED_LINE.findall(text)
    if len(lines) != 1:
        raise FlowError(f"certificate for citizen #{person.index}: {len(lines)} «состоит» lines: {text[:160]!r}")
    says_observed = lines[0] == ""
    if says_observed != person.tb_observed:
        raise FlowError(f"certificate for citizen #{person.index}: says {'' if says_observed else 'не '}состоит, "
                        f"the registry says {'' if person.tb_observed else 'не '}состоит")


# --- one simulated citizen -----------------------------------------------------------------------------------

class SmsInbound:
    """The SMS gateway's side of the bot's inbound webhook (POST /sms/inbound, signed as bot/app/http_server.py
    says)."""

    def __init__(self, url: str, secret: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.secret = secret
        self.s = session

    async def post(self, phone: str, text: str, gateway_id: str) -> None:
        body = json.dumps({"id": gateway_id, "from": phone, "text": text}, ensure_ascii=False).encode()
        async with self.s.post(self.url, data=body, headers={SIGNATURE_HEADER: sign(self.secret, body),
                                                             "Content-Type": "application/json"}) as r:
            if r.status != 200:
                raise FlowError(f"/sms/inbound {r.status}: {(await r.text())[:200]}")


@dataclass
class Recorder:
    """Per-update latencies (first answer), per-step completion times and failures of one phase."""
    first_reply: list[float] = field(default_factory=list)
    step_done: list[float] = field(default_factory=list)
    to_result: list[float] = field(default_factory=list)  # third party: consent code typed -> certificate
    sms_to_result: list[float] = field(default_factory=list)  # third party: consent SMS posted -> certificate
    updates: int = 0
    sessions_ok: int = 0
    failures: list[str] = field(default_factory=list)
    replied: list[tuple[float, float]] = field(default_factory=list)  # (update sent, first answer arrived)

    def answered_between(self, start: float, end: float) -> int:
        """Updates whose first answer arrived in [start, end) (perf_counter times): throughput over a window."""
        return sum(1 for _, at in self.replied if start <= at < end)

    def latencies_sent_between(self, start: float, end: float) -> list[float]:
        """First-answer latencies of the updates sent in [start, end)."""
        return [at - sent for sent, at in self.replied if start <= sent < end]


class Citizen:
    def __init__(self, emu: Emu, sms: SmsSink, person: Person, rec: Recorder, timeout: float = 60.0,
                 sms_inbound: SmsInbound | None = None, think: float = 0.0) -> None:
        self.think = think  # seconds a person reads before each update after the first (0: at once)
        self.steps = 0
        self.emu = emu
        self.sms = sms
        self.sms_inbound = sms_inbound
        self.p = person
        self.rec = rec
        self.timeout = timeout
        self.view = emu.chat(person.user_id)
        self.uid = person.user_id
        self._last: list[tuple[Msg, float]] = []  # the last step's matched messages with their arrival times

    async def _step(self, body: dict, *preds: Pred) -> list[Msg]:
        """Send one update, then wait until messages matching preds (in order) have arrived."""
        if self.think and self.steps:
            await asyncio.sleep(self.think)
        self.steps += 1
        start_index = len(self.view.messages)
        t0 = time.perf_counter()
        await self.emu.send({"user_id": self.uid, "first_name": f"Bench{self.p.index}", "language_code": "ru",
                             **body})
        self.rec.updates += 1
        matched = await self._await(start_index, t0, preds, f"{body!r}", first_reply=True)
        self.rec.step_done.append(matched[-1][1] - t0)
        self._last_t0 = t0
        self._last = matched
        return [m for m, _ in matched]

    async def _await(self, start_index: int, t0: float, preds: tuple[Pred, ...], what: str,
                     first_reply: bool = False) -> list[tuple[Msg, float]]:
        """Messages matching preds (in order) after `start_index`, with their arrival times."""
        deadline = t0 + self.timeout
        i, first_seen, matched = start_index, not first_reply, []
        want = list(preds)
        while want:
            while i < len(self.view.messages):
                m = self.view.messages[i]
                if not first_seen:
                    first_seen = True
                    self.rec.first_reply.append(self.view.arrived[i] - t0)
                    self.rec.replied.append((t0, self.view.arrived[i]))
                if want and want[0](m):
                    want.pop(0)
                    matched.append((m, self.view.arrived[i]))
                i += 1
            if not want:
                break
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                texts = [(m.get("plain_text") or "")[:80] for m in self.view.messages[start_index:]]
                raise FlowError(f"user {self.uid}: no expected answer to {what} within {self.timeout}s; got {texts}")
            self.view.event.clear()
            try:
                await asyncio.wait_for(self.view.event.wait(), remaining)
            except TimeoutError:
                pass
        return matched

    async def text(self, text: str, *preds: Pred) -> list[Msg]:
        return await self._step({"text": text}, *preds)

    async def press(self, message: Msg, data: str, *preds: Pred) -> list[Msg]:
        return await self._step({"callback": {"message_id": message["message_id"], "data": data}}, *preds)

    async def identify_via(self, whose: str) -> Msg:
        """/start, Русский, own|other, TB, share contact, IIN; returns the 'code sent' message."""
        (lang_msg,) = await self.text("/start", has_button("lang:ru"))
        (menu,) = await self.press(lang_msg, "lang:ru", has_button(whose))
        (services,) = await self.press(menu, whose, has_button(f"{whose}:tb_info"))
        await self.press(services, f"{whose}:tb_info", asks_contact)
        await self._step({"contact": {"phone_number": self.p.contact_phone, "user_id": self.uid}}, anything)
        self.sms.codes.pop(self.p.phone, None)
        (code_msg,) = await self.text(self.p.iin, has_button("resend"))
        return code_msg

    async def code_for(self, phone: str, wait: float = 10.0) -> str:
        """The code the phone received; waits a little, as a person would, if the SMS is still queued."""
        deadline = time.perf_counter() + wait
        while (code := self.sms.codes.get(phone)) is None:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise FlowError(f"user {self.uid}: no SMS code arrived for {phone} within {wait}s")
            try:
                await asyncio.wait_for(self.sms.arrived.wait(), remaining)
            except TimeoutError:
                pass
        return code

    async def own_flow(self) -> None:
        """The own-request flow of tests/e2e/test_e2e_own.py: 7 updates, ends with the protected certificate,
        which must carry the citizen's name and the registry's answer."""
        await self.identify_via("own")
        certificate, _ = await self.text(await self.code_for(self.p.phone), protected, has_button("own"))
        check_certificate(certificate, self.p)

    async def third_party_flow(self, subject: Person, by_sms: bool = False) -> None:
        """Identify, ask about `subject`, then the subject consents: the requester types the code from the
        subject's SMS (9 updates), or, `by_sms`, the subject replies «ДА <code>» by SMS and the certificate is
        pushed to the requester's chat (8 updates). Either way the certificate must be the subject's."""
        await self.identify_via("other")
        await self.text(await self.code_for(self.p.phone), cancel_only)
        self.sms.codes.pop(subject.phone, None)
        await self.text(subject.iin, has_button("resend"))
        code = await self.code_for(subject.phone)
        if by_sms:
            assert self.sms_inbound is not None
            start_index = len(self.view.messages)
            t0 = time.perf_counter()
            await self.sms_inbound.post(subject.phone, f"ДА {code}", f"bench-consent-{self.uid}")
            ((certificate, at),) = await self._await(start_index, t0, (protected,), "the consent SMS")
            self.rec.sms_to_result.append(at - t0)
        else:
            await self.text(code, protected, has_button("own"))
            certificate, at = self._last[0]
            self.rec.to_result.append(at - self._last_t0)
        check_certificate(certificate, subject)

    async def echo_flow(self, n: int) -> None:
        for i in range(n):
            await self.text(f"echo {self.p.index} {i}", anything)

    async def one_text(self, text: str) -> None:
        await self.text(text, anything)


async def guarded(rec: Recorder, coro: Awaitable[None]) -> None:
    try:
        await coro
        rec.sessions_ok += 1
    except (TimeoutError, FlowError, aiohttp.ClientError) as exc:
        rec.failures.append(str(exc)[:300])


async def closed_loop(sessions: list[Coroutine[Any, Any, None]]) -> float:
    """Run all sessions at once (each citizen waits for each answer); returns the wall time."""
    t0 = time.perf_counter()
    await asyncio.gather(*sessions)
    return time.perf_counter() - t0


async def closed_stream(slots: int, stop: asyncio.Event,
                        fresh: Callable[[], Coroutine[Any, Any, None] | None]) -> None:
    """`slots` sessions at once, each followed by the next as soon as it ends, until `stop` is set (the sessions
    under way then finish) or `fresh()` has none left (returns None)."""

    async def slot() -> None:
        while not stop.is_set():
            session = fresh()
            if session is None:
                return
            await session

    await asyncio.gather(*(slot() for _ in range(slots)))


async def open_stream(rate_per_s: float, stop: asyncio.Event,
                      fresh: Callable[[], Coroutine[Any, Any, None] | None], seed: int = 7) -> None:
    """Sessions started as a Poisson process of `rate_per_s` arrivals per second until `stop` is set or `fresh()`
    has none left; then waits for the ones under way."""
    rng = random.Random(seed)
    tasks: list[asyncio.Task[None]] = []
    next_at = time.perf_counter()
    while not stop.is_set():
        session = fresh()
        if session is None:
            break
        tasks.append(asyncio.create_task(session))
        next_at += rng.expovariate(rate_per_s)
        delay = next_at - time.perf_counter()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass
    await asyncio.gather(*tasks)


async def open_loop(make_sessions: list[Callable[[], Coroutine[Any, Any, None]]], rate_per_s: float,
                    seed: int = 7) -> float:
    """Start sessions as a Poisson process of `rate_per_s` arrivals per second; returns the wall time."""
    rng = random.Random(seed)
    t0 = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    next_at = t0
    for make in make_sessions:
        delay = next_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(make()))
        next_at += rng.expovariate(rate_per_s)
    await asyncio.gather(*tasks)
    return time.perf_counter() - t0
