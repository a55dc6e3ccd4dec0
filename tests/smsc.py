"""A real SMSC for the SMPP tests: ``smpp34``'s own server side, in a process of its own.

Run as ``python -m tests.smsc --port P --control C --journal FILE``. It accepts binds (the library's server
accepts any account), answers each ``submit_sm`` with a fresh message id and writes it to the journal (one JSON
line per submit, flushed at once, so that what it took survives its being killed). A small HTTP control port
lets a test send ``deliver_sm`` to the bound client (a receipt, a message from a phone), make it answer
ESME_RTHROTTLED to the next submits, or hold submits unanswered (then a test kills the process mid-send).

``Smsc`` (below) is the test side: start, kill, start again on the same port, read what phones received.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


# The server process ----------------------------------------------------------------------------------------

async def serve(host: str, port: int, control: int, journal: Path) -> None:
    import smpp34
    from aiohttp import web

    server = smpp34.Server(host, port, system_id="TESTSMSC")
    await server.start()
    sessions: dict[str, Any] = {}
    held: list[Any] = []  # submits left unanswered on purpose (kept alive: a dropped event would NAK)
    # hold: leave submits unanswered; throttle: answer the next N with ESME_RTHROTTLED, once throttle_after more
    # were accepted; receipts: send a DELIVRD receipt right after each submit_sm_resp.
    mode: dict[str, Any] = {"hold": False, "throttle": 0, "throttle_after": 0, "receipts": False}
    prefix = f"{os.getpid():x}{int(time.time()) % 100000:x}-"
    counter = 0
    out = journal.open("a", encoding="utf-8")

    def write(entry: dict[str, Any]) -> None:
        out.write(json.dumps(entry) + "\n")
        out.flush()
        os.fsync(out.fileno())

    async def events() -> None:
        nonlocal counter
        while True:
            event = await server.next()
            if isinstance(event, smpp34.Esme):
                sessions[event.session_id] = event
            elif isinstance(event, smpp34.Unbound):
                sessions.pop(event.session_id, None)
            elif isinstance(event, smpp34.SubmitSmEvent):
                entry = {"to": event.destination_addr, "from": event.source_addr, "esm": event.esm_class,
                         "dc": event.data_coding, "sm": event.short_message.hex(),
                         "src_ton": event.source_addr_ton, "dest_ton": event.dest_addr_ton,
                         "registered": event.registered_delivery}
                if mode["throttle"] > 0 and mode["throttle_after"] <= 0:
                    mode["throttle"] -= 1
                    write({**entry, "status": "throttled"})
                    event.reject(smpp34.ESME_RTHROTTLED)
                elif mode["hold"]:
                    write({**entry, "status": "held"})
                    held.append(event)
                else:
                    counter += 1
                    message_id = f"{prefix}{counter}"
                    write({**entry, "status": "accepted", "id": message_id})
                    event.accept(message_id=message_id)
                    mode["throttle_after"] -= 1
                    if mode["receipts"] and event.session_id in sessions:
                        text = f"id:{message_id} sub:001 dlvrd:001 stat:DELIVRD err:000".encode()
                        await sessions[event.session_id].deliver_sm(
                            event.source_addr, text, source_addr=event.destination_addr, esm_class=0x04,
                            tlvs=[smpp34.Tlv(0x001E, message_id.encode() + b"\0")])

    async def deliver(request: web.Request) -> web.Response:
        body = await request.json()
        bound = [s for s in sessions.values() if s.can_receive]
        if not bound:
            return web.json_response({"error": "nobody bound"}, status=409)
        tlvs = [smpp34.Tlv(int(tag), bytes.fromhex(value)) for tag, value in body.get("tlvs", [])]
        resp = await bound[-1].deliver_sm(
            body["to"], bytes.fromhex(body["sm"]), source_addr=body["from"], source_addr_ton=1, source_addr_npi=1,
            esm_class=body.get("esm", 0), data_coding=body.get("dc", 8), tlvs=tlvs)
        return web.json_response({"status": resp.command_status})

    async def set_mode(request: web.Request) -> web.Response:
        mode.update(await request.json())
        return web.json_response(mode)

    async def state(_: web.Request) -> web.Response:
        return web.json_response({"bound": sum(1 for s in sessions.values() if s.can_receive),
                                  "held": len(held)})

    app = web.Application()
    app.router.add_post("/deliver", deliver)
    app.router.add_post("/mode", set_mode)
    app.router.add_get("/state", state)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", control).start()
    await events()


# The test side --------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _concat(sm: bytes, esm: int) -> tuple[tuple[int, int, int] | None, bytes]:
    if not esm & 0x40:
        return None, sm
    length = sm[0]
    header, body = sm[1:1 + length], sm[1 + length:]
    if header[:2] == b"\x00\x03":
        return (header[2], header[3], header[4]), body
    return None, body


@dataclass
class Smsc:
    """The SMSC process, seen from a test."""
    journal: Path
    port: int = field(default_factory=free_port)
    control: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.smsc", "--port", str(self.port), "--control", str(self.control),
             "--journal", str(self.journal)], cwd=ROOT)

    async def start(self) -> None:
        """Start the process and wait until it answers (a few tenths of a second)."""
        self.process = self._spawn()
        deadline = time.monotonic() + 20
        async with httpx.AsyncClient() as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.url("/state"))).status_code == 200:
                        return
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the test SMSC did not start")
                await asyncio.sleep(0.05)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.control}{path}"

    def kill(self) -> None:
        """SIGKILL: the SMSC dies as a crashed one does, every connection cut at once."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    async def _call(self, method: str, path: str, payload: Any = None) -> Any:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.request(method, self.url(path), json=payload)
            response.raise_for_status()
            return response.json()

    async def state(self) -> dict[str, int]:
        return dict(await self._call("GET", "/state"))

    async def mode(self, **values: Any) -> None:
        await self._call("POST", "/mode", values)

    async def deliver(self, **body: Any) -> int:
        return int((await self._call("POST", "/deliver", body))["status"])

    async def mo(self, phone: str, text: str, to: str = "Qyzmet") -> int:
        """A message from a phone (UCS-2)."""
        return await self.deliver(**{"from": phone.lstrip("+"), "to": to, "sm": text.encode("utf-16-be").hex(),
                                     "dc": 8})

    async def mo_parts(self, phone: str, parts: list[str], reference: int = 7) -> None:
        """A long message from a phone, in parts with a concatenation header."""
        for number, text in enumerate(parts, 1):
            header = bytes([5, 0, 3, reference, len(parts), number])
            await self.deliver(**{"from": phone.lstrip("+"), "to": "Qyzmet", "esm": 0x40, "dc": 8,
                                  "sm": (header + text.encode("utf-16-be")).hex()})

    async def receipt(self, message_id: str, stat: str = "DELIVRD", phone: str = "77000000000",
                      tlvs: bool = True) -> int:
        text = f"id:{message_id} sub:001 dlvrd:001 submit date:2612080100 done date:2612080101 stat:{stat} err:000"
        extra = [[0x001E, (message_id.encode() + b"\0").hex()]] if tlvs else []
        return await self.deliver(**{"from": phone, "to": "Qyzmet", "esm": 0x04, "dc": 0,
                                     "sm": text.encode().hex(), "tlvs": extra})

    def submits(self) -> list[dict[str, Any]]:
        if not self.journal.exists():
            return []
        return [json.loads(line) for line in self.journal.read_text().splitlines() if line.strip()]

    def messages(self) -> list[dict[str, Any]]:
        """What phones received: accepted submits, parts joined by their concatenation header."""
        whole: list[dict[str, Any]] = []
        pending: dict[tuple[str, int, int], dict[int, dict[str, Any]]] = {}
        for entry in self.submits():
            if entry["status"] != "accepted":
                continue
            concat, body = _concat(bytes.fromhex(entry["sm"]), entry["esm"])
            text = body.decode("utf-16-be")
            if concat is None:
                whole.append({"to": entry["to"], "text": text, "ids": [entry["id"]], "parts": 1})
                continue
            reference, total, number = concat
            key = (entry["to"], reference, total)
            got = pending.setdefault(key, {})
            got[number] = {**entry, "text": text}
            if len(got) == total:
                ordered = [got[n] for n in sorted(got)]
                whole.append({"to": entry["to"], "text": "".join(p["text"] for p in ordered),
                              "ids": [p["id"] for p in ordered], "parts": total})
                del pending[key]
        return whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control", type=int, required=True)
    parser.add_argument("--journal", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.control, args.journal))


if __name__ == "__main__":
    main()
