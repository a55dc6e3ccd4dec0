"""The processes of a run: the Bot API emulator, `qyzmet run`, the echo bot. Each is started and stopped by pid."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:BENCH"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A child process; stopped with SIGTERM to its own pid (then SIGKILL), never by name."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None, log: Path | None = None):
        self.name = name
        self.log_path = log
        self._log = open(log, "wb") if log else subprocess.DEVNULL
        self.started = time.perf_counter()
        self.popen = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **(env or {})},
                                      stdout=self._log, stderr=subprocess.STDOUT)

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
        if self._log is not subprocess.DEVNULL:
            self._log.close()
        return self.popen.returncode

    def tail(self, lines: int = 20) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def start_emulator(port: int, workdir: Path) -> Proc:
    return Proc("emulator", [sys.executable, "-m", "bot.sandbox.emulator", "--port", str(port), "--token", TOKEN],
                log=workdir / "emulator.log")


def bot_env(emu_port: int, database: Path, sms_url: str) -> dict[str, str]:
    return {
        "QYZMET_TELEGRAM_TOKEN": TOKEN,
        "QYZMET_TELEGRAM_API_URL": f"http://127.0.0.1:{emu_port}/bot",
        "QYZMET_DATABASE": str(database),
        "QYZMET_SMS_GATEWAY_URL": sms_url,
        "QYZMET_SECRET_KEY": "bench-secret",
        "QYZMET_SWEEP_INTERVAL_SECONDS": "5",
        # Per-phone OTP limits stay as configured (every citizen has a distinct phone). The global SMS pace
        # (QYZMET_SMS_GLOBAL_PER_MINUTE, 120 by default) is lifted so that the figure is the bot's own
        # capacity; with the default pace, identifications are capped at 2 per second whatever the bot does.
        "QYZMET_SMS_GLOBAL_PER_MINUTE": "100000000",
    }


def start_bot(env: dict[str, str], workdir: Path, profile: Path | None = None) -> Proc:
    if profile is not None:
        # A session file: render it with `pyinstrument --load FILE` (text, html, pstats, flat: -p flat=true).
        argv = [sys.executable, "-m", "pyinstrument", "-i", "0.002", "-r", "pyisession",
                "-o", str(profile), "-m", "bot.cli", "run"]
    else:
        argv = [sys.executable, "-m", "bot.cli", "run"]
    return Proc("bot", argv, env=env, log=workdir / "bot.log")


def start_echo_bot(emu_port: int, workdir: Path) -> Proc:
    return Proc("echo", [sys.executable, "-m", "bench.echo_bot", f"http://127.0.0.1:{emu_port}/bot", TOKEN],
                log=workdir / "echo.log")


def run_seed(env: dict[str, str], seed_file: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "bot.cli", "seed", str(seed_file)], cwd=ROOT,
                         env={**os.environ, **env}, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"qyzmet seed failed: {out.stdout}\n{out.stderr}")


async def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while True:
            try:
                async with s.get(url) as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout}s")
            await asyncio.sleep(0.05)


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
