"""Operating the bot, end to end over real HTTP: GET /metrics after real flows (a citizen's own request, a
consent by SMS, a broadcast), parsed as Prometheus reads it; no label carries anything about a person; and
/health/live, /health/ready and /health while the database, polling and the outbox workers come and go."""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.core.broadcast import Audience
from store.sqlite_engine import AioConnection
from tests import engines
from tests.ophelp import add_subscribers, finished, until
from tests.repos import repos
from tests.sms_harness import CITIZENS, SEED, Chat, SmsHarness, W, ask_about, pushed_text

ERLAN = CITIZENS["Ерлан"]["phone"]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def sh(emu, database):
    harness = SmsHarness(emu, database, broadcast_poll_seconds=0.2,
                         broadcast_progress_seconds=0.5, health_db_timeout_seconds=1.0)
    await harness.start()
    yield harness
    await harness.close()


async def scrape(sh: SmsHarness) -> Samples:
    response = await sh.client.get(sh.base + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def label_values(samples: Samples) -> Iterator[tuple[str, str, str]]:
    for name, labels in samples:
        for key, label in labels:
            yield name, key, label


def personal_strings() -> list[str]:
    """Every way a seed citizen's IIN or phone could be written in a label."""
    found = []
    for citizen in SEED["citizens"]:
        found.append(citizen["iin"])
        if citizen["phone"]:
            digits = citizen["phone"].lstrip("+")
            found += [digits, digits[1:], "8" + digits[1:]]
    return found


async def ready(sh: SmsHarness, path: str = "/health/ready") -> tuple[int, dict]:
    response = await sh.client.get(sh.base + path)
    return response.status_code, response.json()


async def test_metrics_follow_a_citizen_a_consent_by_sms_and_a_broadcast(sh):
    start = await scrape(sh)

    # A citizen's own request: one command, three button presses, three messages (contact, IIN, code).
    citizen = Chat(sh, 1001, "ru")
    await citizen.start_in("ru")
    await citizen.press("Сведения о себе")
    await citizen.press("фтизиатрия")
    await citizen.identify("Сергей")
    assert any(m.protect_content for m in citizen.last), citizen.texts()
    own = await scrape(sh)
    assert moved(start, own, "qyzmet_telegram_updates_total", kind="command") == 1
    assert moved(start, own, "qyzmet_telegram_updates_total", kind="button") == 3
    assert moved(start, own, "qyzmet_telegram_updates_total", kind="message") == 3
    assert moved(start, own, "qyzmet_telegram_reply_seconds_count", kind="button") == 3
    assert moved(start, own, "qyzmet_telegram_reply_seconds_sum", kind="button") > 0
    sent_messages = len([m for m in sh.emu.history(citizen.user_id) if m.kind == "message"])
    assert moved(start, own, "qyzmet_telegram_api_calls_total", method="sendMessage", outcome="ok") >= sent_messages
    assert moved(start, own, "qyzmet_telegram_api_calls_total", method="answerCallbackQuery", outcome="ok") == 3
    assert moved(start, own, "qyzmet_telegram_api_calls_total", method="getUpdates", outcome="ok") >= 1
    assert value(own, "qyzmet_telegram_last_poll_timestamp_seconds") > 0
    assert moved(start, own, "qyzmet_otp_sent_total", purpose="identify") == 1
    assert moved(start, own, "qyzmet_sms_total", state="sent") == 1  # the code
    assert value(own, "qyzmet_outbox_depth", outbox="sms", state="queued") == 0

    # Consent by SMS reply: the sms way, not the code typed in the bot or the cabinet button.
    requester = Chat(sh, 3001, "ru")
    number = await ask_about(requester, "ru", "Ерлан")
    code = sh.phone.code(ERLAN)
    assert (await sh.sms_in(ERLAN, f"{W['ru']['yes']} {code}", "in-1")).status_code == 200
    assert number in pushed_text(sh, requester)[0]
    consent = await scrape(sh)
    assert moved(own, consent, "qyzmet_consent_outcomes_total", way="sms", outcome="given") == 1
    for way in ("otp", "cabinet", "timeout"):
        assert moved(own, consent, "qyzmet_consent_outcomes_total", way=way, outcome="given") == 0
    assert moved(own, consent, "qyzmet_otp_sent_total", purpose="consent") == 1
    assert moved(own, consent, "qyzmet_otp_lockouts_total", purpose="consent") == 0
    assert moved(own, consent, "qyzmet_refusals_total", ground="no_consent", note="declined") == 0

    # A broadcast to every subscriber, one of whom blocked the bot meanwhile (Telegram answers 403).
    await add_subscribers(sh, [5001, 5002, 5003], "kk")
    sh.emu.block(5003, notify=False)
    broadcast = await sh.services.broadcasts.create("deployer", "Хабарландыру", "Объявление", Audience("all"))
    await until(lambda: finished(sh, broadcast.id), what="broadcast done")
    after = await scrape(sh)
    assert moved(consent, after, "qyzmet_broadcast_messages_total", outcome="sent") == broadcast.total - 1
    assert moved(consent, after, "qyzmet_broadcast_messages_total", outcome="blocked") == 1
    assert moved(consent, after, "qyzmet_telegram_api_calls_total", method="sendMessage", outcome="403") >= 1

    # Nothing about a person in any label: no IIN, phone, user id, application number, code.
    personal = personal_strings()
    for name, key, label in label_values(after):
        assert not any(p in label for p in personal), (name, key, label)
        assert number not in label and code not in label, (name, key, label)
        if key != "le":  # histogram bucket bounds are the only numbers a label may hold, and 403 / 429
            assert not re.search(r"\d{4,}", label), (name, key, label)


async def test_outbox_depth_and_readiness_follow_the_workers_and_polling(sh):
    assert await ready(sh) == (200, {"status": "ready", "checks": {
        "database": True, "telegram_polling": True, "sms_worker": True, "telegram_worker": True,
        "broadcast_worker": True}})

    # The workers stop: what is owed waits, and the scrape shows how much and for how long.
    chat = Chat(sh, 1002, "ru")
    assert sh.bot is not None and sh.bot.worker is not None
    await sh.bot.worker.stop("sms", "telegram")
    past = sh.clock.now() - timedelta(seconds=120)
    async with sh.services.db.unit("test/owed"):
        await repos(sh.services).outbox.add(uuid.uuid4().hex, ERLAN, "Хабарлама", "notice", past)
        await repos(sh.services).telegram.add(chat.user_id, "messages", {"messages": [{"html": "Сәлем"}]}, past)
    samples = await scrape(sh)
    for outbox in ("sms", "telegram"):
        assert value(samples, "qyzmet_outbox_depth", outbox=outbox, state="queued") == 1
        assert value(samples, "qyzmet_outbox_oldest_due_age_seconds", outbox=outbox, state="queued") >= 120
        assert value(samples, "qyzmet_outbox_depth", outbox=outbox, state="sending") == 0
    status, body = await ready(sh)
    assert status == 503 and body["status"] == "not ready"
    assert body["not_ready"] == ["sms_worker", "telegram_worker"]
    assert (await ready(sh, "/health"))[0] == 503  # the container's HEALTHCHECK means readiness
    assert (await sh.client.get(sh.base + "/health/live")).status_code == 200

    # Started again: the owed rows go out, the depth is 0, and the process is ready.
    sh.bot.worker.start("sms", "telegram")
    await sh.delivered()
    await until(lambda: _queued_is_empty(sh), what="outboxes emptied")
    assert (await ready(sh))[0] == 200
    assert sh.emu.history(chat.user_id)[-1].plain_text == "Сәлем"

    # Polling stops: updates are no longer fetched, and readiness says so.
    assert sh.bot.application.updater is not None
    await sh.bot.application.updater.stop()
    status, body = await ready(sh)
    assert status == 503 and body["not_ready"] == ["telegram_polling"]
    assert (await sh.client.get(sh.base + "/health/live")).status_code == 200


async def _queued_is_empty(sh: SmsHarness) -> bool:
    samples = await scrape(sh)
    return all(value(samples, "qyzmet_outbox_depth", outbox=o, state="queued") == 0 for o in ("sms", "telegram"))


@pytest.mark.skipif(engines.on_postgres(), reason="SQLite-specific: swaps the SQLite reader connection for a "
                    "broken file and a file another process locks (PostgreSQL: the next test)")
async def test_readiness_while_the_database_is_broken_or_hangs(sh, tmp_path, caplog):
    db = sh.services.db
    assert (await ready(sh))[0] == 200
    good = db._reader  # the connection of the reads outside a unit of work that hop to a thread (readiness's)

    # A broken file: the database answers with an error.
    broken_path = tmp_path / "broken.sqlite3"
    broken_path.write_bytes(b"this is not a database" * 200)
    broken = await AioConnection.open(str(broken_path), "broken", lambda conn: None)
    db._reader = broken
    try:
        status, body = await ready(sh)
        assert status == 503 and body["not_ready"] == ["database"] and body["checks"]["database"] is False
        assert (await ready(sh, "/health"))[0] == 503
        assert (await sh.client.get(sh.base + "/health/live")).status_code == 200
        assert (await sh.client.get(sh.base + "/metrics")).status_code == 200  # counters are still served
    finally:
        db._reader = good
        await broken.close()
    # Every worker outlived the errors it met meanwhile (they read the same connection).
    assert (await ready(sh))[0] == 200

    # A database that hangs (another process holds an exclusive lock): not ready within the timeout.
    locked_path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(locked_path, isolation_level=None)
    holder.execute("CREATE TABLE schema_migrations (version INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    waiting = await AioConnection.open(str(locked_path), "waiting",
                                       lambda conn: conn.execute("PRAGMA busy_timeout=3000") and None)
    db._reader = waiting
    try:
        status, body = await ready(sh)
        assert status == 503 and body["not_ready"] == ["database"]
        assert "did not answer within 1.0 s" in caplog.text  # it waited for the lock, and gave up in time
        assert (await sh.client.get(sh.base + "/health/live")).status_code == 200
    finally:
        db._reader = good
        holder.execute("ROLLBACK")
        holder.close()
        await waiting.close()
    assert await ready(sh) == (200, {"status": "ready", "checks": {
        "database": True, "telegram_polling": True, "sms_worker": True, "telegram_worker": True,
        "broadcast_worker": True}})


@pytest.mark.skipif(not engines.on_postgres(), reason="PostgreSQL's own failures: a server that cuts and refuses "
                    "the bot's connections, a lock another session holds (SQLite: the test above)")
async def test_readiness_while_the_postgresql_database_is_down_or_hangs(sh, caplog):
    import asyncpg
    name = urlsplit(sh.settings.database).path.lstrip("/")
    assert (await ready(sh))[0] == 200
    admin = await asyncpg.connect(engines.ADMIN_URL)
    try:
        # The database goes away: every connection of the bot is cut and new ones are refused.
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
            status, body = await ready(sh)
            assert status == 503 and body["not_ready"] == ["database"] and body["checks"]["database"] is False
            assert (await ready(sh, "/health"))[0] == 503
            assert (await sh.client.get(sh.base + "/health/live")).status_code == 200
            assert (await sh.client.get(sh.base + "/metrics")).status_code == 200  # counters are still served
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        # Every worker outlived the errors it met meanwhile (the pool connects again).
        await until(lambda: _ready(sh), what="ready again")

        # A database that hangs (another session holds an exclusive lock): not ready within the timeout.
        holder = await asyncpg.connect(sh.settings.database)
        try:
            await holder.execute("BEGIN")
            await holder.execute("LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE")
            status, body = await ready(sh)
            assert status == 503 and body["not_ready"] == ["database"]
            assert "did not answer within 1.0 s" in caplog.text  # it waited for the lock, and gave up in time
            assert (await sh.client.get(sh.base + "/health/live")).status_code == 200
        finally:
            await holder.execute("ROLLBACK")  # the lock is released
            await holder.close()
    finally:
        await admin.close()
    assert await ready(sh) == (200, {"status": "ready", "checks": {
        "database": True, "telegram_polling": True, "sms_worker": True, "telegram_worker": True,
        "broadcast_worker": True}})


async def _ready(sh: SmsHarness) -> bool:
    return (await ready(sh))[0] == 200
