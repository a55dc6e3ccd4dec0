"""SMPP 3.4 against a real SMSC process (tests/smsc.py: smpp34's server side, started by each test): long kk and
ru texts arrive whole, receipts settle the outbox row, a message from a phone gives consent, throttling is
waited out, and an SMSC killed mid-send loses nothing. The bot runs whole (RunningBot, the outbox worker, the
database of the suite's engine); nothing of ours is mocked."""

from __future__ import annotations

import asyncio

import pytest

from bot.app.runner import RunningBot
from bot.core.seed import Seed
from bot.gateways.smpp_gateway import SmppSinks, SmppSmsGateway
from bot.sandbox.emulator import BotApiEmulator
from bot.services import Services
from handlers.sms_commands import SmsHandler
from tests.harness import SEED, TOKEN, Phone
from tests.integration.test_cli import SEED as CLI_SEED
from tests.integration.test_cli import qyzmet
from tests.integration.test_cli_ops import TOKEN as CLI_TOKEN
from tests.integration.test_cli_ops import Proc, env_for, no_traceback
from tests.repos import repos, send_sms
from tests.sms_harness import CITIZENS, Chat, SmsHarness, W, ask_about, eventually, pushed_text
from tests.smsc import Smsc

ERLAN = CITIZENS["Ерлан"]["phone"]
SERGEI = CITIZENS["Сергей"]["phone"]
PASSWORD = "pw-7Qx!z"  # SMPP 3.4: at most 8 characters

# Each between 71 and 134 UTF-16 units: two parts.
LONG = {
    "ru": "Qyzmet: по заявке QZ-2026-000123 сведения переданы. Если это были не вы, ответьте НЕТ или позвоните 1414.",
    "kk": "Qyzmet: QZ-2026-000123 өтінімі бойынша мәліметтер берілді. Бұл сіз болмасаңыз, ЖОҚ деп жауап беріңіз.",
}


class SmppHarness(SmsHarness):
    """The SMS harness with QYZMET_SMS_GATEWAY=smpp: the phones' inbox is what the SMSC took."""

    def __init__(self, emu, database, smsc: Smsc, **overrides) -> None:
        super().__init__(emu, database, sms_gateway="smpp", smpp_host="127.0.0.1", smpp_port=smsc.port,
                         smpp_system_id="qyzmet", smpp_password=PASSWORD, smpp_source="Qyzmet",
                         smpp_reconnect_base_seconds=0.05, smpp_reconnect_max_seconds=0.5, sms_max_attempts=30,
                         **overrides)
        self.smsc = smsc
        self.phone = SmscPhone(smsc)

    def inbox(self, phone: str) -> list[str]:
        self.phone.sync()
        return super().inbox(phone)

    async def start(self) -> None:
        self.services = await Services.open(self.settings, clock=self.clock)  # the gateway from the settings
        await self.services.load_seed(Seed.model_validate(SEED))
        self.bot = await RunningBot.start(self.services, TOKEN, self.emu.base_url, self.emu.base_file_url,
                                          poll_timeout=1, http=True, http_port=0)
        self.watch_updates()
        assert await self.gateway_.wait_bound(10)

    @property
    def gateway_(self) -> SmppSmsGateway:
        assert self.services is not None and isinstance(self.services.sms_gateway, SmppSmsGateway)
        return self.services.sms_gateway



class SmscPhone(Phone):
    """The phones' inbox, read from what the SMSC took (whole messages only)."""

    def __init__(self, smsc: Smsc) -> None:
        super().__init__()
        self.smsc = smsc

    def sync(self) -> None:
        self.inbox.clear()
        for message in self.smsc.messages():
            self.receive("+" + message["to"], message["text"])

    def last(self, phone: str) -> str:
        self.sync()
        return super().last(phone)


@pytest.fixture
async def smsc(tmp_path):
    server = Smsc(tmp_path / "smsc.jsonl")
    await server.start()
    yield server
    server.stop()


@pytest.fixture
async def sh(emu, database, smsc):
    harness = SmppHarness(emu, database, smsc)
    await harness.start()
    yield harness
    await harness.close()


async def status_of(h: SmsHarness, message_id: str) -> str:
    message = await repos(h.services).outbox.get(message_id)
    assert message is not None
    return message.status


async def until_status(h: SmsHarness, message_id: str, status: str, timeout: float = 10) -> None:
    async def reached() -> bool:
        return await status_of(h, message_id) == status
    await eventually(reached, timeout)


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_two_part_text_arrives_whole_and_receipts_mark_it_delivered(sh, smsc, lang):
    text = LONG[lang]
    assert 70 < len(text.encode("utf-16-be")) // 2 <= 134
    message_id = await send_sms(sh.services, SERGEI, text, kind="notice")
    await until_status(sh, message_id, "sent")

    [message] = smsc.messages()
    assert message["text"] == text and message["parts"] == 2 and message["to"] == SERGEI.lstrip("+")
    submits = smsc.submits()
    assert len(submits) == 2
    assert all(s["dc"] == 8 and s["esm"] & 0x40 and s["registered"] == 1 for s in submits)  # UCS-2, UDH, receipts
    assert {s["from"] for s in submits} == {"Qyzmet"} and {s["src_ton"] for s in submits} == {5}

    first, second = message["ids"]
    assert await smsc.receipt(first) == 0
    await asyncio.sleep(0.5)  # the receipt was taken and acted on
    assert await status_of(sh, message_id) == "sent"  # one part on the phone is not the message
    assert await smsc.receipt(second, tlvs=False) == 0  # the id read from the receipt's text
    await until_status(sh, message_id, "delivered")


async def test_a_failed_part_fails_the_message(sh, smsc):
    message_id = await send_sms(sh.services, SERGEI, LONG["ru"], kind="notice")
    await until_status(sh, message_id, "sent")
    [message] = smsc.messages()
    await smsc.receipt(message["ids"][0], stat="UNDELIV")
    await until_status(sh, message_id, "failed")
    stored = await repos(sh.services).outbox.get(message_id)
    assert stored is not None and "UNDELIV" in (stored.last_error or "")
    await smsc.receipt(message["ids"][1])  # a later part's delivery changes nothing
    await asyncio.sleep(0.5)  # the receipt was taken and acted on
    assert await status_of(sh, message_id) == "failed"


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_consent_by_mo_deliver_sm(sh, smsc, lang):
    chat = Chat(sh, 3101, lang)
    number = await ask_about(chat, lang, "Ерлан")

    def code_came() -> bool:
        return bool(sh.inbox(ERLAN))
    await eventually(code_came)
    code = sh.phone.code(ERLAN)

    yes = f"{W[lang]['yes']} {code}"
    if lang == "kk":  # a message from a phone in two parts is joined before it is read
        await smsc.mo_parts(ERLAN, [yes[:4], yes[4:]])
    else:
        assert await smsc.mo(ERLAN, yes) == 0

    async def given() -> bool:
        return (await repos(sh.services).apps.consent(number)).status == "given"
    await eventually(given)

    def replied() -> bool:
        return any(W[lang]["given"] in text for text in sh.inbox(ERLAN))
    await eventually(replied)  # the reply went back over SMPP
    await sh.delivered()
    text, messages = pushed_text(sh, chat)
    assert number in text and any(m.protect_content for m in messages)


async def test_throttled_submits_are_sent_later(sh, smsc):
    await smsc.mode(throttle=2)
    message_id = await send_sms(sh.services, SERGEI, "Qyzmet: сынақ", kind="interactive")
    await until_status(sh, message_id, "sent")
    assert [s["status"] for s in smsc.submits()] == ["throttled", "throttled", "accepted"]
    stored = await repos(sh.services).outbox.get(message_id)
    assert stored is not None and stored.attempts == 3
    assert [m["text"] for m in smsc.messages()] == ["Qyzmet: сынақ"]


async def test_a_throttled_second_part_is_waited_for_not_sent_again(sh, smsc):
    await smsc.mode(throttle=2, throttle_after=1)  # the first part goes, the second is throttled twice
    message_id = await send_sms(sh.services, SERGEI, LONG["kk"], kind="notice")
    await until_status(sh, message_id, "sent")
    assert [s["status"] for s in smsc.submits()] == ["accepted", "throttled", "throttled", "accepted"]
    assert [m["text"] for m in smsc.messages()] == [LONG["kk"]]
    stored = await repos(sh.services).outbox.get(message_id)
    assert stored is not None and stored.attempts == 1


async def test_a_receipt_sent_at_once_is_not_lost_to_the_sender(sh, smsc):
    """The SMSC sends the receipts right behind its answers: they reach the bot before the sender has marked the
    message sent, and must not be overwritten by that mark."""
    await smsc.mode(receipts=True)
    ids = [await send_sms(sh.services, SERGEI, text, kind="notice") for text in (LONG["ru"], "Qyzmet: қысқа")]
    for message_id in ids:
        await until_status(sh, message_id, "delivered")


async def test_smsc_killed_mid_send_loses_nothing(sh, smsc, caplog):
    """The SMSC holds the first submit unanswered and is killed: the connection is cut under the send. The
    bot binds again with backoff once the SMSC is back, and every message is accepted exactly once."""
    await smsc.mode(hold=True)
    texts = {LONG["ru"]: SERGEI, LONG["kk"]: ERLAN, "Qyzmet: үшінші хабар": SERGEI}
    ids = [await send_sms(sh.services, phone, text, kind="notice") for text, phone in texts.items()]

    async def held() -> bool:
        return (await smsc.state())["held"] >= 1
    await eventually(held)
    smsc.kill()
    await smsc.start()  # the same port, answering again

    for message_id in ids:
        await until_status(sh, message_id, "sent", timeout=20)
    received = smsc.messages()
    assert sorted(m["text"] for m in received) == sorted(texts)  # each whole, each once
    assert {m["to"] for m in received if m["text"] == LONG["kk"]} == {ERLAN.lstrip("+")}
    # What SMPP cannot settle: the submit the SMSC held when it died. This SMSC never delivered it; a real one
    # might have, and then the resend is the phone's second copy (README, "SMPP").
    assert sum(1 for s in smsc.submits() if s["status"] == "held") >= 1
    assert sh.gateway_.binds >= 2
    assert "lost" in caplog.text and PASSWORD not in caplog.text
    stored = await repos(sh.services).outbox.get(ids[0])
    assert stored is not None and stored.attempts >= 2


async def test_receipt_for_an_unknown_id_changes_nothing(sh, smsc):
    message_id = await send_sms(sh.services, SERGEI, "Qyzmet: бір", kind="notice")
    await until_status(sh, message_id, "sent")
    assert await smsc.receipt("no-such-id") == 0
    [message] = smsc.messages()
    await smsc.receipt(message["ids"][0])
    await until_status(sh, message_id, "delivered")


async def test_each_process_binds_and_a_receipt_on_another_bind_counts(sh, smsc):
    """Two processes (here: a second Services on the same database, as a second worker) each bind. The SMSC
    sends a receipt to whichever bind it likes; the one that did not send the message still settles it."""
    other = await Services.open(sh.settings.model_copy(), migrate=False)
    gateway = other.sms_gateway
    assert isinstance(gateway, SmppSmsGateway) and gateway is not sh.gateway_
    handler = SmsHandler(other.sms_inbound, other.sms, other.texts)
    gateway.start(SmppSinks(parts=other.sms_parts.record_send, receipt=other.sms_parts.receipt,
                            inbound=handler.handle))
    try:
        assert await gateway.wait_bound(10)
        assert (await smsc.state())["bound"] == 2
        message_id = await send_sms(sh.services, SERGEI, "Qyzmet: екі байланыс", kind="notice")
        await until_status(sh, message_id, "sent")
        [message] = smsc.messages()
        await smsc.receipt(message["ids"][0])  # goes to the bind made last: the other process's
        await until_status(sh, message_id, "delivered")
    finally:
        await other.close()


async def test_qyzmet_run_binds_answers_over_smpp_and_unbinds(tmp_path, database, smsc):
    """The command line as a deployer runs it: `qyzmet run` with QYZMET_SMS_GATEWAY=smpp binds at start, a
    message from a phone by deliver_sm is answered over SMPP, SIGTERM unbinds; the password is never printed."""
    seeded = qyzmet("seed", str(CLI_SEED), cwd=tmp_path, env=env_for(database))
    assert seeded.returncode == 0, seeded.stderr
    emu = BotApiEmulator(token=CLI_TOKEN)
    await emu.start()
    run = await Proc.start("run", cwd=tmp_path, env=env_for(
        database, QYZMET_TELEGRAM_TOKEN=CLI_TOKEN, QYZMET_TELEGRAM_API_URL=emu.base_url, QYZMET_HTTP_PORT="0",
        QYZMET_SMS_GATEWAY="smpp", QYZMET_SMPP_HOST="127.0.0.1", QYZMET_SMPP_PORT=str(smsc.port),
        QYZMET_SMPP_SYSTEM_ID="qyzmet", QYZMET_SMPP_PASSWORD=PASSWORD, QYZMET_SMPP_SOURCE="1414"))
    try:
        await run.wait_for("bot is running")
        await run.wait_for("SMPP bound")
        assert await smsc.mo("+77011234567", "ПОМОЩЬ") == 0

        def answered() -> bool:
            return any(m["to"] == "77011234567" and "1414" in m["text"] for m in smsc.messages())
        await eventually(answered, 20)
        assert {s["src_ton"] for s in smsc.submits()} == {3}  # a short code as the sender
    finally:
        code = await run.terminate()
        await emu.stop()
    assert code == 0, run.stderr
    assert (await smsc.state())["bound"] == 0  # unbound on the way out
    output = run.stdout + run.stderr
    no_traceback(output)
    assert PASSWORD not in output and "+77011234567" not in output
