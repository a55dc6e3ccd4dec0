"""Shared pieces for the tests of several processes over one database (no tests here): web replicas behind one
URL (a round-robin proxy, as a load balancer would be) and workers beside them, each a RunningBot on Services of
its own (its own connections, pace, metrics and HTTP server), as `qyzmet web` and `qyzmet worker` would be.

SMS go to one fake gateway over HTTP, whichever process sends them. With ``QYZMET_TEST_REDIS`` the processes
share Redis under a key prefix of the test's own (deleted at the end): tests never wipe a Redis others use.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.sandbox.emulator import BotApiEmulator
from tests import engines
from tests.sms_harness import FakeGateway
from tests.webhook_harness import WebhookHarness, free_port

# Workers look for work this often (and are not woken by commits made in the other processes): short, so that
# in a test they poll at the same time and contend for the same rows.
FAST_WORKERS: dict[str, Any] = {"telegram_worker_idle_seconds": 0.05, "sms_worker_idle_seconds": 0.05,
                                "broadcast_poll_seconds": 0.1, "broadcast_progress_seconds": 0.2}


@dataclass
class RoundRobin:
    """One URL in front of the replicas: each request goes to the next replica, its answer comes back as is."""

    targets: list[str]
    served: list[tuple[int, int]] = field(default_factory=list)  # (update_id, replica index)
    url: str = ""
    _runner: web.AppRunner | None = None
    _client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=30)
        turns = itertools.cycle(range(len(self.targets)))
        app = web.Application()

        async def forward(request: web.Request) -> web.Response:
            assert self._client is not None
            body = await request.read()
            replica = next(turns)
            headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-telegram")}
            answer = await self._client.post(self.targets[replica], content=body,
                                             headers={**headers, "Content-Type": "application/json"})
            self.served.append((int((await request.json())["update_id"]), replica))
            return web.Response(status=answer.status_code, body=answer.content)

        app.router.add_post("/telegram", forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/telegram"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.aclose()


@dataclass
class Cluster:
    web: list[WebhookHarness]
    workers: list[WebhookHarness]
    proxy: RoundRobin
    gateway: FakeGateway  # every SMS, whichever process sent it

    async def stop_workers(self) -> None:
        """Stop every worker as a stop signal would: what each has on the wire finishes first. Afterwards nothing
        more can be sent, so counts taken then are final."""
        for worker in self.workers:
            await worker.stop()


@asynccontextmanager
async def running_cluster(emu: BotApiEmulator, database: Path | str, replicas: int = 2, workers: int = 2,
                          **settings: Any) -> AsyncIterator[Cluster]:
    """``replicas`` web replicas behind a round-robin proxy and ``workers`` workers, all on ``database`` (seeded by
    the first replica), started in that order and stopped in the reverse one."""
    gateway = FakeGateway()
    await gateway.start()
    ports = [free_port() for _ in range(replicas)]
    proxy = RoundRobin([f"http://127.0.0.1:{port}/telegram" for port in ports])
    await proxy.start()
    prefix = engines.redis_prefix()
    shared: dict[str, Any] = {**settings}
    if engines.REDIS_URL:
        shared.update(redis_url=engines.REDIS_URL, redis_prefix=prefix)
    web_replicas = [WebhookHarness(emu, database, port=port, webhook_url=proxy.url, run_workers=False,
                                   seed=(i == 0), gateway=gateway, **shared) for i, port in enumerate(ports)]
    background = [WebhookHarness(emu, database, receive_updates=False, seed=False, gateway=gateway, **shared)
                  for _ in range(workers)]
    first = web_replicas[0]
    gateway.on_accept = first.phone.receive  # the first replica's harness reads every SMS
    for other in (*web_replicas[1:], *background):
        other._done = first._done  # ... and waits for updates whichever replica handled them
    started: list[WebhookHarness] = []
    try:
        for harness in (*web_replicas, *background):
            await harness.start()
            started.append(harness)
        yield Cluster(web_replicas, background, proxy, gateway)
    finally:
        for harness in reversed(started):
            await harness.close()
        await proxy.stop()
        await gateway.stop()
        if engines.REDIS_URL:
            await engines.drop_redis_keys(prefix)


async def metric(harness: WebhookHarness, name: str, **labels: str) -> float:
    """One sample of a process's ``GET /metrics`` (0 when absent): what that process itself counted."""
    text = (await harness.client.get(f"{harness.base}/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


__all__ = ["FAST_WORKERS", "Cluster", "RoundRobin", "metric", "running_cluster"]
