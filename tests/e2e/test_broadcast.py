"""Broadcasts end to end: the operator's Telegram flow, languages, audiences, 403, 429, cancel, restart without
duplicates, and citizens' replies going out before broadcast messages."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot.core.broadcast import Audience
from bot.gateways.telegram_rate_limit import PriorityRateLimiter
from bot.sandbox.emulator import BotApiEmulator
from handlers.telegram.op_broadcast import TelegramDeliverer, reporter_for
from store import sqlite_engine
from store.applications import Application
from tests import engines
from tests.harness import TOKEN, Chat
from tests.ophelp import add_subscribers, finished, harness, received, until
from tests.repos import repos

OPERATOR = 7001


@pytest.fixture(params=["in-process", "redis"])
async def pace(request):
    """Settings of the Telegram pace: this process's own, or shared through Redis (QYZMET_REDIS_URL)."""
    if request.param == "in-process":
        yield {}
        return
    if not engines.REDIS_URL:
        pytest.skip("QYZMET_TEST_REDIS is not set: no Redis to share a pace in")
    prefix = engines.redis_prefix()
    yield {"redis_url": engines.REDIS_URL, "redis_prefix": prefix}
    await engines.drop_redis_keys(prefix)


async def test_operator_broadcast_in_both_languages_and_with_one_missing(emu, database):
    h = await harness(emu, database, operators=str(OPERATOR))
    try:
        kk_users, ru_users = [3001, 3002], [3101, 3102, 3103]
        await add_subscribers(h, kk_users, "kk")
        await add_subscribers(h, ru_users, "ru")
        op = Chat(h, OPERATOR, "ru")
        await op.start_in("ru")
        await op.send("/broadcast")
        assert "на казахском" in op.texts()
        await op.send("Ертең қабылдау 10:00-де басталады.")
        await op.send("Завтра приём начнётся в 10:00 <важно>")
        await op.press("Всем подписчикам")
        assert "Получателей: 6" in op.texts()  # five subscribers and the operator
        await op.press("Отправить")
        broadcast = await h.services.broadcasts.repo.next_sending() or await h.services.broadcasts.get(1)
        assert broadcast is not None and broadcast.total == 6
        await until(lambda: finished(h, broadcast.id), what="broadcast done")
        for uid in kk_users:
            assert received(h, uid) == ["Ертең қабылдау 10:00-де басталады."]
        for uid in ru_users:
            assert received(h, uid) == ["Завтра приём начнётся в 10:00 <важно>"]
        await until(lambda: _has(op, "завершена"), what="final report")
        report = [m for m in received(h, OPERATOR) if "завершена" in m][-1]
        assert "Отправлено 6 из 6" in report
        # The report is in the chat once: the progress message (and its Stop button) made way for it.
        now = [m.plain_text or m.text or "" for m in h.emu.messages(OPERATOR)]
        assert sum("завершена" in m for m in now) == 1, now
        assert not any("Остановить" in label for m in h.emu.messages(OPERATOR)
                       for label, _ in h.emu.inline_buttons(m))

        # Only a Russian text: Kazakh-speaking subscribers get it too.
        await op.send("/broadcast")
        await op.press("Без текста на этом языке")
        await op.send("Только по-русски")
        await op.press("выбравшим казахский")
        assert "Получателей: 2" in op.texts() and "будет отправлен текст на другом языке" in op.texts()
        await op.press("Отправить")
        await until(lambda: _all_received(h, kk_users, "Только по-русски"), what="second broadcast")
        assert all(received(h, uid, "Только по-русски") == [] for uid in ru_users)
        actions = [e.action for e in await h.services.staff._audit.recent(actor=str(OPERATOR))]
        assert actions.count("broadcast_create") == 2 and "broadcast_preview" in actions
    finally:
        await h.stop()


async def _has(chat: Chat, fragment: str) -> bool:
    return any(fragment in m for m in received(chat.h, chat.user_id))


async def _all_received(h, user_ids, text) -> bool:
    return all(received(h, uid, text) for uid in user_ids)


async def test_operator_flow_in_kazakh_needs_a_text(emu, database):
    h = await harness(emu, database, operators=str(OPERATOR))
    try:
        op = Chat(h, OPERATOR, "kk")
        await op.start_in("kk")
        await op.send("/broadcast")
        await op.press("Бұл тілде мәтін жоқ")
        await op.press("Бұл тілде мәтін жоқ")
        assert "Кемінде бір тілде мәтін қажет." in op.texts()
        await op.send("x" * 4500)
        assert "Мәтін тым ұзын" in op.texts()
        await op.send("Хабарландыру")
        await op.press("Барлық жазылушыларға")
        assert "Алушылар саны: 1" in op.texts()
        await op.press("Болдырмау")
        assert await h.services.broadcasts.get(1) is None
    finally:
        await h.stop()


async def test_audiences_language_service_unsubscribed_and_blocked(h):
    await add_subscribers(h, [4001, 4002], "kk")
    await add_subscribers(h, [4101, 4102, 4103], "ru")
    b = h.services.broadcasts
    assert await b.preview(Audience("all")) == 5
    assert await b.preview(Audience("lang", "kk")) == 2
    assert await b.preview(Audience("lang", "ru")) == 3
    now = h.clock.now()
    # 4101 filed an open S5 application; 4002 is linked to the IIN of another open one; 4102's is finished.
    store = repos(h.services)
    async with store.db.unit("test"):
        await store.apps.add(Application("QZ-261125-0000001", "drug_provision", "900715300451", "900715300451",
                                         4101, "telegram", now, now, "accepted", None))
        await store.apps.add(Application("QZ-261125-0000002", "drug_provision", "780203300788", None, None, "feed",
                                         now, now, "in_progress", None))
        await store.apps.add(Application("QZ-261125-0000003", "drug_provision", "650101400555", None, 4102,
                                         "telegram", now, now, "result_ready", None))
        await store.users.save_identity(4002, "780203300788", "+77011234567", now)
    assert await b.preview(Audience("service", "drug_provision")) == 2
    assert await b.preview(Audience("service", "tb_info")) == 0
    # /unsubscribe and a block are respected.
    chat = Chat(h, 4103, "ru")
    await chat.send("/unsubscribe")
    assert "отписались" in chat.texts()
    h.emu.block(4001)
    await until(lambda: h.services.subscriptions.blocked(4001), what="my_chat_member processed")
    assert await b.preview(Audience("all")) == 3
    await chat.send("/subscribe")
    assert await b.preview(Audience("all")) == 4


async def test_403_blocked_and_deactivated_and_unsubscribe_at_send_time(h):
    users = [5001, 5002, 5003, 5004]
    await add_subscribers(h, users, "ru")
    services = h.services
    await services.broadcasts.job.stop()  # the ledger is written while nothing is sending
    broadcast = await services.broadcasts.create("cli", None, "Объявление", Audience("all"))
    h.emu.deactivate(5002)  # Telegram answers 403 "user is deactivated"; the bot hears nothing before
    h.emu.block(5003, notify=False)  # blocked while the bot missed the update: 403 at send time
    await Chat(h, 5004, "ru").send("/unsubscribe")  # after the preview, before the send
    services.broadcasts.deliver_with(TelegramDeliverer(h.bot.application.bot),
                                     reporter_for(services, h.bot.application.bot))
    services.broadcasts.job.start()
    await until(lambda: finished(h, broadcast.id), what="broadcast done")
    repo = services.broadcasts.repo
    assert (await repo.recipient(broadcast.id, 5001))[0] == "sent"
    assert (await repo.recipient(broadcast.id, 5002))[0] == "blocked"
    assert (await repo.recipient(broadcast.id, 5003))[0] == "blocked"
    assert (await repo.recipient(broadcast.id, 5004))[0] == "skipped"
    assert await services.subscriptions.blocked(5002) and await services.subscriptions.blocked(5003)
    assert received(h, 5001, "Объявление") and not received(h, 5004, "Объявление")


async def test_429_retry_after_is_honoured(database, pace):
    emu = BotApiEmulator(token=TOKEN, global_rate=5)
    await emu.start()
    h = await harness(emu, database, telegram_rate=100.0, broadcast_rate=100.0, **pace)
    try:
        users = list(range(6001, 6016))
        await add_subscribers(h, users, "kk")
        broadcast = await h.services.broadcasts.create("cli", "Хабар", None, Audience("all"))
        await until(lambda: finished(h, broadcast.id), what="broadcast done")
        counts = await h.services.broadcasts.counts(broadcast.id)
        assert counts["sent"] == len(users), counts
        assert all(received(h, uid, "Хабар") == ["Хабар"] for uid in users)
        assert emu.stats["rate_limited"] > 0  # the emulator did answer 429 …
        # … and each was waited out: hammering would have drawn hundreds and exhausted the retries.
        assert emu.stats["rate_limited"] <= 2 * len(users)
    finally:
        await h.stop()
        await emu.stop()


async def test_cancel_from_the_progress_message(emu, database):
    h = await harness(emu, database, operators=str(OPERATOR), broadcast_rate=4.0,
                      broadcast_concurrency=2)
    try:
        users = list(range(8001, 8031))
        await add_subscribers(h, users, "ru")
        op = Chat(h, OPERATOR, "ru")
        await op.start_in("ru")
        await op.send("/broadcast")
        await op.press("Без текста на этом языке")
        await op.send("Длинная рассылка")
        await op.press("Подписчикам, выбравшим русский")
        await op.press("Отправить")

        async def progressing() -> bool:
            b = await h.services.broadcasts.get(1)
            return b is not None and b.progress_message_id is not None and \
                (await h.services.broadcasts.counts(1))["sent"] >= 3
        await until(progressing, what="progress message")
        b = await h.services.broadcasts.get(1)
        await op.press_data(b.progress_message_id, f"opbc:stop:{b.id}")
        await until(lambda: finished(h, 1), what="cancelled")
        await until(lambda: _has(op, "остановлена"), what="final report")
        counts = await h.services.broadcasts.counts(1)
        assert 0 < counts["sent"] < len(users) + 1 and counts["skipped"] > 0 and counts["queued"] == 0
        got = sum(len(received(h, uid, "Длинная рассылка")) for uid in users + [OPERATOR])
        assert got == counts["sent"] + counts["unknown"] or got == counts["sent"]
        # The report once, as a new message; the progress message and its Stop button made way for it.
        with pytest.raises(LookupError):
            h.emu.message(OPERATOR, b.progress_message_id)
        now = h.emu.messages(OPERATOR)
        assert sum("остановлена" in (m.plain_text or "") for m in now) == 1
        assert not any(f"opbc:stop:{b.id}" == data for m in now for _, data in BotApiEmulator.inline_buttons(m))
        assert any(e.action == "broadcast_cancel" for e in await h.services.staff._audit.recent())
    finally:
        await h.stop()


async def test_restart_mid_broadcast_resumes_without_duplicates(emu, database):
    h = await harness(emu, database, broadcast_rate=15.0, broadcast_concurrency=4)
    try:
        users = list(range(9001, 9041))
        await add_subscribers(h, users, "ru")
        broadcast = await h.services.broadcasts.create("cli", None, "Один раз", Audience("all"))

        async def some_sent() -> bool:
            return (await h.services.broadcasts.counts(broadcast.id))["sent"] >= 5
        await until(some_sent, what="first messages")
        await h.restart()  # the bot stops in the middle; a new process-like start on the same database
        # A crash right after the Bot API call left the mark: the row is ambiguous and must not be resent.
        await h.services.broadcasts.job.stop()
        repo = h.services.broadcasts.repo
        left = await repo.queued_page(broadcast.id, 0, 1)
        assert left, "the broadcast finished before the crash could be staged"
        crashed = left[0].user_id
        async with h.services.db.unit("test"):
            await repo.mark_sending(broadcast.id, crashed, h.clock.now())
        await h.restart()
        await until(lambda: finished(h, broadcast.id), what="resumed broadcast done")
        repo = h.services.broadcasts.repo
        counts = await h.services.broadcasts.counts(broadcast.id)
        assert (await repo.recipient(broadcast.id, crashed))[0] == "unknown"
        assert counts["sent"] + counts["unknown"] == len(users) and counts["queued"] == counts["sending"] == 0
        for uid in users:
            assert len(received(h, uid, "Один раз")) == (0 if uid == crashed else 1), uid
    finally:
        await h.stop()


async def test_citizen_reply_goes_before_queued_broadcast_messages(emu, database, pace):
    # The whole pace is the bottleneck: 6 calls/s for everything, broadcasts allowed up to all of it.
    h = await harness(emu, database, telegram_rate=6.0, broadcast_rate=6.0, broadcast_concurrency=8, **pace)
    try:
        citizen = Chat(h, 2001, "kk")  # not in the audience: its chat shows only the reply
        await citizen.start_in("kk")
        users = list(range(9501, 9531))
        await add_subscribers(h, users, "ru")
        broadcast = await h.services.broadcasts.create("cli", None, "Массовое", Audience("lang", "ru"))

        async def underway() -> bool:
            return (await h.services.broadcasts.counts(broadcast.id))["sent"] >= 6
        await until(underway, what="broadcast underway")
        before = h.emu.last_seq
        await citizen.send("/start")
        reply = citizen.last[0]
        bulk_between = [m for m in h.emu.actions(before) if m.seq < reply.seq and m.text == "Массовое"]
        # At most the message already on the wire went first; the eight queued behind the limiter waited.
        assert len(bulk_between) <= 1, len(bulk_between)
        await until(lambda: finished(h, broadcast.id), what="broadcast done")
        bulk_after = [m for m in h.emu.actions() if m.seq > reply.seq and m.text == "Массовое"]
        assert len(bulk_after) >= 10, "the broadcast should still have been running"
        limiter = h.bot.application.bot.rate_limiter
        assert isinstance(limiter, PriorityRateLimiter)
        assert limiter.sharing == bool(pace) and not limiter.stats["redis_errors"]  # the pace the test meant
    finally:
        await h.stop()


class _TelegramOutageFirst:
    """Telegram cannot be reached (a closed port: connection refused, over real HTTP) for the first ``outage``
    attempts of each recipient, then the real bot delivers."""

    def __init__(self, real, unreachable, outage: int) -> None:
        self.real, self.unreachable, self.outage = real, unreachable, outage
        self.tries: dict[int, int] = {}

    async def deliver(self, user_id, text, before_send):
        self.tries[user_id] = self.tries.get(user_id, 0) + 1
        target = self.unreachable if self.tries[user_id] <= self.outage else self.real
        return await target.deliver(user_id, text, before_send)


async def _unreachable_bot():
    import socket

    from telegram.ext import ExtBot

    from bot.gateways.telegram_http import AiohttpRequest
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bot = ExtBot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=AiohttpRequest(),
                 rate_limiter=PriorityRateLimiter(1000.0, 1000.0, 0.0))
    await bot.request.initialize()
    return bot


@pytest.mark.parametrize(("outage", "expected"), [(2, "sent"), (99, "failed")])
async def test_messages_that_could_not_leave_are_tried_again_and_never_twice(h, outage, expected):
    users = [5101, 5102, 5103]
    await add_subscribers(h, users, "kk")
    services = h.services
    await services.broadcasts.job.stop()
    broadcast = await services.broadcasts.create("cli", "Хабарландыру", None, Audience("all"))
    services.broadcasts.retry_pause = 0.01
    unreachable = await _unreachable_bot()
    deliverer = _TelegramOutageFirst(TelegramDeliverer(h.bot.application.bot), TelegramDeliverer(unreachable),
                                     outage)
    services.broadcasts.deliver_with(deliverer, reporter_for(services, h.bot.application.bot))
    services.broadcasts.job.start()
    try:
        await until(lambda: finished(h, broadcast.id), what="broadcast done")
    finally:
        await unreachable.request.shutdown()
    repo = services.broadcasts.repo
    for uid in users:
        status, attempts, _ = await repo.recipient(broadcast.id, uid)
        assert status == expected, (uid, status)
        assert attempts == (3 if expected == "sent" else 5)
        assert len(received(h, uid, "Хабарландыру")) == (1 if expected == "sent" else 0)


class _AnotherProcessWritesFirst:
    """Just before the broadcast's first message, another process begins a long write on the SQLite file and
    holds the write lock for ``seconds``: meanwhile every claim and every settle of the broadcast is refused
    ("database is locked") once its busy timeout has run out."""

    def __init__(self, real, path: str, seconds: float) -> None:
        self.real, self.path, self.seconds = real, path, seconds
        self.other: sqlite3.Connection | None = None

    async def deliver(self, user_id, text, before_send):
        if self.other is None:
            self.other = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.other.execute("BEGIN IMMEDIATE")
            asyncio.get_running_loop().call_later(self.seconds, self.other.execute, "ROLLBACK")
        return await self.real.deliver(user_id, text, before_send)


@pytest.mark.skipif(engines.on_postgres(), reason="SQLite refuses a write after its busy timeout; PostgreSQL waits")
async def test_a_broadcast_whose_writes_are_refused_for_a_while_goes_on_when_they_pass(h, monkeypatch):
    """More recipients than the senders and their queue hold: each sender's settle is refused. The pass ends and
    the worker tries again shortly (before, each sender died with its error and the walk of the recipients
    waited forever for room in the queue: the broadcast never ended). Everyone gets the message once."""
    monkeypatch.setattr(sqlite_engine, "BUSY_TIMEOUT_MS", 50)  # refused soon, not after 5 s
    users = list(range(5201, 5241))
    await add_subscribers(h, users, "ru")
    services = h.services
    await services.broadcasts.job.stop()
    broadcast = await services.broadcasts.create("cli", None, "Объявление", Audience("all"))
    deliverer = _AnotherProcessWritesFirst(TelegramDeliverer(h.bot.application.bot), h.settings.database, 1.0)
    services.broadcasts.deliver_with(deliverer, reporter_for(services, h.bot.application.bot))
    services.broadcasts.job.start()
    try:
        await until(lambda: finished(h, broadcast.id), what="broadcast done")
    finally:
        if deliverer.other is not None:
            deliverer.other.close()
    assert deliverer.other is not None  # the write lock was taken: the refusals happened
    assert await services.broadcasts.counts(broadcast.id) == {
        "queued": 0, "sending": 0, "sent": len(users), "failed": 0, "blocked": 0, "skipped": 0, "unknown": 0}
    assert all(len(received(h, uid, "Объявление")) == 1 for uid in users)
