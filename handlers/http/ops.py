"""The operating routes of the bot's HTTP server: metrics and health (aiohttp.web).

- ``GET /metrics``: Prometheus' text format (bot/metrics.py); the outbox gauges are read from the database
  at scrape time, so they are never staler than the scrape.
- ``GET /health/live``: the process answers. A supervisor restarts the process when this fails.
- ``GET /health/ready`` (and ``GET /health``, which the container's HEALTHCHECK uses): the database answers
  within a short timeout, updates are being fetched, the outbox workers are alive. 200, or 503 with a JSON
  body naming what is not ready: a load balancer or an operator sees at once what to look at.

These answers say nothing about any person, so they need no secret; like the rest of the server they are
on loopback unless QYZMET_HTTP_HOST says otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web

from bot.core.health import Check, HealthService
from bot.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)


@dataclass
class Operations:
    metrics: Metrics
    health: HealthService
    db_timeout: float
    checks: Mapping[str, Check] = field(default_factory=dict)  # the process's own (bot/app/runner.py)


def add_routes(app: web.Application, ops: Operations) -> None:
    async def metrics(request: web.Request) -> web.Response:
        try:
            ops.metrics.set_outboxes(await ops.health.outbox_depths())
        except Exception as exc:  # the other metrics are still worth serving; readiness says what is wrong
            log.warning("outbox depths could not be read for /metrics (%s)", type(exc).__name__)
        body = ops.metrics.render()
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    async def live(request: web.Request) -> web.Response:
        return web.json_response({"status": "live"})

    async def ready(request: web.Request) -> web.Response:
        checks = await ops.health.readiness(ops.checks, ops.db_timeout)
        failing = [name for name, ok in checks.items() if not ok]
        if failing:
            return web.json_response({"status": "not ready", "not_ready": failing, "checks": checks}, status=503)
        return web.json_response({"status": "ready", "checks": checks})

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
    app.router.add_get("/health", ready)
