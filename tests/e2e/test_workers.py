"""Several workers over one database (README, "Running at scale"): what the bot owes people — Telegram notices, SMS,
a broadcast — leaves exactly once while two workers look for it at the same time, and rows a worker claimed
before it died are taken over by another once their lease has run out.

The cluster (tests/cluster.py) is two web replicas behind one URL and two workers, each on Services of its own, in
this test process; the crash tests run a worker as a real `python -m bot.app.cli worker` process killed at a commit
point (QYZMET_CRASH_AT, bot/faults.py). Telegram is the project's emulator and the SMS gateway a fake one, both
over HTTP: the counts below are what they received.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.core.broadcast import Audience
from bot.core.outbox_worker import CLAIM_BATCH
from bot.core.seed import Seed
from bot.faults import EXIT_CODE
from bot.i18n import Texts
from bot.sandbox.emulator import BotApiEmulator
from bot.services import Services
from tests import engines
from tests.cluster import FAST_WORKERS, Cluster, metric, running_cluster
from tests.e2e.test_notices import identified
from tests.harness import CITIZENS, SEED, TOKEN, Chat
from tests.ophelp import add_subscribers, broadcast_state, finished, until
from tests.repos import repos
from tests.sms_harness import FakeGateway, SmsHarness, eventually
from tests.webhook_harness import WebhookHarness, free_port

TEXTS = Texts.load()
NOTICE_CHATS = list(range(6101, 6131))  # 30 people linked to the bot, a status notice each
KK_SUBSCRIBERS = list(range(6201, 6206))  # subscribers who get only the broadcast
OPERATOR = 6301  # the broadcast's progress and final report go to this chat
LINKED_CHAT = 6302  # a bot user who verified a seeded citizen's IIN: that citizen's notice goes to this chat
SMS_PHONES = [f"+7700555{n:04d}" for n in range(16)]  # SMS notices to phones without the bot
BROADCAST = {"kk": "Ертең қабылдау 10:00-де басталады.", "ru": "Завтра приём начнётся в 10:00."}
KEY = "crash-test-key"
LEASE_SECONDS = 1.0  # a Telegram envelope's lease (an SMS's: twice the gateway timeout + 1 s)
ROOT = Path(__file__).resolve().parents[2]


def number(uid: int) -> str:
    return f"QZ-261124-{uid:07d}"


def status_params(application: str) -> dict[str, Any]:
    return {"number": application, "status": {"text": "status.in_progress"},
            "service": {"text": "service.sanatorium_conclusion.short"}, "due": {"when": "2026-11-25T13:30:00+00:00"}}


async def owe_notices(services: Services, chats: list[int], phones: list[str], by_iin: bool = True,
                      linked: tuple[str, ...] = ()) -> None:
    """One unit of work, as a status feed import would write it: a notice to each chat (in Telegram), one to each
    seeded citizen with a phone (``by_iin``: in Telegram for those whose IIN a bot user verified, ``linked``; by SMS
    for the others), and an SMS notice to each of ``phones``."""
    async with services.db.unit("test/notices"):
        for uid in chats:
            assert await services.notices.notify("notice.app_status", status_params(number(uid)), user_id=uid) \
                == "telegram"
        for citizen in CITIZENS.values():
            if by_iin and citizen.get("phone"):
                route = await services.notices.notify("notice.app_status", status_params(f"QZ-{citizen['iin']}"),
                                                      iin=citizen["iin"])
                assert route == ("telegram" if citizen["iin"] in linked else "sms"), citizen["full_name"]
        for phone in phones:
            await services.sms.send(phone, f"Qyzmet: хабарлама {phone[-4:]}", kind="notice")


async def outboxes_settled(services: Services) -> bool:
    """Nothing queued or being sent in either outbox."""
    return not await services.db.fetchval(
        "SELECT (SELECT count(*) FROM telegram_outbox WHERE status IN ('queued', 'sending')) "
        "+ (SELECT count(*) FROM sms_outbox WHERE status IN ('queued', 'sending'))")


async def telegram_rows(services: Services, kind: str = "notice") -> Counter[tuple[str, int]]:
    """(status, attempts) of every Telegram outbox row of ``kind`` (the notices: a turn's replies are the web
    replica's own)."""
    rows = await services.db.fetchall("SELECT status, attempts FROM telegram_outbox WHERE kind = ?", (kind,))
    return Counter((r[0], r[1]) for r in rows)


async def sms_rows(services: Services) -> dict[str, tuple[str, str, str, int]]:
    """id -> (phone, text, status, attempts) of every SMS outbox row."""
    rows = await services.db.fetchall("SELECT id, to_phone, text, status, attempts FROM sms_outbox")
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def sent_texts(emu: BotApiEmulator, chat_id: int) -> list[str]:
    """Every new message (not edits) the chat received, in order."""
    return [m.plain_text or m.text or "" for m in emu.history(chat_id) if m.kind == "message"]


def notices_in(emu: BotApiEmulator, chat_id: int) -> list[str]:
    return [text for text in sent_texts(emu, chat_id) if number(chat_id) in text]


def gateway_got(gateway: FakeGateway) -> Counter[str]:
    """How many times the gateway accepted each SMS id."""
    return Counter(request["id"] for request in gateway.accepted())


async def workers_state(cluster: Cluster, broadcast_id: int) -> str:
    """What a wait for the broadcast found: its counts, and what each worker's broadcast sender was doing."""
    senders = []
    for worker in cluster.workers:
        assert worker.services is not None
        b = worker.services.broadcasts
        senders.append(f"running={b.job.running} holder={b.holding} "
                       f"sent={await metric(worker, 'qyzmet_broadcast_messages_total', outcome='sent')}")
    return f"{await broadcast_state(cluster.web[0], broadcast_id)}; senders: {senders}"


# Two workers at once ------------------------------------------------------------------------------------------

@pytest.fixture
async def cluster(emu: BotApiEmulator, database: str) -> AsyncIterator[Cluster]:
    """Workers that poll often, with a short Telegram lease: a batch of envelopes takes longer to deliver than the
    lease, so a worker that did not keep its lease would see the other one take its envelopes over and send them
    too."""
    async with running_cluster(emu, database, telegram_lease_seconds=LEASE_SECONDS, **FAST_WORKERS) as running:
        yield running


async def test_a_notice_an_sms_and_a_broadcast_each_leave_once_with_two_workers_polling_at_once(cluster, emu):
    """Written on a web replica (no worker is woken by that commit: both find the rows by polling, at the same
    time): 31 Telegram notices to 31 chats (one of them found by the IIN its user verified through the replicas),
    19 SMS notices, and a broadcast to 36 subscribers with its report in the operator's chat. Each message reaches
    Telegram or the gateway exactly once; both workers took part."""
    emu.latency = 0.12  # Telegram takes a moment to answer: one worker's sends overlap the other's polls, and a
    # batch of 10 envelopes takes longer than the 1 s lease to deliver
    cluster.gateway.delay = 0.01  # and so does the SMS gateway
    first = cluster.web[0]
    services = first.services
    assert services is not None
    linked = CITIZENS["Айгерім"]
    await identified(first, LINKED_CHAT, "ru", "Айгерім")  # through the two replicas (the code by SMS)
    await add_subscribers(first, NOTICE_CHATS, "ru")
    await add_subscribers(first, KK_SUBSCRIBERS, "kk")
    emu.add_user(OPERATOR, first_name="Operator", language_code="kk")
    codes = set((await sms_rows(services)).keys())  # sent by the replicas, before the workers' share

    await owe_notices(services, NOTICE_CHATS, SMS_PHONES, linked=(linked["iin"],))
    broadcast = await services.broadcasts.create("cli", BROADCAST["kk"], BROADCAST["ru"], Audience("all"),
                                                 report_chat_id=OPERATOR)
    assert broadcast.total == len(NOTICE_CHATS) + len(KK_SUBSCRIBERS) + 1

    await until(lambda: outboxes_settled(services), timeout=20, what="both outboxes settled")
    await until(lambda: finished(first, broadcast.id), timeout=20, what="the broadcast finished",
                state=lambda: workers_state(cluster, broadcast.id))
    done = TEXTS("kk", "op.bc.done", id=broadcast.id, sent=broadcast.total, failed=0, blocked=0, skipped=0,
                 unknown=0, total=broadcast.total)
    await eventually(lambda: done in sent_texts(emu, OPERATOR), timeout=10)  # the final report
    # What each worker did, as it counted it itself (its own /metrics), before they stop.
    by_worker = [{"envelopes": await metric(w, "qyzmet_telegram_envelopes_total", outcome="sent"),
                  "sms": await metric(w, "qyzmet_sms_total", state="sent"),
                  "broadcast": await metric(w, "qyzmet_broadcast_messages_total", outcome="sent")}
                 for w in cluster.workers]
    await cluster.stop_workers()  # whatever a worker still had in hand has gone out (or not) by now

    # Telegram: each chat got its notice once and the broadcast once, in its language; nothing else.
    for uid in NOTICE_CHATS:
        assert len(notices_in(emu, uid)) == 1, (uid, sent_texts(emu, uid))
        assert Counter(sent_texts(emu, uid)) == Counter([*notices_in(emu, uid), BROADCAST["ru"]]), uid
    for uid in KK_SUBSCRIBERS:
        assert sent_texts(emu, uid) == [BROADCAST["kk"]], uid
    in_linked_chat = sent_texts(emu, LINKED_CHAT)
    assert len([t for t in in_linked_chat if f"QZ-{linked['iin']}" in t]) == 1, in_linked_chat
    assert in_linked_chat.count(BROADCAST["ru"]) == 1, in_linked_chat
    started = TEXTS("kk", "op.bc.started", id=broadcast.id, count=broadcast.total)
    assert sent_texts(emu, OPERATOR) == [started, done]  # one progress message (edited in place), one report
    assert await telegram_rows(services) == {("sent", 1): len(NOTICE_CHATS) + 1}
    assert await services.broadcasts.counts(broadcast.id) == {
        "queued": 0, "sending": 0, "sent": broadcast.total, "failed": 0, "blocked": 0, "skipped": 0, "unknown": 0}

    # SMS: the gateway accepted each message of the outbox once, under its id, with its text.
    owed = await sms_rows(services)
    assert len(owed) - len(codes) == len(SMS_PHONES) + sum(1 for c in CITIZENS.values() if c.get("phone")) - 1
    assert gateway_got(cluster.gateway) == Counter(owed.keys())
    assert {(r["id"], r["to"], r["text"]) for r in cluster.gateway.accepted()} == {
        (sms_id, phone, text) for sms_id, (phone, text, _, _) in owed.items()}
    assert {(status, attempts) for _, _, status, attempts in owed.values()} == {("sent", 1)}

    # Both workers delivered notices and SMS; the broadcast had one sender (one at a time across processes).
    assert sum(w["envelopes"] for w in by_worker) == len(NOTICE_CHATS) + 1
    assert all(w["envelopes"] > 0 for w in by_worker), by_worker
    assert sum(w["sms"] for w in by_worker) == len(owed) - len(codes)
    assert all(w["sms"] > 0 for w in by_worker), by_worker
    assert sorted(w["broadcast"] for w in by_worker) == [0, broadcast.total], by_worker


async def test_a_worker_stopped_while_a_message_is_on_its_way_settles_it_before_it_ends(cluster, emu):
    """A stop signal (a rolling restart) while a worker waits for Telegram's answer: the worker lets that delivery
    finish and settles it, puts the rest of its batch back in the queue, and ends; the worker that takes over
    sends the rest, and nothing twice."""
    emu.latency = 0.5  # Telegram answers slowly: the stop comes while the first message is on its way
    chats = NOTICE_CHATS[:3]
    first = cluster.web[0]
    services = first.services
    assert services is not None
    await add_subscribers(first, chats, "ru")
    await owe_notices(services, chats, [], by_iin=False)
    await eventually(lambda: emu.stats["requests"]["sendMessage"] >= 1)  # Telegram has a request
    await cluster.stop_workers()
    rows = await telegram_rows(services)
    assert set(rows) <= {("sent", 1), ("queued", 0)} and rows[("sent", 1)] >= 1, rows  # nothing left 'sending'
    assert sum(len(sent_texts(emu, uid)) for uid in chats) == rows[("sent", 1)]
    restarted = cluster.workers[0]
    await restarted.start()  # the rolling restart: a worker of the new version takes the queue over
    await until(lambda: outboxes_settled(services), what="the outbox settled")
    await restarted.stop()
    for uid in chats:
        assert len(sent_texts(emu, uid)) == 1 and len(notices_in(emu, uid)) == 1, sent_texts(emu, uid)


# A worker killed with claimed rows --------------------------------------------------------------------------

class WorkerProcess:
    """`python -m bot.app.cli worker` on ``database``, against the emulator and the fake gateway, its leases short."""

    def __init__(self, emu: BotApiEmulator, gateway: FakeGateway, database: str) -> None:
        self.emu, self.gateway, self.database = emu, gateway, database
        self.proc: asyncio.subprocess.Process | None = None

    def env(self, crash_at: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QYZMET_")}
        env.update({
            "QYZMET_DATABASE": self.database, "QYZMET_SECRET_KEY": KEY, "QYZMET_TELEGRAM_TOKEN": TOKEN,
            "QYZMET_TELEGRAM_API_URL": self.emu.base_url, "QYZMET_HTTP_PORT": str(free_port()),
            "QYZMET_SMS_GATEWAY_URL": self.gateway.url, "QYZMET_SWEEP_INTERVAL_SECONDS": "3600",
            # Short leases on what it claims (LEASE_SECONDS).
            "QYZMET_TELEGRAM_LEASE_SECONDS": str(LEASE_SECONDS), "QYZMET_SMS_GATEWAY_TIMEOUT_SECONDS": "0.25",
            "QYZMET_CRASH_AT": crash_at,
        })
        return env

    async def run_until_crash(self, crash_at: str) -> None:
        """Start it; it must die at ``crash_at`` (exit code 70) before it sends anything."""
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.app.cli", "worker", env=self.env(crash_at), cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            code = await asyncio.wait_for(self.proc.wait(), 30)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        assert self.proc.stderr is not None
        err = (await self.proc.stderr.read()).decode(errors="replace")[-3000:]
        assert code == EXIT_CODE, f"exit {code}: {err}"
        assert f"crash point reached: {crash_at}" in err, err




async def open_store(database: str) -> Services:
    return await Services.open(Settings(database=database, secret_key=KEY, _env_file=None))


async def rows_of(services: Services, table: str) -> dict[Any, tuple[str, float | None]]:
    """id -> (status, lease_until) of every row of an outbox."""
    rows = await services.db.fetchall(f"SELECT id, status, lease_until FROM {table}")
    return {r[0]: (r[1], r[2]) for r in rows}


@pytest.mark.parametrize("outbox", ["telegram", "sms"])
async def test_a_worker_killed_with_claimed_rows_leaves_them_to_another_after_the_lease(emu, database, outbox):
    """A real worker process claims rows and dies right after the claim's commit (QYZMET_CRASH_AT
    after_commit:telegram/claim, or sms/claim), before sending anything: the rows it claimed stay 'sending' under
    its lease, the others queued. A second worker sends the queued ones at once and the claimed ones only once
    their lease has run out — each message exactly once."""
    gateway = FakeGateway()
    await gateway.start()
    store = await open_store(database)
    second: WebhookHarness | None = None
    try:
        await store.load_seed(Seed.model_validate(SEED))
        chats = NOTICE_CHATS if outbox == "telegram" else []
        phones = SMS_PHONES[:10] if outbox == "sms" else []
        async with store.db.unit("test/people"):
            for uid in chats:
                await repos(store).users.set_language(uid, "ru", store.clock.now())
        for uid in chats:
            emu.add_user(uid, first_name=f"S{uid}", language_code="ru")
        await owe_notices(store, chats, phones, by_iin=False)

        await WorkerProcess(emu, gateway, database).run_until_crash(f"after_commit:{outbox}/claim")

        # What the dead worker left: its claim, committed, under its lease; the rest queued; nothing sent.
        table = f"{outbox}_outbox"
        left = await rows_of(store, table)
        claimed = {row_id: until for row_id, (status, until) in left.items() if status == "sending"}
        assert len(claimed) == (CLAIM_BATCH if outbox == "telegram" else 1), left  # a batch; an SMS at a time
        assert all(until is not None for until in claimed.values()), claimed
        assert {status for status, _ in left.values()} == {"sending", "queued"}, left
        assert all(not emu.history(uid) for uid in chats) and gateway.accepted() == []
        lease_ends = min(until for until in claimed.values() if until is not None)

        # A second worker (in this process) sends the queued rows at once; the claimed ones wait for the lease.
        second = WebhookHarness(emu, database, receive_updates=False, seed=False, gateway=gateway, secret_key=KEY,
                                **FAST_WORKERS)
        await second.start()
        await until(lambda: _sent(store, table, len(left) - len(claimed)), timeout=15, what="the queued rows sent")
        now_rows, now_sent = await rows_of(store, table), _delivered(emu, gateway, outbox)
        if store.clock.now().timestamp() < lease_ends:  # read before the lease ran out (unless the machine is slow)
            assert {row_id: now_rows[row_id] for row_id in claimed} == {
                row_id: ("sending", until) for row_id, until in claimed.items()}  # untouched: not taken over yet
            assert len(now_sent) == len(left) - len(claimed)
        await until(lambda: outboxes_settled(store), timeout=15, what="every row settled")
        await second.stop()  # nothing more can leave

        if outbox == "telegram":
            for uid in chats:
                assert len(notices_in(emu, uid)) == 1 and len(sent_texts(emu, uid)) == 1, (uid, sent_texts(emu, uid))
            assert await telegram_rows(store) == {("sent", 1): len(chats)}
        else:
            owed = await sms_rows(store)
            assert len(owed) == len(phones)
            assert gateway_got(gateway) == Counter(owed.keys())  # each id accepted once
            assert {(status, attempts) for _, _, status, attempts in owed.values()} == {("sent", 1)}
    finally:
        if second is not None:
            await second.close()
        await store.close()
        await gateway.stop()


async def _sent(store: Services, table: str, at_least: int) -> bool:
    return int(await store.db.fetchval(f"SELECT count(*) FROM {table} WHERE status = 'sent'")) >= at_least


def _delivered(emu: BotApiEmulator, gateway: FakeGateway, outbox: str) -> list[str]:
    """What reached Telegram (the notices' texts) or the gateway (the SMS ids) so far."""
    if outbox == "sms":
        return [request["id"] for request in gateway.accepted()]
    return [text for uid in NOTICE_CHATS for text in notices_in(emu, uid)]


# A turn's own replies -------------------------------------------------------------------------------------------

async def test_a_reply_held_by_a_429_longer_than_its_lease_is_not_taken_over_and_sent_twice(emu, database):
    """The process that handled an update delivers its replies itself, under a lease (their envelope is claimed
    by the update's commit). Telegram answers 429 (retry after 1 s) and the delivery waits longer than the
    0.5 s lease, while a worker polls: the lease is kept while the delivery lasts, so the worker does not take
    the envelope over and send the reply a second time."""
    h = SmsHarness(emu, database, **{**FAST_WORKERS, "telegram_lease_seconds": 0.5})
    await h.start()
    try:
        assert h.services is not None
        chat = Chat(h, 6401, "ru")
        await chat.start_in("ru")
        emu.per_chat_rate = 1.0  # one message a second in a chat: the second reply below is refused with a 429
        await chat.send("/unsubscribe")  # updates that change something: their replies are an envelope
        await chat.send("/subscribe")
        await until(lambda: outboxes_settled(h.services), what="the replies delivered")
        assert emu.stats["rate_limited"] >= 1  # the 429 happened
        # A second copy would come a 429 later at most: nothing more arrives in the chat meanwhile.
        assert await emu.wait_idle(6401, quiet=1.5) == []
        replies = sent_texts(emu, 6401)
        assert [replies.count(TEXTS("ru", key)) for key in ("sub.off", "sub.on")] == [1, 1], replies
        assert set(await telegram_rows(h.services, "messages")) == {("sent", 1)}
    finally:
        await h.close()


# The broadcast sender ----------------------------------------------------------------------------------------

async def test_a_broadcast_sender_that_loses_its_hold_stops_and_the_other_worker_finishes_once(cluster, emu):
    """One worker sends broadcasts (a session lock on PostgreSQL). Its lock's connection is cut mid-broadcast
    (a failover, an idle-session timeout): the other worker takes the broadcast over, and the first stops at
    once instead of going on beside it — every subscriber gets the message once and the operator one report."""
    if not engines.on_postgres():
        pytest.skip("a SQLite file lock is not lost while its process lives")
    emu.latency = 0.05
    first = cluster.web[0]
    services = first.services
    assert services is not None
    await add_subscribers(first, NOTICE_CHATS, "ru")
    emu.add_user(OPERATOR, first_name="Operator", language_code="kk")
    broadcast = await services.broadcasts.create("cli", BROADCAST["kk"], BROADCAST["ru"], Audience("all"),
                                                 report_chat_id=OPERATOR)
    await until(lambda: _counted(services, broadcast.id, "sent", 5), what="the broadcast under way")
    holder = await services.db.fetchval(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
        "database = (SELECT oid FROM pg_database WHERE datname = current_database())")
    assert holder is not None
    assert await services.db.fetchval("SELECT pg_terminate_backend(?)", (holder,))

    await until(lambda: finished(first, broadcast.id), timeout=20, what="the broadcast finished")
    report = f"№{broadcast.id} тарату аяқталды"  # the final report (the operator's language: Kazakh)
    await eventually(lambda: any(text.startswith(report) for text in sent_texts(emu, OPERATOR)), timeout=10)
    await emu.wait_idle(OPERATOR, quiet=1.0)  # a second sender, had it gone on, would report right after
    by_worker = [await metric(w, "qyzmet_broadcast_messages_total", outcome="sent") for w in cluster.workers]
    for worker in cluster.workers:  # the one that lost its hold stands by again: its broadcast worker lives
        await until(lambda worker=worker: _broadcast_worker_ready(worker), what="both workers ready")
    await cluster.stop_workers()

    counts = await services.broadcasts.counts(broadcast.id)
    assert counts["queued"] == counts["sending"] == 0 and counts["sent"] + counts["unknown"] == broadcast.total
    for uid in NOTICE_CHATS:
        assert sent_texts(emu, uid) == [BROADCAST["ru"]], uid  # once each, whichever worker sent it
    assert [t for t in sent_texts(emu, OPERATOR) if t.startswith(report)] == [TEXTS(
        "kk", "op.bc.done", id=broadcast.id, total=broadcast.total, sent=counts["sent"], failed=0, blocked=0,
        skipped=0, unknown=counts["unknown"])]  # one report, by the worker that finished it
    assert all(n > 0 for n in by_worker), by_worker  # the first worker, then the one that took over


async def _broadcast_worker_ready(worker: WebhookHarness) -> bool:
    answer = await worker.client.get(f"{worker.base}/health/ready")
    return answer.status_code == 200 and answer.json()["checks"]["broadcast_worker"] is True


async def _counted(services: Services, broadcast_id: int, status: str, at_least: int) -> bool:
    return (await services.broadcasts.counts(broadcast_id))[status] >= at_least
