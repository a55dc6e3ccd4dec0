"""The outbox over real HTTP: a fake gateway on 127.0.0.1 that fails, a restart, receipts, the global cap,
interactive before notices, and the server's refusal to run unsigned on the network."""

from __future__ import annotations

import pytest

from bot.app.http_server import InsecureHttpConfig, check_http_config
from bot.app.runner import RunningBot
from bot.core.sms_sending import SmsService
from tests.harness import TOKEN
from tests.repos import repos, send_sms
from tests.sms_harness import CITIZENS, Chat, FakeGateway, SmsHarness, W, eventually, pushed_text

ERLAN = CITIZENS["Ерлан"]["phone"]
SERGEI = CITIZENS["Сергей"]["phone"]


@pytest.fixture
async def gateway():
    fake = FakeGateway()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def make(emu, database, gateway):
    made: list[SmsHarness] = []

    async def _make(**overrides) -> SmsHarness:
        harness = SmsHarness(emu, database, gateway, **overrides)
        await harness.start()
        made.append(harness)
        return harness

    yield _make
    for harness in made:
        await harness.close()


async def status_of(h: SmsHarness, message_id: str) -> str:
    message = await repos(h.services).outbox.get(message_id)
    assert message is not None
    return message.status


async def test_500_twice_then_200_is_one_delivery(make, gateway):
    h = await make()
    gateway.script = [500, 503]
    message_id = await send_sms(h.services, SERGEI, "Qyzmet: test", kind="interactive")
    await eventually(lambda: len(gateway.accepted()) == 1)

    async def sent() -> bool:
        return await status_of(h, message_id) == "sent"
    await eventually(sent)
    message = await repos(h.services).outbox.get(message_id)
    assert message.status == "sent" and message.attempts == 3
    assert [r["status"] for r in gateway.requests] == [500, 503, 200]
    assert {r["id"] for r in gateway.requests} == {message_id}
    assert h.inbox(SERGEI) == ["Qyzmet: test"]


async def test_429_and_timeouts_retry_with_growing_backoff_then_fail_with_reason(make, gateway):
    h = await make(sms_max_attempts=3)
    gateway.default = 429
    message_id = await send_sms(h.services, SERGEI, "never", kind="interactive")

    async def failed() -> bool:
        return await status_of(h, message_id) == "failed"
    await eventually(failed)
    message = await repos(h.services).outbox.get(message_id)
    assert len(gateway.requests) == 3 and "gave up after 3 attempts" in message.last_error
    assert "429" in message.last_error
    assert h.inbox(SERGEI) == []
    assert [h.services.sms.backoff(n) for n in (1, 2, 3, 4)] == [0.05, 0.1, 0.2, 0.2]


async def test_a_refused_message_fails_at_once(make, gateway):
    h = await make()
    gateway.script = [400]
    message_id = await send_sms(h.services, SERGEI, "bad", kind="interactive")
    message = await repos(h.services).outbox.get(message_id)
    assert message.status == "failed" and message.last_error == "HTTP 400" and len(gateway.requests) == 1


async def test_restart_sends_queued_once_and_never_resends_accepted(make, gateway):
    h = await make(sms_backoff_base_seconds=30, sms_backoff_max_seconds=30)
    sent_id = await send_sms(h.services, SERGEI, "accepted before the restart")
    gateway.default = 503
    queued = [await send_sms(h.services, SERGEI, f"queued {i}") for i in range(2)]
    notice = await send_sms(h.services, ERLAN, "a notice", kind="notice")
    # The notice goes through the worker (after its commit): wait until every failed attempt is recorded (a
    # queued notice not attempted yet would be due at once after the restart, before the codes' backoff ends).
    async def all_tried() -> bool:
        messages = [await repos(h.services).outbox.get(i) for i in queued + [notice]]
        return all(m is not None and m.status == "queued" and m.attempts == 1 for m in messages)
    await eventually(all_tried)
    await h.stop()

    gateway.default = 200
    before = len(gateway.requests)
    await h.start()
    # The backoff (30 s) was stored; a restarted process honours it — move time on instead of waiting.
    h.clock.advance(seconds=31)
    h.services.sms.wake()
    await eventually(lambda: len(gateway.accepted()) == 4)
    assert [await status_of(h, i) for i in queued + [notice]] == ["sent"] * 3
    after = gateway.requests[before:]
    assert sorted(r["id"] for r in after) == sorted(queued + [notice])
    assert after[-1]["id"] == notice  # interactive before notices
    assert sum(1 for r in gateway.accepted() if r["id"] == sent_id) == 1
    await h.services.sms.retry_queued()
    assert len(gateway.requests) == before + 3


async def test_a_message_interrupted_mid_attempt_is_queued_again(make, gateway):
    h = await make()
    message_id = "interrupted-1"
    async with h.services.db.unit("test"):
        await repos(h.services).outbox.add(message_id, SERGEI, "crashed while sending", "interactive", h.clock.now())
        assert await repos(h.services).outbox.claim(message_id, h.clock.now().timestamp(), 0.1)
    await h.restart()
    await eventually(lambda: any(r["id"] == message_id for r in gateway.accepted()))


async def test_receipts_update_states(make, gateway):
    h = await make()
    delivered = await send_sms(h.services, SERGEI, "one")
    failed = await send_sms(h.services, SERGEI, "two")
    assert (await h.post("/sms/receipts", {"id": delivered, "status": "delivered"})).status_code == 200
    response = await h.post("/sms/receipts", {"id": failed, "status": "failed", "reason": "absent subscriber"})
    assert response.status_code == 200
    assert await status_of(h, delivered) == "delivered"
    message = await repos(h.services).outbox.get(failed)
    assert message.status == "failed" and message.last_error == "absent subscriber"
    # A late contradicting receipt does not reopen a final state; unknown ids are acknowledged.
    await h.post("/sms/receipts", {"id": delivered, "status": "failed"})
    assert await status_of(h, delivered) == "delivered"
    unknown = await h.post("/sms/receipts", {"id": "nope", "status": "delivered"})
    assert unknown.status_code == 200 and unknown.json()["known"] is False
    # Signature and shape are checked like inbound SMS.
    bad = await h.post("/sms/receipts", {"id": failed, "status": "delivered"}, secret="wrong")
    assert bad.status_code == 401 and await status_of(h, failed) == "failed"
    for payload in ({"id": failed, "status": "read"}, {"status": "delivered"}, [1]):
        assert (await h.post("/sms/receipts", payload)).status_code == 400


async def test_global_cap_makes_messages_wait_interactive_first(make, gateway):
    h = await make(sms_global_per_minute=2)
    first = [await send_sms(h.services, SERGEI, f"code {i}") for i in range(2)]
    notice = await send_sms(h.services, ERLAN, "notice", kind="notice")
    code = await send_sms(h.services, SERGEI, "code 3")
    assert [await status_of(h, i) for i in first] == ["sent", "sent"]
    assert [await status_of(h, i) for i in (notice, code)] == ["queued", "queued"]  # waiting, not dropped
    h.clock.advance(seconds=61)
    h.services.sms.wake()
    await eventually(lambda: len(gateway.accepted()) == 4)
    assert [r["id"] for r in gateway.accepted()][2:] == [code, notice]


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_consent_by_reply_through_a_flaky_gateway(make, gateway, lang):
    """The whole path with the HTTP gateway: code out (after a 500), reply in, result pushed, reply out."""
    h = await make()
    chat = Chat(h, 3101, lang)
    await chat.start_in(lang)
    await chat.press(W[lang]["other"])
    await chat.press("фтизиатрия")
    await chat.identify("Сергей")
    gateway.script = [500]
    await chat.send(CITIZENS["Ерлан"]["iin"])
    await eventually(lambda: bool(h.inbox(ERLAN)))
    code = h.phone.code(ERLAN)
    await h.sms_in(ERLAN, f"{W[lang]['yes']} {code}", "flaky-1")
    assert any(m.protect_content for m in pushed_text(h, chat)[1])
    await eventually(lambda: any(W[lang]["given"] in t for t in h.inbox(ERLAN)))


def test_refuses_network_host_without_secret():
    with pytest.raises(InsecureHttpConfig, match="QYZMET_SMS_SECRET"):
        check_http_config("0.0.0.0", None)
    with pytest.raises(InsecureHttpConfig):
        check_http_config("10.0.0.5", "")
    check_http_config("0.0.0.0", "s3cret")
    check_http_config("127.0.0.1", None)
    check_http_config("::1", None)
    check_http_config("localhost", None)


async def test_runner_refuses_before_starting_anything(emu, database):
    h = SmsHarness(emu, database, sms_secret=None, http_host="0.0.0.0")
    from bot.services import Services
    services = await Services.open(h.settings, clock=h.clock, sms_gateway=h.gateway)
    try:
        with pytest.raises(InsecureHttpConfig):
            await RunningBot.start(services, TOKEN, emu.base_url, emu.base_file_url, poll_timeout=1, http=True)
    finally:
        await services.close()
        await h.client.aclose()


async def test_loopback_without_secret_accepts_unsigned(emu, database):
    h = SmsHarness(emu, database, sms_secret=None)
    await h.start()
    try:
        assert (await h.sms_in(SERGEI, "HELP", secret=None)).status_code == 200
        assert W["kk"]["help_text"] in h.phone.last(SERGEI)
    finally:
        await h.close()


def test_service_backoff_is_bounded():
    class S:  # only the settings the formula reads
        sms_backoff_base_seconds = 2.0
        sms_backoff_max_seconds = 300.0
    service = SmsService.__new__(SmsService)
    service._s = S()  # type: ignore[assignment]
    assert [service.backoff(n) for n in range(1, 10)] == [2, 4, 8, 16, 32, 64, 128, 256, 300]
