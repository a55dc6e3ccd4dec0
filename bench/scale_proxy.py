"""One URL in front of the web replicas, as a load balancer would be: `python -m bench.scale_proxy --port P`.

Each request goes to the next active replica in turn (round robin), path, body and the Telegram secret header
unchanged; the replica's answer comes back as it is. Like nginx's default (`proxy_next_upstream error`), a
replica that refuses the connection (it is down) is skipped for `--down-seconds` and the request goes to the
next one; a replica that fails once the request has reached it (a crash mid-request) yields 502, and Telegram
(the emulator) posts the update again later. With no replica able to take it: 502 as well.

Control (for the benchmark, not Telegram): `POST /_proxy/targets {"urls": [...], "active": [0, 1]}` sets the
replicas and which of them take requests; `GET /_proxy/stats` counts requests per replica and answer.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections import Counter

import aiohttp
from aiohttp import web

CONTROL = "/_proxy/"
PASSED_HEADERS = ("content-type", "x-telegram-bot-api-secret-token")


class RoundRobin:
    def __init__(self, down_seconds: float = 2.0, timeout: float = 60.0) -> None:
        self.urls: list[str] = []
        self.active: list[int] = []
        self.down_until: dict[int, float] = {}
        self.down_seconds = down_seconds
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.stats: dict[str, Counter[str]] = {"requests": Counter(), "answers": Counter(), "errors": Counter()}
        self._turn = itertools.count()
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=False))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _order(self) -> list[int]:
        """The active replicas, starting with the one whose turn it is; the ones marked down last."""
        if not self.active:
            return []
        start = next(self._turn) % len(self.active)
        turn = self.active[start:] + self.active[:start]
        now = time.monotonic()
        return [i for i in turn if self.down_until.get(i, 0) <= now] + \
            [i for i in turn if self.down_until.get(i, 0) > now]

    async def forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in PASSED_HEADERS}
        for index in self._order():
            self.stats["requests"][str(index)] += 1
            try:
                async with self._session.post(self.urls[index] + request.path_qs, data=body, headers=headers,
                                              timeout=self.timeout) as answer:
                    content = await answer.read()
                    self.stats["answers"][f"{index}:{answer.status}"] += 1
                    return web.Response(status=answer.status, body=content,
                                        content_type=answer.content_type if content else None)
            except aiohttp.ClientConnectorError:  # refused: the replica is down, the request never reached it
                self.stats["errors"][f"{index}:refused"] += 1
                self.down_until[index] = time.monotonic() + self.down_seconds
            except (aiohttp.ClientError, TimeoutError) as exc:  # it reached the replica, which failed: no retry
                self.stats["errors"][f"{index}:{type(exc).__name__}"] += 1
                return web.json_response({"error": "bad gateway"}, status=502)
        self.stats["errors"]["no_replica"] += 1
        return web.json_response({"error": "no replica"}, status=502)

    async def set_targets(self, request: web.Request) -> web.Response:
        body = await request.json()
        if "urls" in body:  # new replicas: a new count
            self.urls = [str(u).rstrip("/") for u in body["urls"]]
            self.down_until.clear()
            for counter in self.stats.values():
                counter.clear()
        self.active = [int(i) for i in body.get("active", range(len(self.urls)))]
        return web.json_response({"urls": self.urls, "active": self.active})

    async def get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats)


async def serve(port: int, down_seconds: float) -> None:
    proxy = RoundRobin(down_seconds)
    await proxy.start()
    app = web.Application()
    app.router.add_post(CONTROL + "targets", proxy.set_targets)
    app.router.add_get(CONTROL + "stats", proxy.get_stats)
    app.router.add_post("/{tail:.*}", proxy.forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"round-robin proxy on http://127.0.0.1:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await proxy.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.scale_proxy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--down-seconds", type=float, default=2.0, help="how long a refusing replica is skipped")
    args = p.parse_args(argv)
    try:
        import uvloop
        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        loop_factory = None
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(serve(args.port, args.down_seconds))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
