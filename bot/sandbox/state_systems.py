"""A reference server for the state systems' contract (DESIGN.md, "State systems"), on 127.0.0.1.

It serves the citizen directory and the registries of a seed file (the ``qyzmet seed`` format: ``citizens``
and ``registry``; ``applications`` are ignored), takes monitoring's stages (one per ``key``, however often it
is posted) and complaints (one per our number), and answers a complaint back on the bot's
``/api/v1/complaints/events``, signed as the bot expects. Each system can be told to misbehave — slow, fail
with 503, answer something that is not JSON, JSON that is not the contract's, or a well-formed answer about
another person (the registries: with the opposite mark) — for a number of requests or until told otherwise, so
what the bot does when a state system misbehaves can be watched end to end. The tests drive it from Python; the
demo or a person drives ``POST /_control`` (``{"system", "mode", "delay", "times"}``).

    python -m bot.sandbox.state_systems --seed bot/sandbox/demo_seed.json --port 8090 [--token T]
        [--callback-url http://127.0.0.1:8080 --secret S]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp
from aiohttp import web

System = Literal["directory", "registries", "monitoring", "complaints"]
SYSTEMS: tuple[System, ...] = ("directory", "registries", "monitoring", "complaints")
Mode = Literal["ok", "slow", "fail", "garbage", "wrong", "other_person"]
MODES: tuple[Mode, ...] = ("ok", "slow", "fail", "garbage", "wrong", "other_person")
CALLBACK_PATH = "/api/v1/complaints/events"
STRANGER = {"iin": "000000000000", "full_name": "Посторонний Человек", "birth_date": "1970-01-01",
            "address": "г. Нигде", "phone": None}  # the other person when the seed has no one else


@dataclass
class Fault:
    """How a system answers now: ``slow`` (after ``delay`` seconds; a POST takes effect first), ``fail`` (503,
    no effect), ``garbage`` (200, not JSON), ``wrong`` (200, JSON that is not the contract's: another
    person, a status that is not a boolean), ``other_person`` (200, the contract's shape but about another IIN:
    the directory names someone else, the registries give another person's opposite mark — what a faulty
    system that mixes up its records answers). ``times``: for that many requests, then ``ok`` again."""
    mode: Mode = "ok"
    delay: float = 0.0
    times: int | None = None


class StateSystemsServer:
    def __init__(self, seed: dict[str, Any], token: str | None = None, host: str = "127.0.0.1", port: int = 0,
                 callback_url: str | None = None, callback_secret: str | None = None) -> None:
        self.citizens: dict[str, dict[str, Any]] = {c["iin"]: dict(c) for c in seed.get("citizens", [])}
        self.registry: dict[tuple[str, str], dict[str, Any]] = {
            (r["iin"], r["register"]): dict(r) for r in seed.get("registry", [])}
        self.token = token
        self.host = host
        self.port = port
        self.callback_url = callback_url
        self.callback_secret = callback_secret
        self.faults: dict[str, Fault] = {system: Fault() for system in SYSTEMS}
        self.requests: Counter[str] = Counter()      # per system, every request that reached it
        self.stages: dict[str, dict[str, Any]] = {}  # monitoring: one stage per key
        self.stage_posts: list[dict[str, Any]] = []  # every post, repeats included
        self.complaints: dict[str, dict[str, Any]] = {}
        self.complaint_posts: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None

    @classmethod
    def from_file(cls, path: Path, **kwargs: Any) -> StateSystemsServer:
        return cls(json.loads(path.read_text(encoding="utf-8")), **kwargs)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # Faults ------------------------------------------------------------------------------------------------

    def set(self, system: str, mode: str, delay: float = 0.0, times: int | None = None) -> None:
        if system not in SYSTEMS or mode not in MODES:
            raise ValueError(f"system one of {SYSTEMS}, mode one of {MODES}")
        if mode == "other_person" and system not in ("directory", "registries"):
            raise ValueError("other_person is for the systems that answer about a person: directory, registries")
        self.faults[system] = Fault(mode, delay, times)

    def heal(self) -> None:
        for system in SYSTEMS:
            self.faults[system] = Fault()

    def _fault(self, system: str) -> Fault:
        self.requests[system] += 1
        fault = self.faults[system]
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                self.faults[system] = Fault()
        return fault

    # Serving -----------------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/citizens/{iin}", self._citizen)
        app.router.add_get("/registers/{register}/{iin}", self._record)
        app.router.add_post("/stages", self._stage)
        app.router.add_post("/complaints", self._complaint)
        app.router.add_post("/_control", self._control)
        app.router.add_get("/_control", self._state)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        guarded = self.token and not request.path.startswith("/_control")
        if guarded and request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "unauthorized"}, status=401)
        return await handler(request)

    def _someone_else(self, iin: str) -> dict[str, Any]:
        """Another person than ``iin``: the first other citizen of the seed, or a stranger."""
        return next((c for i, c in sorted(self.citizens.items()) if i != iin), STRANGER)

    async def _read(self, system: str, answer: dict[str, Any] | None, wrong: dict[str, Any],
                    other: dict[str, Any]) -> web.Response:
        fault = self._fault(system)
        if fault.mode == "slow":
            await asyncio.sleep(fault.delay)
        if fault.mode == "fail":
            return web.json_response({"error": "unavailable"}, status=503)
        if fault.mode == "garbage":
            return web.Response(text="<html>Bad Gateway</html>", content_type="text/html")
        if fault.mode == "wrong":
            return web.json_response(wrong)
        if fault.mode == "other_person":
            return web.json_response(other)
        if answer is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response(answer)

    async def _citizen(self, request: web.Request) -> web.Response:
        iin = request.match_info["iin"]
        person = self.citizens.get(iin)
        answer = None if person is None else _person(person)
        return await self._read("directory", answer, {**(answer or {}), "iin": "000000000000", "full_name": 7},
                                _person(self._someone_else(iin)))

    async def _record(self, request: web.Request) -> web.Response:
        iin, register = request.match_info["iin"], request.match_info["register"]
        record = self.registry.get((iin, register))
        observed = bool(record and record["observed"])
        answer = None if record is None else {"iin": iin, "register": register, "observed": observed,
                                              "source_system": record.get("source_system")}
        other = {"iin": self._someone_else(iin)["iin"], "register": register, "observed": not observed,
                 "source_system": record.get("source_system") if record else None}
        return await self._read("registries", answer,
                                {"iin": iin, "register": register, "observed": "да", "source_system": 5}, other)

    async def _write(self, system: str, request: web.Request, keep: Any) -> web.Response:
        fault = self._fault(system)
        if fault.mode == "fail":
            return web.json_response({"error": "unavailable"}, status=503)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "not JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "not a JSON object"}, status=400)
        refusal = keep(body)
        if refusal:
            return web.json_response({"error": refusal}, status=422)
        if fault.mode == "slow":  # taken, then answered late: the sender may time out and post it again
            await asyncio.sleep(fault.delay)
        if fault.mode in ("garbage", "wrong"):
            return web.Response(text="OK?", content_type="text/plain")
        return web.json_response({"accepted": True}, status=202)

    async def _stage(self, request: web.Request) -> web.Response:
        def keep(body: dict[str, Any]) -> str | None:
            missing = [f for f in ("key", "number", "service", "status", "at") if not body.get(f)]
            if missing:
                return f"missing {', '.join(missing)}"
            self.stage_posts.append(body)
            self.stages.setdefault(body["key"], body)  # a repeated key is one stage
            return None
        return await self._write("monitoring", request, keep)

    async def _complaint(self, request: web.Request) -> web.Response:
        def keep(body: dict[str, Any]) -> str | None:
            missing = [f for f in ("number", "full_name", "iin", "address", "text") if not body.get(f)]
            if missing:
                return f"missing {', '.join(missing)}"
            self.complaint_posts.append(body)
            self.complaints.setdefault(body["number"], body)
            return None
        return await self._write("complaints", request, keep)

    async def _control(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
            self.set(data["system"], data.get("mode", "ok"), float(data.get("delay", 0)), data.get("times"))
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return await self._state(request)

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response({
            "faults": {s: {"mode": f.mode, "delay": f.delay, "times": f.times} for s, f in self.faults.items()},
            "requests": dict(self.requests), "stages": len(self.stages), "complaints": len(self.complaints)})

    # The addressee answers ---------------------------------------------------------------------------------

    async def answer_complaint(self, number: str, event: str, incoming_number: str | None = None,
                               text: str | None = None, secret: str | None = None) -> tuple[int, dict[str, Any]]:
        """Post the addressee's answer to the bot, signed with ``secret`` (default: the configured one)."""
        if not self.callback_url:
            raise RuntimeError("no callback URL: the bot's HTTP server is not known")
        payload: dict[str, Any] = {"number": number, "event": event}
        if incoming_number is not None:
            payload["incoming_number"] = incoming_number
        if text is not None:
            payload["text"] = text
        body = json.dumps(payload, ensure_ascii=False).encode()
        key = (secret if secret is not None else self.callback_secret) or ""
        headers = {"Content-Type": "application/json",
                   "X-Qyzmet-Signature": hmac.new(key.encode(), body, hashlib.sha256).hexdigest()}
        async with aiohttp.ClientSession() as session:
            async with session.post(self.callback_url.rstrip("/") + CALLBACK_PATH, data=body,
                                    headers=headers) as response:
                try:
                    answer = await response.json(content_type=None)
                except (json.JSONDecodeError, aiohttp.ContentTypeError):
                    answer = {}
                return response.status, answer if isinstance(answer, dict) else {}


def _person(citizen: dict[str, Any]) -> dict[str, Any]:
    """The directory's answer about one citizen of the seed."""
    return {"iin": citizen["iin"], "full_name": citizen["full_name"], "birth_date": citizen["birth_date"],
            "address": citizen["address"], "phone": citizen.get("phone")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Reference server for the state systems' contract")
    parser.add_argument("--seed", required=True, type=Path, help="a seed file (citizens, registry)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--token", default=None, help="the bearer token to require (QYZMET_STATE_TOKEN)")
    parser.add_argument("--callback-url", default=None, help="the bot's HTTP server, for complaint answers")
    parser.add_argument("--secret", default=None, help="QYZMET_SMS_SECRET, to sign complaint answers")
    args = parser.parse_args(argv)

    async def serve() -> None:
        server = StateSystemsServer.from_file(args.seed, token=args.token, host=args.host, port=args.port,
                                              callback_url=args.callback_url, callback_secret=args.secret)
        await server.start()
        print(f"state systems on {server.url}: set QYZMET_DIRECTORY_URL, QYZMET_REGISTRY_URL, "
              f"QYZMET_MONITORING_URL and QYZMET_COMPLAINTS_URL to it; faults: POST {server.url}/_control "
              '{"system": "registries", "mode": "fail"}', flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
