"""The processes of a deployment at scale, as a deployer runs them: `qyzmet migrate` once per rollout, then
`qyzmet web` replicas and `qyzmet worker`, which refuse a database that is not migrated (or is newer than
the code); the settings they need are named when missing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from bot.sandbox.emulator import BotApiEmulator
from store.db import utc_iso
from store.opening import open_database
from tests.integration.test_cli import qyzmet
from tests.integration.test_cli_ops import TOKEN, Proc, env_for, free_port, no_traceback

WEBHOOK_SECRET = "scale-test-secret"


def replica_env(database: str, **values: str) -> dict[str, str]:
    defaults = {"QYZMET_TELEGRAM_TOKEN": TOKEN, "QYZMET_SMS_GATEWAY": "print",
                "QYZMET_TELEGRAM_WEBHOOK_URL": "http://127.0.0.1:9/telegram",
                "QYZMET_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET}
    return env_for(database, **{**defaults, **values})


def test_migrate_twice_applies_then_applies_nothing(tmp_path, empty_database):
    empty = empty_database()
    first = qyzmet("migrate", cwd=tmp_path, env=env_for(empty))
    assert first.returncode == 0, first.stderr
    assert empty in first.stdout and "applied 001, 002" in first.stdout
    second = qyzmet("migrate", cwd=tmp_path, env=env_for(empty))
    assert second.returncode == 0, second.stderr
    assert "up to date: nothing to apply" in second.stdout
    no_traceback(first.stdout + first.stderr + second.stdout + second.stderr)


@pytest.mark.parametrize("command", ["web", "worker"])
def test_web_and_worker_refuse_a_database_that_is_not_migrated(tmp_path, empty_database, command):
    empty = empty_database()
    result = qyzmet(command, cwd=tmp_path, env=replica_env(empty))
    assert result.returncode == 2, result.stderr
    assert "QYZMET_DATABASE" in result.stderr and "qyzmet migrate" in result.stderr
    no_traceback(result.stdout + result.stderr)


async def test_migrate_web_and_worker_refuse_a_database_newer_than_the_code(tmp_path, empty_database):
    empty = empty_database()
    assert qyzmet("migrate", cwd=tmp_path, env=env_for(empty)).returncode == 0
    db = await open_database(empty)
    async with db.unit("test/newer"):  # as a newer version would have left it
        await db.write("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                       (999, utc_iso(datetime.now(UTC))))
    await db.close()
    for command, env in (("migrate", env_for(empty)), ("web", replica_env(empty)),
                         ("worker", replica_env(empty))):
        result = qyzmet(command, cwd=tmp_path, env=env)
        assert result.returncode == 2, (command, result.stderr)
        assert "999" in result.stderr and "newer version" in result.stderr, (command, result.stderr)
        no_traceback(result.stdout + result.stderr)


@pytest.mark.parametrize("command", ["migrate", "web", "worker", "run"])
def test_a_postgresql_database_needs_the_secret_key(tmp_path, command):
    env = replica_env("postgresql://qyzmet@127.0.0.1:9/qyzmet")
    del env["QYZMET_SECRET_KEY"]
    result = qyzmet(command, cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "QYZMET_SECRET_KEY is required" in result.stderr and "postgresql://" in result.stderr
    no_traceback(result.stdout + result.stderr)


def test_web_needs_the_webhook_and_the_webhook_needs_its_secret(tmp_path):
    database = str(tmp_path / "q.sqlite3")  # refused before the database is opened
    env = replica_env(database)
    del env["QYZMET_TELEGRAM_WEBHOOK_URL"]
    result = qyzmet("web", cwd=tmp_path, env=env)
    assert result.returncode == 2 and "QYZMET_TELEGRAM_WEBHOOK_URL is not set" in result.stderr
    env = replica_env(database, QYZMET_TELEGRAM_WEBHOOK_SECRET="")
    result = qyzmet("run", cwd=tmp_path, env=env)
    assert result.returncode == 2 and "QYZMET_TELEGRAM_WEBHOOK_SECRET is required" in result.stderr
    result = qyzmet("web", cwd=tmp_path, env=replica_env(database, QYZMET_TELEGRAM_WEBHOOK_SECRET="not allowed!"))
    assert result.returncode == 2 and "QYZMET_TELEGRAM_WEBHOOK_SECRET: must be" in result.stderr
    assert "not allowed!" not in result.stderr  # a secret is never shown back
    no_traceback(result.stdout + result.stderr)


async def test_a_rollout_migrate_then_a_worker_and_a_web_replica(tmp_path, empty_database):
    empty = empty_database()
    """The worker never asks Telegram for updates; the web replica sets the webhook and answers over it."""
    assert qyzmet("migrate", cwd=tmp_path, env=env_for(empty)).returncode == 0
    emu = BotApiEmulator(token=TOKEN, webhook_retry_seconds=0.05)
    await emu.start()
    emu.add_user(3001, "User3001", language_code="ru")
    web_port, worker_port = free_port(), free_port()
    common = {"QYZMET_TELEGRAM_API_URL": emu.base_url, "QYZMET_SWEEP_INTERVAL_SECONDS": "0.2",
              "QYZMET_TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{web_port}/telegram"}
    worker = await Proc.start("worker", cwd=tmp_path,
                              env=replica_env(empty, QYZMET_HTTP_PORT=str(worker_port), **common))
    web: Proc | None = None
    try:
        await worker.wait_for("bot is running")
        assert "no updates, workers" in worker.stderr
        await asyncio.sleep(0.5)  # a few sweeps: the worker's own loops run
        async with httpx.AsyncClient() as client:
            ready = (await client.get(f"http://127.0.0.1:{worker_port}/health/ready")).json()
            assert ready["status"] == "ready" and "telegram_polling" not in ready["checks"], ready
            assert ready["checks"]["sms_worker"] is True
            missing = await client.post(f"http://127.0.0.1:{worker_port}/sms/inbound", json={})
            assert missing.status_code == 404  # nobody posts to a worker
        calls = emu.stats["requests"]
        assert calls["getUpdates"] == calls["setWebhook"] == calls["deleteWebhook"] == 0, dict(calls)

        web = await Proc.start("web", cwd=tmp_path,
                               env=replica_env(empty, QYZMET_HTTP_PORT=str(web_port), **common))
        await web.wait_for("bot is running")
        assert "updates by webhook, no workers" in web.stderr
        assert emu.webhook_url == f"http://127.0.0.1:{web_port}/telegram" and emu.webhook_secret == WEBHOOK_SECRET
        await emu.send_command(3001, "/start")
        reply = await emu.next_message(3001, timeout=10)
        assert reply.reply_markup and "Русский" in str(reply.reply_markup)
        await emu.webhook_idle()
        assert emu.stats["requests"]["getUpdates"] == 0
    finally:
        codes = [await worker.terminate()]
        if web is not None:
            codes.append(await web.terminate())
        await emu.stop()
    assert codes == [0] * len(codes), worker.stderr + (web.stderr if web else "")
    no_traceback(worker.stdout + worker.stderr + (web.stdout + web.stderr if web else ""))
