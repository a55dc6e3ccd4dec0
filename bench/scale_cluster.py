"""The processes of `python -m bench.scale`: a database of its own on the shared PostgreSQL, a Bot API emulator,
`qyzmet web` replicas (each in a CPU cgroup of its own when asked) and `qyzmet worker`s, behind the round-robin
proxy (bench/scale_proxy.py); and what is read off them: the PostgreSQL and Redis server processes, the
problems in the bot processes' logs.

Each phase gets a new database and a new emulator: the emulator numbers updates from 1, and a database (or a
Redis prefix) that has seen update 1 would take a new update 1 for a retry of the old one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from bench import procs, synth
from bench.load import SmsSink
from store.opening import open_database

WEBHOOK_SECRET = "bench-webhook-secret"
WEBHOOK_PATH = "/telegram"


def database_url(admin_url: str, name: str) -> str:
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))


async def pg_admin(admin_url: str, *statements: str) -> None:
    import asyncpg
    conn = await asyncpg.connect(admin_url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def postmaster_pid(admin_url: str) -> int | None:
    """The PostgreSQL server's main process (the parent of our backend), if it runs on this machine."""
    import asyncpg
    conn = await asyncpg.connect(admin_url)
    try:
        backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
        return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])  # while it lives
    except OSError:
        return None
    finally:
        await conn.close()


async def redis_pid(url: str) -> int | None:
    """The Redis server's process, if it runs on this machine."""
    import redis.asyncio as redis
    client = redis.Redis.from_url(url)
    try:
        pid = int((await client.info("server"))["process_id"])
    finally:
        await client.aclose()
    return pid if Path(f"/proc/{pid}").exists() else None


class Proxy:
    """The round-robin proxy process (bench/scale_proxy.py) and its control API."""

    def __init__(self, work: Path) -> None:
        self.port = procs.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = self.base + WEBHOOK_PATH  # QYZMET_TELEGRAM_WEBHOOK_URL of every replica
        self.proc = procs.Proc("proxy", [sys.executable, "-m", "bench.scale_proxy", "--port", str(self.port)],
                               log=work / "proxy.log")

    async def ready(self, session: aiohttp.ClientSession) -> None:
        await procs.wait_http(f"{self.base}/_proxy/stats")

    async def route(self, session: aiohttp.ClientSession, urls: list[str] | None = None,
                    active: list[int] | None = None) -> None:
        body: dict = {} if urls is None else {"urls": urls}
        if active is not None:
            body["active"] = active
        async with session.post(f"{self.base}/_proxy/targets", json=body) as r:
            r.raise_for_status()

    async def stats(self, session: aiohttp.ClientSession) -> dict:
        async with session.get(f"{self.base}/_proxy/stats") as r:
            return await r.json()


LOG_LINE = re.compile(r"^\S+ \S+ (?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) (?P<name>[\w.]+): (?P<message>.*)$")


def log_problems(paths: list[Path], examples: int = 5) -> dict:
    """ERROR/CRITICAL and WARNING lines in the bot processes' logs (already masked by the bot: no IINs, no
    phones), with the most frequent messages (numbers blanked so that alike lines count together)."""
    levels: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    tracebacks = 0
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("Traceback"):
                tracebacks += 1
            match = LOG_LINE.match(line)
            if match and match["level"] in ("WARNING", "ERROR", "CRITICAL"):
                levels[match["level"]] += 1
                messages[f"{match['level']} {match['name']}: {re.sub(r'[0-9]+', 'N', match['message'])[:140]}"] += 1
    return {"errors": levels["ERROR"] + levels["CRITICAL"], "warnings": levels["WARNING"], "tracebacks": tracebacks,
            "top": [f"{n}x {m}" for m, n in messages.most_common(examples)]}


class Cluster:
    """One phase's bot: a new database `qyzmet_scale_<label>` (migrated, seeded), an emulator, `replicas` web
    replicas and `workers` workers (started and stopped one by one), all behind `proxy`."""

    def __init__(self, label: str, work: Path, admin_url: str, redis_url: str, sms: SmsSink, proxy: Proxy,
                 replicas: int, workers: int, emulator_flags: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> None:
        self.label = label
        self.work = work / label
        self.work.mkdir(parents=True, exist_ok=True)
        self.admin_url = admin_url
        self.db_name = f"qyzmet_scale_{label}"
        self.db_url = database_url(admin_url, self.db_name)
        self.proxy = proxy
        self.emu_port = procs.free_port()
        self.emu_base = f"http://127.0.0.1:{self.emu_port}"
        self.emulator_flags = emulator_flags
        self.emulator: procs.Proc | None = None
        self.web_ports = [procs.free_port() for _ in range(replicas)]
        self.worker_ports = [procs.free_port() for _ in range(workers)]
        self.web: list[procs.Proc | None] = [None] * replicas
        self.workers: list[procs.Proc | None] = [None] * workers
        self.logs: list[tuple[str, Path]] = []  # (process, its log), in the order started
        self.env = {
            **procs.bot_env(self.emu_port, Path(), sms.url),
            "QYZMET_DATABASE": self.db_url,
            "QYZMET_REDIS_URL": redis_url,
            "QYZMET_REDIS_PREFIX": f"qyzmet-bench-{uuid.uuid4().hex[:8]}:",  # nothing left by an earlier run
            "QYZMET_TELEGRAM_WEBHOOK_URL": proxy.url,
            "QYZMET_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            **(env or {}),
        }

    @property
    def web_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.web_ports]

    def _cli(self, *args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "bot.app.cli", *args], cwd=procs.ROOT, capture_output=True,
                             text=True, env={**os.environ, **self.env})
        if out.returncode != 0:
            raise RuntimeError(f"qyzmet {args[0]} failed: {out.stdout[-300:]}\n{out.stderr[-1500:]}")
        return out.stdout

    async def prepare(self, persons: list[synth.Person], subscribers: int = 0,
                      first_subscriber: int = synth.IDLE_USER_BASE) -> dict:
        """A new database: `qyzmet migrate`, `qyzmet seed` (the citizens), then `subscribers` users rows
        (subscribed, kk/ru) in one statement; the emulator. Returns the seconds each took."""
        took: dict[str, float] = {}
        t = time.perf_counter()
        await pg_admin(self.admin_url, f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)",
                       f"CREATE DATABASE {self.db_name}")
        self._cli("migrate")
        took["migrate_s"] = time.perf_counter() - t
        t = time.perf_counter()
        synth.write_seed(self.work / "seed.json", persons)
        procs.run_seed(self.env, self.work / "seed.json")
        took["seed_s"] = time.perf_counter() - t
        if subscribers:
            t = time.perf_counter()
            await add_subscribers(self.db_url, first_subscriber, subscribers)
            took["subscribers_s"] = time.perf_counter() - t
        self.emulator = procs.start_emulator(self.emu_port, self.work, *self.emulator_flags)
        await procs.wait_http(f"{self.emu_base}/_emu/stats")
        if subscribers:  # the emulator knows the subscribers' chats (else: "chat not found")
            async with aiohttp.ClientSession() as session:
                for first in range(first_subscriber, first_subscriber + subscribers, 50_000):
                    count = min(50_000, first_subscriber + subscribers - first)
                    async with session.post(f"{self.emu_base}/_emu/users",
                                            json={"first": first, "count": count, "language_code": "kk"}) as r:
                        r.raise_for_status()
        return {k: round(v, 2) for k, v in took.items()}

    async def start_web(self, index: int, cap: procs.CpuCap | None = None, timeout: float = 60.0) -> procs.Proc:
        """Replica `index` on its own port, ready (/health/ready: database up, setWebhook done)."""
        log = self.work / f"web{index}-{len(self.logs)}.log"
        self.logs.append((f"web{index}", log))
        proc = procs.Proc(f"web{index}", [sys.executable, "-m", "bot.app.cli", "web"], log=log, cap=cap,
                          env={**self.env, "QYZMET_HTTP_PORT": str(self.web_ports[index])})
        self.web[index] = proc
        await procs.wait_ready(f"{self.web_urls[index]}/health/ready", proc, timeout)
        return proc

    async def start_worker(self, index: int, timeout: float = 60.0) -> procs.Proc:
        log = self.work / f"worker{index}-{len(self.logs)}.log"
        self.logs.append((f"worker{index}", log))
        proc = procs.Proc(f"worker{index}", [sys.executable, "-m", "bot.app.cli", "worker"], log=log,
                          env={**self.env, "QYZMET_HTTP_PORT": str(self.worker_ports[index])})
        self.workers[index] = proc
        await procs.wait_ready(f"http://127.0.0.1:{self.worker_ports[index]}/health/ready", proc, timeout)
        return proc

    def broadcast(self, text: str) -> tuple[int, int]:
        """`qyzmet broadcast --audience all --yes`, as the deployer would: (its id, its recipients)."""
        out = self._cli("broadcast", "--kk", text, "--ru", text, "--audience", "all", "--yes")
        match = re.search(r"broadcast (\d+) queued for (\d+) recipients", out)
        if match is None:
            raise RuntimeError(f"qyzmet broadcast: unexpected output {out[-300:]!r}")
        return int(match[1]), int(match[2])

    async def ledger(self, broadcast_id: int) -> dict[str, int]:
        """The broadcast's delivery ledger: recipients per status."""
        import asyncpg
        conn = await asyncpg.connect(self.db_url)
        try:
            rows = await conn.fetch("SELECT status, count(*) FROM broadcast_recipients WHERE broadcast_id = $1 "
                                    "GROUP BY status", broadcast_id)
        finally:
            await conn.close()
        return {r[0]: int(r[1]) for r in rows}

    def cancel_broadcast(self, broadcast_id: int) -> None:
        self._cli("broadcasts", "--cancel", str(broadcast_id))

    async def emu_stats(self, session: aiohttp.ClientSession) -> dict:
        return await procs.emu_stats(session, self.emu_base)

    def problems(self) -> dict:
        return log_problems([path for _, path in self.logs])

    def logged(self, text: str) -> list[str]:
        """The logs (file names: process-start order) that have `text`, in the order the processes started."""
        return [path.name for _, path in self.logs if path.exists() and text in path.read_text(errors="replace")]

    def stop(self) -> None:
        for proc in [*self.web, *self.workers]:
            if proc is not None:
                proc.stop()
        if self.emulator is not None:
            self.emulator.stop()

    async def drop(self) -> None:
        await pg_admin(self.admin_url, f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)")


async def add_subscribers(db_url: str, first: int, count: int) -> None:
    """`count` users rows (subscribed, every third in Russian, the rest in Kazakh) through the store's Database,
    in one unit of work and one INSERT … SELECT."""
    db = await open_database(db_url, migrate=False)
    try:
        async with db.unit("bench/subscribers"):
            await db.write_count(
                "INSERT INTO users (user_id, lang, subscribed, created_at) "
                "SELECT g, CASE WHEN g % 3 = 0 THEN 'ru' ELSE 'kk' END, 1, now() "
                "FROM generate_series(?::bigint, ?::bigint) AS g ON CONFLICT DO NOTHING",
                (first, first + count - 1))
    finally:
        await db.close()


def json_dump(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
