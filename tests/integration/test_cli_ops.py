"""The command line as a deployer meets it: `qyzmet run` refuses what it cannot do (exit 2, a line or two that
name the variable, no secret), waits for Telegram, prints SMS when told to, and says which database it uses."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from bot import __version__
from bot.app.startup import database_label
from bot.sandbox.emulator import BotApiEmulator
from store.db import SchemaMismatch, utc_iso
from store.opening import open_database
from tests import engines
from tests.integration.test_cli import ROOT, SEED, db_env, qyzmet

# A token of the real shape, so that the generic token mask would catch it too; never printed.
TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


def env_for(database: str | Path, **values: str) -> dict[str, str]:
    return db_env(database, **values)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def no_traceback(output: str) -> None:
    assert "Traceback" not in output and "Logging error" not in output, output
    assert TOKEN not in output and TOKEN.split(":")[1] not in output, output


class Proc:
    """`qyzmet ARGS` as a child of this event loop (the emulator runs in the same loop), read as it writes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [asyncio.ensure_future(self._read(proc.stdout, self.out)),
                         asyncio.ensure_future(self._read(proc.stderr, self.err))]

    @classmethod
    async def start(cls, *args: str, cwd: Path, env: dict[str, str]) -> Proc:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("QYZMET_")}
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.app.cli", *args, cwd=cwd,
                                                    env={**clean, **env}, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        return cls(proc)

    @staticmethod
    async def _read(stream: asyncio.StreamReader | None, into: list[str]) -> None:
        assert stream is not None
        while line := await stream.readline():
            into.append(line.decode("utf-8", "replace"))

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    async def wait_for(self, text: str, where: str = "stderr", timeout: float = 30) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while text not in getattr(self, where):
            if self.proc.returncode is not None or loop.time() > deadline:
                raise AssertionError(f"{text!r} not in {where}:\n{self.stdout}\n{self.stderr}")
            await asyncio.sleep(0.05)

    async def finish(self, timeout: float = 30) -> int:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await asyncio.gather(*self._readers)
        return code

    async def terminate(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await self.finish()


# --- no silent loss of SMS ------------------------------------------------------------------------------


def test_run_without_an_sms_gateway_refuses_to_start(tmp_path, database):
    result = qyzmet("run", cwd=tmp_path, env=env_for(database, QYZMET_TELEGRAM_TOKEN=TOKEN))
    assert result.returncode == 2
    assert "QYZMET_SMS_GATEWAY_URL" in result.stderr and "QYZMET_SMS_GATEWAY=print" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
    no_traceback(result.stdout + result.stderr)


def test_run_refuses_print_and_a_gateway_url_together(tmp_path, database):
    result = qyzmet("run", cwd=tmp_path, env=env_for(database, QYZMET_TELEGRAM_TOKEN=TOKEN, QYZMET_SMS_GATEWAY="print",
                                                      QYZMET_SMS_GATEWAY_URL="http://127.0.0.1:9/sms"))
    assert result.returncode == 2 and "both set" in result.stderr


async def test_run_with_print_prints_every_sms_on_stdout_and_names_the_database(tmp_path, database):
    seeded = qyzmet("seed", str(SEED), cwd=tmp_path, env=env_for(database))
    assert seeded.returncode == 0, seeded.stderr
    emu = BotApiEmulator(token=TOKEN)
    await emu.start()
    port = free_port()
    run = await Proc.start("run", cwd=tmp_path, env=env_for(
        database, QYZMET_TELEGRAM_TOKEN=TOKEN, QYZMET_TELEGRAM_API_URL=emu.base_url,
        QYZMET_SMS_GATEWAY="print", QYZMET_HTTP_PORT=str(port), QYZMET_SWEEP_INTERVAL_SECONDS="0.2"))
    try:
        await run.wait_for("bot is running")
        assert f"database {database_label(database)}" in run.stderr  # the file's absolute path, or the URL
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"http://127.0.0.1:{port}/sms/inbound",
                                       json={"from": "+77011234567", "text": "HELP"})
        assert answer.status_code == 200
        await run.wait_for("to +77011234567: ", where="stdout")
        assert "1414" in run.stdout  # the text itself, in full
        await asyncio.sleep(0.6)  # a few sweeps of the job queue
    finally:
        code = await run.terminate()
        await emu.stop()
    assert code == 0, run.stderr
    assert "1414" not in run.stderr and "+77011234567" not in run.stderr  # printed on stdout; the log masks
    assert "apscheduler" not in run.stderr  # the scheduler's INFO lines on every sweep are quiet
    no_traceback(run.stdout + run.stderr)


# --- clear errors instead of tracebacks -----------------------------------------------------------------


@pytest.mark.parametrize("variable, value", [
    ("QYZMET_HTTP_PORT", "70000"), ("QYZMET_HTTP_PORT", "-1"), ("QYZMET_HTTP_PORT", "http"),
    ("QYZMET_OTP_TTL_SECONDS", "0"), ("QYZMET_OTP_TTL_SECONDS", "-300"), ("QYZMET_OTP_MAX_ATTEMPTS", "0"),
    ("QYZMET_CONSENT_TTL_SECONDS", "-1"), ("QYZMET_TELEGRAM_RATE", "0"), ("QYZMET_BROADCAST_RATE", "-5"),
    ("QYZMET_SMS_GLOBAL_PER_MINUTE", "0"), ("QYZMET_SMS_MAX_ATTEMPTS", "0"), ("QYZMET_SWEEP_INTERVAL_SECONDS", "0"),
    ("QYZMET_SMS_GATEWAY_TIMEOUT_SECONDS", "0"), ("QYZMET_BROADCAST_CONCURRENCY", "0"),
    ("QYZMET_LOG_FORMAT", "xml"), ("QYZMET_SMS_GATEWAY", "smtp"), ("QYZMET_SMS_GATEWAY_URL", "gateway.example"),
    ("QYZMET_TELEGRAM_START_WAIT_SECONDS", "-1"),
])
def test_a_bad_setting_is_one_line_naming_the_variable(tmp_path, database, variable, value):
    result = qyzmet("run", cwd=tmp_path, env=env_for(database, **{"QYZMET_TELEGRAM_TOKEN": TOKEN,
                                                                   "QYZMET_SMS_GATEWAY": "print", variable: value}))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{variable}: "), result.stderr
    no_traceback(result.stdout + result.stderr)


def test_settings_that_contradict_each_other_are_named(tmp_path, database):
    result = qyzmet("run", cwd=tmp_path, env=env_for(
        database, QYZMET_TELEGRAM_TOKEN=TOKEN, QYZMET_SMS_GATEWAY="print", QYZMET_SMS_BACKOFF_BASE_SECONDS="60",
        QYZMET_SMS_BACKOFF_MAX_SECONDS="10"))
    assert result.returncode == 2
    assert "QYZMET_SMS_BACKOFF_MAX_SECONDS" in result.stderr and "QYZMET_SMS_BACKOFF_BASE_SECONDS" in result.stderr


async def test_every_command_checks_the_settings(tmp_path, empty_database):
    empty = empty_database()
    result = qyzmet("seed", str(SEED), cwd=tmp_path, env=env_for(empty, QYZMET_OTP_TTL_SECONDS="-1"))
    assert result.returncode == 2 and result.stderr.startswith("QYZMET_OTP_TTL_SECONDS: ")
    with pytest.raises(SchemaMismatch, match="lacks migrations 1, "):  # the command did not even migrate it
        await open_database(empty, migrate=False)


def test_an_unusable_sqlite_file_or_calendar_file_is_named(tmp_path, database):
    (tmp_path / "folder.sqlite3").mkdir()  # SQLite-specific: a folder where the file should be
    result = qyzmet("run", cwd=tmp_path, env=env_for(database, QYZMET_TELEGRAM_TOKEN=TOKEN, QYZMET_SMS_GATEWAY="print",
                                                      QYZMET_DATABASE="folder.sqlite3"))
    assert result.returncode == 2 and "QYZMET_DATABASE: cannot open" in result.stderr
    no_traceback(result.stdout + result.stderr)
    (tmp_path / "cal.json").write_text("{", encoding="utf-8")
    result = qyzmet("run", cwd=tmp_path, env=env_for(database, QYZMET_TELEGRAM_TOKEN=TOKEN, QYZMET_SMS_GATEWAY="print",
                                                      QYZMET_CALENDAR_OVERRIDES="cal.json"))
    assert result.returncode == 2 and result.stderr.startswith("QYZMET_CALENDAR_OVERRIDES: ")
    no_traceback(result.stdout + result.stderr)


def test_a_postgresql_database_needs_a_secret_key(tmp_path):
    from bot.config import ConfigError, load_settings
    url = "postgresql://qyzmet:s3cret@127.0.0.1:1/qyzmet"
    with pytest.raises(ConfigError) as refused:
        load_settings(_env_file=None, database=url)
    assert "QYZMET_SECRET_KEY is required" in str(refused.value) and "s3cret" not in str(refused.value)
    settings = load_settings(_env_file=None, database=url, secret_key="k")
    assert settings.uses_postgres() and "s3cret" in settings.secret_values()  # the logs mask it
    assert not load_settings(_env_file=None, database=str(tmp_path / "q.sqlite3")).uses_postgres()  # a key file
    env = env_for(url)
    del env["QYZMET_SECRET_KEY"]
    result = qyzmet("seed", str(SEED), cwd=tmp_path, env=env)
    assert result.returncode == 2 and result.stderr.startswith("QYZMET_SECRET_KEY is required"), result.stderr
    assert "s3cret" not in result.stderr
    no_traceback(result.stdout + result.stderr)


@pytest.mark.parametrize("command", [("seed", str(SEED)), ("run",), ("operators", "list")])
def test_a_postgresql_server_that_cannot_be_reached_is_named_without_its_password(tmp_path, command):
    url = f"postgresql://qyzmet:s3cret@127.0.0.1:{free_port()}/qyzmet"
    result = qyzmet(*command, cwd=tmp_path, env=env_for(url, QYZMET_TELEGRAM_TOKEN=TOKEN, QYZMET_SMS_GATEWAY="print"))
    assert result.returncode == 2, result.stderr
    problem = [line for line in result.stderr.splitlines() if line.startswith("QYZMET_DATABASE: ")]
    assert problem and problem[0].startswith(
        f"QYZMET_DATABASE: cannot connect to {url.replace('s3cret', '***')}: "), result.stderr
    assert "s3cret" not in result.stdout + result.stderr
    no_traceback(result.stdout + result.stderr)


@pytest.mark.skipif(not engines.on_postgres(), reason="needs the suite's PostgreSQL server")
def test_a_postgresql_database_that_does_not_exist_is_named(tmp_path):
    parts = urlsplit(engines.ADMIN_URL)
    url = urlunsplit(parts._replace(netloc=f"{parts.username}:s3cret@{parts.hostname}:{parts.port}",
                                    path="/no_such_database"))
    result = qyzmet("seed", str(SEED), cwd=tmp_path, env=env_for(url))
    assert result.returncode == 2, result.stderr
    assert f"\nQYZMET_DATABASE: cannot connect to {database_label(url)}: " in result.stderr
    assert "no_such_database" in result.stderr and "does not exist" in result.stderr
    assert "s3cret" not in result.stdout + result.stderr
    no_traceback(result.stdout + result.stderr)


async def test_a_database_of_a_newer_version_is_refused_plainly(tmp_path, database):
    db = await open_database(database)
    async with db.unit("test/future"):
        await db.write("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                       (999, utc_iso(datetime.now(UTC))))
    await db.close()
    result = qyzmet("seed", str(SEED), cwd=tmp_path, env=env_for(database))
    assert result.returncode == 2
    problem = result.stderr.splitlines()[-1]
    assert problem.startswith(f"QYZMET_DATABASE: cannot use {database_label(database)}: ") and "999" in problem
    assert "newer version" in problem
    no_traceback(result.stdout + result.stderr)


async def test_a_wrong_token_is_one_line_and_never_printed(tmp_path, database):
    emu = BotApiEmulator(token="111:THE-RIGHT-TOKEN")
    await emu.start()
    try:
        run = await Proc.start("run", cwd=tmp_path, env=env_for(
            database, QYZMET_TELEGRAM_TOKEN=TOKEN, QYZMET_TELEGRAM_API_URL=emu.base_url, QYZMET_SMS_GATEWAY="print",
            QYZMET_HTTP_PORT=str(free_port())))
        code = await run.finish()
    finally:
        await emu.stop()
    assert code == 2
    problem = [line for line in run.err if "QYZMET_TELEGRAM_TOKEN" in line]
    assert problem and "rejected" in problem[0]
    assert len(run.err) <= 3  # the database line, the problem, what to do
    no_traceback(run.stdout + run.stderr)


async def test_unreachable_telegram_is_retried_then_given_up_plainly(tmp_path, database):
    closed = free_port()
    run = await Proc.start("run", cwd=tmp_path, env=env_for(
        database, QYZMET_TELEGRAM_TOKEN=TOKEN, QYZMET_TELEGRAM_API_URL=f"http://127.0.0.1:{closed}/bot",
        QYZMET_SMS_GATEWAY="print", QYZMET_TELEGRAM_START_WAIT_SECONDS="2.5", QYZMET_HTTP_PORT=str(free_port())))
    code = await run.finish()
    assert code == 2
    assert run.stderr.count("Telegram is not reachable") >= 2 and "trying again in" in run.stderr
    assert "QYZMET_TELEGRAM_START_WAIT_SECONDS" in run.err[-1]
    assert len(run.err) < 10
    no_traceback(run.stdout + run.stderr)


async def test_sigterm_while_waiting_for_telegram_stops_quietly(tmp_path, database):
    closed = free_port()
    run = await Proc.start("run", cwd=tmp_path, env=env_for(
        database, QYZMET_TELEGRAM_TOKEN=TOKEN, QYZMET_TELEGRAM_API_URL=f"http://127.0.0.1:{closed}/bot",
        QYZMET_SMS_GATEWAY="print", QYZMET_HTTP_PORT=str(free_port())))
    await run.wait_for("trying again")
    assert await run.terminate() == 0
    no_traceback(run.stdout + run.stderr)


async def test_a_port_in_use_is_named(tmp_path, database):
    emu = BotApiEmulator(token=TOKEN)
    await emu.start()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        try:
            run = await Proc.start("run", cwd=tmp_path, env=env_for(
                database, QYZMET_TELEGRAM_TOKEN=TOKEN, QYZMET_TELEGRAM_API_URL=emu.base_url,
                QYZMET_SMS_GATEWAY="print", QYZMET_HTTP_PORT=str(taken.getsockname()[1])))
            code = await run.finish()
        finally:
            await emu.stop()
    assert code == 2 and "QYZMET_HTTP_PORT" in run.stderr
    no_traceback(run.stdout + run.stderr)


# --- which database, version, help ---------------------------------------------------------------------


def test_seed_and_import_name_the_absolute_database_path(tmp_path):
    env = env_for("var/rel.sqlite3")  # SQLite-specific: a relative file path
    absolute = str(tmp_path / "var" / "rel.sqlite3")
    seeded = qyzmet("seed", str(SEED), cwd=tmp_path, env=env)
    assert seeded.returncode == 0 and absolute in seeded.stderr and absolute in seeded.stdout
    (tmp_path / "events.jsonl").write_text("", encoding="utf-8")
    imported = qyzmet("import", "events.jsonl", cwd=tmp_path, env=env)
    assert imported.returncode == 0 and absolute in imported.stderr


def test_a_database_url_is_named_without_its_password():
    from bot.app.startup import database_label
    assert database_label("postgresql://qyzmet:s3cret@db.example:5432/qyzmet") == \
        "postgresql://qyzmet:***@db.example:5432/qyzmet"
    assert database_label("postgresql://qyzmet@db.example/qyzmet?password=s3cret&sslmode=require") == \
        "postgresql://qyzmet@db.example/qyzmet?password=***&sslmode=require"
    assert database_label("postgresql://qyzmet@db.example/qyzmet") == "postgresql://qyzmet@db.example/qyzmet"
    assert database_label(":memory:") == ":memory:"


def test_version():
    result = qyzmet("--version", cwd=ROOT)
    assert result.returncode == 0 and result.stdout.strip() == f"qyzmet {__version__}"


@pytest.mark.parametrize("command, words", [
    ("seed", ("citizens", "registry", "applications", "events", "README")),
    ("import", ("JSON-lines", "at", "README")),
    ("backup", ("Restore", "README")),
    ("run", ("QYZMET_TELEGRAM_TOKEN", "QYZMET_SMS_GATEWAY_URL", "README")),
])
def test_help_names_the_file_formats_and_the_readme(command, words):
    result = qyzmet(command, "--help", cwd=ROOT)
    assert result.returncode == 0
    for word in words:
        assert word in result.stdout, (word, result.stdout)


@pytest.mark.parametrize("command", ["run", "worker"])
def test_off_loopback_the_public_url_is_required(tmp_path, database, command):
    """Certificates and share links name QYZMET_PUBLIC_URL: off loopback, without it they would carry
    http://0.0.0.0:8080 (the deployment review's D8)."""
    env = env_for(database, QYZMET_TELEGRAM_TOKEN=TOKEN, QYZMET_SMS_GATEWAY="print", QYZMET_HTTP_HOST="0.0.0.0",
                  QYZMET_SMS_SECRET="s3cret")
    result = qyzmet(command, cwd=tmp_path, env=env)
    assert result.returncode == 2 and result.stderr.startswith("QYZMET_PUBLIC_URL is not set"), result.stderr
    no_traceback(result.stdout + result.stderr)


SECRETS = {
    "QYZMET_SMS_SECRET": "sms-Secret-8d1f27", "QYZMET_SECRET_KEY": "key-Secret-4b9e11",
    "QYZMET_FEED_TOKEN": "feed-Secret-77aa01", "QYZMET_STATE_TOKEN": "state-Secret-c0ffee",
    "QYZMET_TELEGRAM_WEBHOOK_SECRET": "hook-Secret-5150ab",
}
MALFORMED = [  # one wrong or contradictory setting each, every secret set beside it
    {"QYZMET_HTTP_PORT": "70000"}, {"QYZMET_OTP_TTL_SECONDS": "-1"}, {"QYZMET_LOG_FORMAT": "xml"},
    {"QYZMET_SMS_GATEWAY_URL": "gateway.example"}, {"QYZMET_TELEGRAM_API_URL": "ftp://x"},
    {"QYZMET_REDIS_URL": "http://:redis-Secret-99@r:6379"}, {"QYZMET_PUBLIC_URL": "qyzmet.example.kz"},
    {"QYZMET_TRUSTED_PROXIES": "nginx"}, {"QYZMET_OPERATORS": "12,abc"},
    {"QYZMET_TELEGRAM_WEBHOOK_URL": "https://bot.example.kz/t", "QYZMET_TELEGRAM_WEBHOOK_SECRET": "bad secret!"},
    {"QYZMET_SIGNING_KEY": "-----BEGIN PRIVATE KEY-----\nsigning-Secret-0x1\n-----END PRIVATE KEY-----"},
    {"QYZMET_SIGNING_CERT": "/no/such/cert.pem"},
    {"QYZMET_SMS_BACKOFF_BASE_SECONDS": "60", "QYZMET_SMS_BACKOFF_MAX_SECONDS": "10"},
    {"QYZMET_STATE_CLIENT_KEY": "/no/such/key.pem"}, {"QYZMET_DIRECTORY_URL": "directory"},
    {"QYZMET_DATABASE": "postgresql://qyzmet:db-Secret/x+y==@127.0.0.1:1/qyzmet"},
    {"QYZMET_DATABASE": "postgresql://qyzmet:db-Secret@q@127.0.0.1:1/qyzmet"},
    {"QYZMET_CALENDAR_OVERRIDES": "/no/such/calendar.json"}, {"QYZMET_HTTP_HOST": "0.0.0.0"},
    {"QYZMET_TELEGRAM_TOKEN": ""},
]


@pytest.mark.parametrize("bad", MALFORMED, ids=[",".join(b)[7:40] for b in MALFORMED])
def test_no_secret_in_any_output_of_a_malformed_configuration(tmp_path, database, bad):
    """Twenty wrong configurations, each refused (or started and stopped) without printing a secret: the
    token, the shared secrets, a database or Redis password, a signing key given as PEM text."""
    env = env_for(database, QYZMET_TELEGRAM_TOKEN=TOKEN, QYZMET_SMS_GATEWAY="print",
                  QYZMET_TELEGRAM_START_WAIT_SECONDS="0.5", QYZMET_TELEGRAM_API_URL="http://127.0.0.1:9/bot",
                  **SECRETS)
    env.update(bad)
    result = qyzmet("run", cwd=tmp_path, env=env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    no_traceback(output)
    for value in (*SECRETS.values(), "redis-Secret-99", "signing-Secret-0x1", "db-Secret/x+y==", "db-Secret@q"):
        assert value not in output, (value, output)


@pytest.mark.parametrize(("bad", "says"), [
    ({"QYZMET_TELEGRAM_API_URL": "http://127.0.0.1:9"}, "QYZMET_TELEGRAM_API_URL: must end with /bot"),
    ({"QYZMET_TELEGRAM_TOKEN": "abc-Secret-Token"}, "QYZMET_TELEGRAM_TOKEN: is not a bot token"),
    ({"QYZMET_SMS_GATEWAY": None, "QYZMET_SMS_GATEWAY_URL": "http://"}, "QYZMET_SMS_GATEWAY_URL: has no host"),
    ({"QYZMET_DIRECTORY_URL": "http://directory:port/"}, "QYZMET_DIRECTORY_URL: is not a valid URL"),
])
def test_a_malformed_url_or_token_is_a_configuration_error_at_start_not_a_network_one(tmp_path, database, bad,
                                                                                       says):
    """Refused at once with exit code 2 and what to do, instead of "Telegram is not reachable" retried for ever;
    the token as typed is never shown."""
    env = env_for(database, QYZMET_TELEGRAM_TOKEN=TOKEN, QYZMET_SMS_GATEWAY="print",
                  QYZMET_TELEGRAM_API_URL="http://127.0.0.1:9/bot")
    for name, value in bad.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    result = qyzmet("run", cwd=tmp_path, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert says in output, output
    assert "abc-Secret-Token" not in output and "not reachable" not in output
    no_traceback(output)
