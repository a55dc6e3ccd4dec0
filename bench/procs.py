"""The processes of a run: the Bot API emulator, `qyzmet run` (or `web` and `worker`), the two echo bots, the
private PostgreSQL and Redis of scripts/servers.sh. Each is started and stopped by pid; a process may be capped to
a share of one CPU in a cgroup of its own (CpuCap)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:BENCH"
SMS_SECRET = "bench-sms-secret"  # the bot's inbound SMS webhook checks the signature, as in production

# The two baselines: python-telegram-bot as shipped, and an echo bot on the bot's own plumbing.
ECHO_BOTS = {"stock": "bench.echo_bot", "plumbing": "bench.plumbing_echo"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CGROUP_CPU = Path("/sys/fs/cgroup/cpu")  # the cgroup v1 cpu controller


class CpuCap:
    """A cgroup (v1) of its own with a CPU quota: the processes put in it get at most `share` of one CPU in
    every period (cpu.cfs_quota_us / cpu.cfs_period_us). Needs root and a cgroup v1 cpu hierarchy."""

    PERIOD_US = 100_000

    def __init__(self, path: Path, share: float) -> None:
        self.path = path
        self.share = share

    @classmethod
    def create(cls, name: str, share: float) -> CpuCap:
        """OSError (with the reason) when the quota cannot be applied here."""
        if not (CGROUP_CPU / "cpu.cfs_quota_us").exists():
            raise OSError(f"no cgroup v1 cpu controller at {CGROUP_CPU}")
        path = CGROUP_CPU / name
        path.mkdir(exist_ok=True)
        try:
            (path / "cpu.cfs_period_us").write_text(str(cls.PERIOD_US))
            (path / "cpu.cfs_quota_us").write_text(str(round(share * cls.PERIOD_US)))
        except OSError:
            cls(path, share).remove()
            raise
        return cls(path, share)

    def add(self, pid: int) -> None:
        """Move a process (all its threads) into the cgroup; its children are born there."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        return [int(x) for x in (self.path / "cgroup.procs").read_text().split()]

    def throttling(self) -> dict[str, float]:
        """cpu.stat: periods, periods in which the quota ran out, and the time spent throttled (s)."""
        stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines() if line.strip())
        return {"periods": int(stat.get("nr_periods", 0)), "throttled": int(stat.get("nr_throttled", 0)),
                "throttled_s": int(stat.get("throttled_time", 0)) / 1e9}

    def remove(self) -> None:
        """Remove the cgroup once its processes are gone (a process still in it is moved back to the root)."""
        if not self.path.exists():
            return
        for pid in self.pids():
            try:
                (CGROUP_CPU / "cgroup.procs").write_text(str(pid))
            except OSError:
                pass
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:  # EBUSY while a process that just exited is still accounted
                time.sleep(0.05)


class Proc:
    """A child process; stopped with SIGTERM to its own pid (then SIGKILL), never by name. With `cap`, it runs in
    that cgroup (moved there right after it starts, before it has done anything worth counting)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None, log: Path | None = None,
                 cap: CpuCap | None = None):
        self.name = name
        self.log_path = log
        self.cap = cap
        self._log: BinaryIO | int = open(log, "wb") if log else subprocess.DEVNULL
        self.started = time.perf_counter()
        self.popen = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **(env or {})},
                                      stdout=self._log, stderr=subprocess.STDOUT)
        if cap is not None:
            cap.add(self.popen.pid)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if not isinstance(self._log, int):
            self._log.close()
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no graceful stop."""
        if self.alive():
            self.popen.kill()
        self.popen.wait()
        if not isinstance(self._log, int):
            self._log.close()

    def tail(self, lines: int = 20) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def start_emulator(port: int, workdir: Path, *extra: str, log_name: str = "emulator.log") -> Proc:
    """`extra`: more flags of `python -m bot.sandbox.emulator` (rates, bursts: see its --help)."""
    return Proc("emulator", [sys.executable, "-m", "bot.sandbox.emulator", "--port", str(port), "--token", TOKEN,
                             *extra], log=workdir / log_name)


class Servers:
    """A private PostgreSQL and Redis started with scripts/servers.sh in `folder`, stopped with it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.postgres = ""
        self.redis = ""

    def start(self) -> Servers:
        out = subprocess.run([str(ROOT / "scripts" / "servers.sh"), "start", str(self.folder)], cwd=ROOT,
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"scripts/servers.sh start failed: {out.stderr.strip()[-500:]}")
        for line in out.stdout.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            if key == "QYZMET_TEST_POSTGRES":
                self.postgres = value
            elif key == "QYZMET_TEST_REDIS":
                self.redis = value
        if not (self.postgres and self.redis):
            raise RuntimeError(f"scripts/servers.sh printed no server URLs: {out.stdout!r}")
        return self

    def stop(self) -> None:
        subprocess.run([str(ROOT / "scripts" / "servers.sh"), "stop", str(self.folder)], cwd=ROOT,
                       capture_output=True)


# The global SMS pace during the run (README, Benchmarks). Per-phone limits (QYZMET_OTP_MAX_SENDS_PER_HOUR,
# QYZMET_SMS_REPLIES_PER_PHONE_HOUR) stay as configured: every simulated citizen has a phone of their own and
# gets a few SMS at most (a code; a data subject also the consent request and what follows it). The global
# pace (QYZMET_SMS_GLOBAL_PER_MINUTE, 600 in any rolling minute by default) is lifted so that the throughput
# figure is the bot's own: the default lets through 10 SMS a second on average, i.e. 10 identifications a
# second (70 updates/s of own flows), whatever the bot can do; bench prints that cap from the SMS it counted.
SMS_GLOBAL_PER_MINUTE_IN_RUN = 100_000_000


def bot_env(emu_port: int, database: Path, sms_url: str, http_port: int = 0) -> dict[str, str]:
    """The bot's environment; `http_port` 0 lets it pick a free port (when nobody needs to reach it)."""
    return {
        "QYZMET_TELEGRAM_TOKEN": TOKEN,
        "QYZMET_TELEGRAM_API_URL": f"http://127.0.0.1:{emu_port}/bot",
        "QYZMET_DATABASE": str(database),
        "QYZMET_SMS_GATEWAY_URL": sms_url,
        "QYZMET_SECRET_KEY": "bench-secret",
        "QYZMET_SWEEP_INTERVAL_SECONDS": "5",
        # A free port of our own (the default 8080 may be taken on a shared machine): data subjects reply here.
        "QYZMET_HTTP_HOST": "127.0.0.1",
        "QYZMET_HTTP_PORT": str(http_port),
        "QYZMET_SMS_SECRET": SMS_SECRET,
        "QYZMET_SMS_GLOBAL_PER_MINUTE": str(SMS_GLOBAL_PER_MINUTE_IN_RUN),
    }


def start_bot(env: dict[str, str], workdir: Path, profile: Path | None = None, log_name: str = "bot.log") -> Proc:
    if profile is not None:
        # A session file: render it with `pyinstrument --load FILE` (text, html, pstats, flat: -p flat=true).
        argv = [sys.executable, "-m", "pyinstrument", "-i", "0.002", "-r", "pyisession",
                "-o", str(profile), "-m", "bot.app.cli", "run"]
    else:
        argv = [sys.executable, "-m", "bot.app.cli", "run"]
    return Proc("bot", argv, env=env, log=workdir / log_name)


def start_echo_bot(kind: str, emu_port: int, workdir: Path, label: str) -> Proc:
    """`kind` is a key of ECHO_BOTS; each start logs to its own file (echo-<label>.log)."""
    return Proc(f"{kind} echo", [sys.executable, "-m", ECHO_BOTS[kind], f"http://127.0.0.1:{emu_port}/bot", TOKEN],
                log=workdir / f"echo-{label}.log")


def run_seed(env: dict[str, str], seed_file: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "bot.app.cli", "seed", str(seed_file)], cwd=ROOT,
                         env={**os.environ, **env}, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"qyzmet seed failed: {out.stdout}\n{out.stderr}")


async def wait_ready(url: str, proc: Proc, timeout: float = 60.0) -> None:
    """Until ``url`` (a /health/ready) answers 200; fails early if ``proc`` exits."""
    await _wait_for_answer(url, lambda status: status == 200, timeout, proc, pause=0.1)


async def wait_http(url: str, timeout: float = 20.0) -> None:
    """Until ``url`` answers at all (any status below 500)."""
    await _wait_for_answer(url, lambda status: status < 500, timeout, None, pause=0.05)


async def _wait_for_answer(url: str, accept: Callable[[int], bool], timeout: float, proc: Proc | None,
                           pause: float) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            if proc is not None and not proc.alive():
                raise RuntimeError(f"{proc.name} exited during start:\n{proc.tail(30)}")
            try:
                async with session.get(url) as answer:
                    if accept(answer.status):
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                who = proc.name if proc is not None else url
                raise TimeoutError(f"{who} did not answer as expected within {timeout}s"
                                   + (f":\n{proc.tail(30)}" if proc is not None else ""))
            await asyncio.sleep(pause)


async def emu_stats(session: aiohttp.ClientSession, base: str) -> dict:
    async with session.get(f"{base}/_emu/stats") as r:
        return await r.json()


async def wait_first_get_updates(session: aiohttp.ClientSession, base: str, before: int, proc: Proc,
                                 timeout: float = 60.0) -> float:
    """Seconds from the process start to its first getUpdates seen by the emulator."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        stats = await emu_stats(session, base)
        if stats["requests"].get("getUpdates", 0) > before:
            return time.perf_counter() - proc.started
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
        await asyncio.sleep(0.005)
    raise TimeoutError(f"{proc.name} made no getUpdates within {timeout}s:\n{proc.tail()}")
