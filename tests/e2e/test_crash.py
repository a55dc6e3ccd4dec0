"""Fault injection: `qyzmet run` as a real process, killed at a chosen commit point (QYZMET_CRASH_AT, bot/faults.py:
os._exit, as under SIGKILL), then restarted on the same database. The person gets exactly what they are owed
and nothing is half-done.

The process talks to the project's Bot API emulator and to a fake SMS gateway, both over HTTP on 127.0.0.1 in
this test process. Each scenario replays a crash that lost or repeated something before the unit of work.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from bot.config import Settings
from bot.core.seed import Seed
from bot.faults import EXIT_CODE
from bot.sandbox.emulator import BotApiEmulator, NoMessageError, SentMessage
from bot.services import Services
from handlers.http.sms import SIGNATURE_HEADER, sign
from store.opening import open_database
from tests.harness import CITIZENS, SEED, TOKEN
from tests.sms_harness import FakeGateway, eventually

SECRET = "crash-test-secret"
QYZMET = str(Path(sys.executable).parent / "qyzmet")
SERGEI, AIGERIM, ERLAN = CITIZENS["Сергей"], CITIZENS["Айгерім"], CITIZENS["Ерлан"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BotProcess:
    """`qyzmet run` against the emulator and the gateway, on one database across restarts."""

    def __init__(self, emu: BotApiEmulator, gateway: FakeGateway, database: str) -> None:
        self.emu, self.gateway, self.database = emu, gateway, database
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.client = httpx.AsyncClient(timeout=10)

    def env(self, crash_at: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QYZMET_")}
        env.update({
            "QYZMET_TELEGRAM_TOKEN": TOKEN, "QYZMET_TELEGRAM_API_URL": self.emu.base_url,
            "QYZMET_DATABASE": self.database, "QYZMET_HTTP_PORT": str(self.port),
            "QYZMET_SMS_GATEWAY_URL": self.gateway.url, "QYZMET_SMS_SECRET": SECRET,
            "QYZMET_SECRET_KEY": "crash-test-key", "QYZMET_SMS_GATEWAY_TIMEOUT_SECONDS": "0.5",
            "QYZMET_SMS_WORKER_IDLE_SECONDS": "0.2", "QYZMET_SMS_BACKOFF_BASE_SECONDS": "0.05",
            "QYZMET_SWEEP_INTERVAL_SECONDS": "3600", "QYZMET_TELEGRAM_LEASE_SECONDS": "1.5",
        })
        if crash_at:
            env["QYZMET_CRASH_AT"] = crash_at
        return env

    async def start(self, crash_at: str | None = None) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            QYZMET, "run", env=self.env(crash_at), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while loop.time() < deadline:
            if self.proc.returncode is not None:
                if crash_at and self.proc.returncode == EXIT_CODE:
                    return  # its crash point came before it answered (a broadcast is claimed at start): crashed()
                raise AssertionError(f"the bot exited at start: {await self.stderr()}")
            try:
                if (await self.client.get(f"{self.base}/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError("the bot did not start")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stderr(self) -> str:
        assert self.proc is not None and self.proc.stderr is not None
        return (await self.proc.stderr.read()).decode(errors="replace")[-3000:]

    async def crashed(self, timeout: float = 15) -> None:
        """The process reached its crash point and died there."""
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        err = await self.stderr()
        assert code == EXIT_CODE, f"exit {code}: {err}"
        assert "crash point reached" in err

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.proc = None

    async def sms_in(self, phone: str, text: str, gateway_id: str) -> httpx.Response | None:
        """An inbound SMS as the gateway posts it; None when the process died while handling it."""
        body = json.dumps({"id": gateway_id, "from": phone, "text": text}, ensure_ascii=False).encode()
        try:
            return await self.client.post(f"{self.base}/sms/inbound", content=body,
                                          headers={SIGNATURE_HEADER: sign(SECRET, body),
                                                   "Content-Type": "application/json"})
        except httpx.TransportError:
            return None


class Person:
    """A Telegram user of the emulator, reading the bot's answers as they arrive."""

    def __init__(self, emu: BotApiEmulator, user_id: int) -> None:
        self.emu, self.user_id = emu, user_id
        emu.add_user(user_id=user_id, first_name=f"U{user_id}", language_code="ru")

    async def answers(self, quiet: float = 0.25, timeout: float = 10) -> list[SentMessage]:
        first = await self.emu.next_message(self.user_id, timeout=timeout)
        return [first, *await self.emu.wait_idle(self.user_id, quiet=quiet)]

    async def answers_until(self, done: Callable[[list[SentMessage]], bool], timeout: float = 10
                            ) -> list[SentMessage]:
        """What the bot sends until ``done`` holds of it (a push of several messages, the last rendered at
        delivery, may pause between them on a busy machine), then whatever follows within a short quiet."""
        got: list[SentMessage] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done(got):
            got.append(await self.emu.next_message(self.user_id, timeout=max(0.1, deadline - loop.time())))
        return got + await self.emu.wait_idle(self.user_id, quiet=0.25)

    async def say(self, text: str) -> list[SentMessage]:
        if text.startswith("/"):
            await self.emu.send_command(self.user_id, text)
        else:
            await self.emu.send_text(self.user_id, text)
        return await self.answers()

    async def contact(self, phone: str) -> list[SentMessage]:
        await self.emu.send_contact(self.user_id, phone_number=phone, contact_user_id=self.user_id)
        return await self.answers()

    async def press(self, label: str) -> list[SentMessage]:
        for message in reversed(self.emu.messages(self.user_id)):
            for text, data in BotApiEmulator.inline_buttons(message):
                if label in text:
                    self.emu.press_button(self.user_id, message.message_id, data)
                    return await self.answers()
        raise AssertionError(f"no button {label!r}")

    def all_texts(self) -> list[str]:
        return [m.plain_text or m.text or "" for m in self.emu.messages(self.user_id)]


def text_of(messages: list[SentMessage]) -> str:
    return "\n---\n".join(m.plain_text or m.text or "" for m in messages)


def last_code(gateway: FakeGateway, phone: str) -> str:
    texts = [r["text"] for r in gateway.accepted() if r["to"] == phone]
    assert texts, f"no SMS to {phone}"
    match = re.search(r"(?<!\d)(\d{6})(?!\d)", texts[-1])
    assert match, texts[-1]
    return match.group(1)


def sms_ids_to(gateway: FakeGateway, phone: str) -> list[str]:
    return [r["id"] for r in gateway.accepted() if r["to"] == phone]


async def to_the_iin_step(person: Person, citizen: dict, after: str = "Сведения о себе") -> None:
    """From /start to the question for the IIN, asking for ``after`` ("Сведения о себе" / "Сведения о другом")."""
    await person.say("/start")
    await person.press("Русский")
    await person.press(after)
    await person.press("фтизиатрия")
    await person.contact(citizen["phone"])


async def identify(person: Person, gateway: FakeGateway, citizen: dict, after: str) -> list[SentMessage]:
    """From /start to verified, asking for ``after``."""
    await to_the_iin_step(person, citizen, after)
    await person.say(citizen["iin"])
    return await person.say(last_code(gateway, citizen["phone"]))


async def seed(database: str) -> None:
    services = await Services.open(Settings(database=database, secret_key="crash-test-key", _env_file=None))
    try:
        await services.load_seed(Seed.model_validate(SEED))
    finally:
        await services.close()


@pytest.fixture
async def world(emu: BotApiEmulator, database: str) -> AsyncIterator[tuple[BotProcess, FakeGateway]]:
    gateway = FakeGateway()
    await gateway.start()
    await seed(database)
    bot = BotProcess(emu, gateway, database)
    try:
        yield bot, gateway
    finally:
        await bot.stop()
        await bot.client.aclose()
        await gateway.stop()


async def open_third_party_request(bot: BotProcess, gateway: FakeGateway, person: Person, subject: dict) -> str:
    await identify(person, gateway, SERGEI, "Сведения о другом")
    asked = text_of(await person.say(subject["iin"]))
    numbers = re.findall(r"QZ-\d{6}-\d{7}", asked)
    assert numbers, asked
    return numbers[0]


@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
async def test_consent_by_sms_reply_killed_around_its_commit_still_reaches_the_requester(world, point):
    """The subject replies «ДА <code>»; the bot dies before or after committing the decision. The gateway
    retries the same id; the requester gets the certificate once, the subject one reply (which says to whom the
    data went: no separate notice)."""
    bot, gateway = world
    await bot.start()
    requester = Person(bot.emu, 7001)
    number = await open_third_party_request(bot, gateway, requester, AIGERIM)
    code = last_code(gateway, AIGERIM["phone"])
    await bot.stop()

    await bot.start(crash_at=f"{point}:sms/inbound")
    assert await bot.sms_in(AIGERIM["phone"], f"ДА {code}", "gw-in-1") is None  # died while handling it
    await bot.crashed()

    await bot.start()
    retried = await bot.sms_in(AIGERIM["phone"], f"ДА {code}", "gw-in-1")
    assert retried is not None and retried.status_code == 200
    # Committed before the crash: a repeat now. Not committed: handled now, for the first time.
    assert retried.json().get("duplicate", False) is (point == "after_commit")
    pushed = await requester.answers_until(lambda got: any(m.protect_content for m in got))
    certificates = [m for m in pushed if m.protect_content]
    assert len(certificates) == 1 and "Сейтқали Айгерім" in certificates[0].plain_text, text_of(pushed)
    assert number in text_of(pushed)
    await asyncio.sleep(0.5)
    assert not [m for m in bot.emu.drain(requester.user_id) if m.protect_content]  # not twice
    texts = [r["text"] for r in gateway.accepted() if r["to"] == AIGERIM["phone"]]
    assert any("согласие принято" in t and "Сергей И." in t for t in texts), texts  # the reply names the requester
    assert len(set(sms_ids_to(gateway, AIGERIM["phone"]))) == 2  # the consent request, the reply
    # The requester no longer waits for a code, and /status tells the truth.
    status = text_of(await requester.say("/status"))
    assert number in status


async def test_identification_code_acknowledged_when_the_bot_died_is_not_a_second_message_and_the_chat_goes_on(
        world):
    """The bot dies after the gateway accepted the identification code, before marking it sent. After the
    restart the person's IIN message is answered (from the outbox), the SMS is posted again only under its
    own id (one message for the gateway), and the code the person typed identifies them."""
    bot, gateway = world
    await bot.start(crash_at="before_settle:sms")
    person = Person(bot.emu, 7002)
    await to_the_iin_step(person, SERGEI)
    await bot.emu.send_text(person.user_id, SERGEI["iin"])
    await bot.crashed()
    assert len(sms_ids_to(gateway, SERGEI["phone"])) == 1

    await bot.start()
    answered = text_of(await person.answers(quiet=0.5))
    assert "код" in answered.lower() and "+7 705" in answered, answered
    # The lease of the interrupted SMS runs out (2 s); the worker posts it again.
    await eventually(lambda: len(sms_ids_to(gateway, SERGEI["phone"])) >= 2, 15)
    ids = sms_ids_to(gateway, SERGEI["phone"])
    assert len(set(ids)) == 1, ids  # the same message (idempotency key), not a second code
    result = await person.say(last_code(gateway, SERGEI["phone"]))
    assert any(m.protect_content for m in result), text_of(result)


async def test_a_result_owed_in_the_requesters_chat_is_sent_after_a_crash_before_it_left(world):
    """The subject consents in their own chat (button); the bot dies right after the commit, before any message
    left. After the restart the requester gets the certificate once; the update is not acted on again."""
    bot, gateway = world
    await bot.start()
    subject = Person(bot.emu, 7003)
    await identify(subject, gateway, AIGERIM, "Сведения о себе")
    requester = Person(bot.emu, 7004)
    number = await open_third_party_request(bot, gateway, requester, AIGERIM)
    offer = (await subject.answers())[-1]
    assert number in (offer.plain_text or "")
    await bot.stop()

    await bot.start(crash_at="after_commit:consent/cabinet")
    consent = next(d for _, d in BotApiEmulator.inline_buttons(offer) if d.startswith("cy:"))
    bot.emu.press_button(subject.user_id, offer.message_id, consent)
    await bot.crashed()
    with pytest.raises(NoMessageError):
        await bot.emu.next_message(requester.user_id, timeout=0.2)

    await bot.start()
    pushed = await requester.answers_until(lambda got: any(m.protect_content for m in got))
    assert sum(1 for m in pushed if m.protect_content) == 1, text_of(pushed)
    told = await subject.answers(quiet=0.5)
    assert number in text_of(told)
    await asyncio.sleep(0.5)
    assert not any(m.protect_content for m in bot.emu.drain(requester.user_id))


async def test_own_request_killed_after_its_commit_delivers_the_certificate_once(world):
    bot, gateway = world
    await bot.start()
    person = Person(bot.emu, 7005)
    await to_the_iin_step(person, SERGEI)
    await person.say(SERGEI["iin"])
    code = last_code(gateway, SERGEI["phone"])
    await bot.stop()

    await bot.start(crash_at="after_commit:registry/own")
    await bot.emu.send_text(person.user_id, code)
    await bot.crashed()
    await bot.start()
    got = await person.answers(quiet=0.5)
    assert sum(1 for m in got if m.protect_content) == 1, text_of(got)
    assert re.search(r"QZ-\d{6}-\d{7}", text_of(got))
    await asyncio.sleep(0.5)
    assert not any(m.protect_content for m in bot.emu.drain(person.user_id))


async def test_killed_between_the_certificate_and_the_menu_the_certificate_is_not_sent_again(world):
    """The code step answers with two messages (the certificate, then the menu). The process dies once the
    first has left: the sender that takes the envelope over sends the menu only."""
    bot, gateway = world
    await bot.start()
    person = Person(bot.emu, 7007)
    await to_the_iin_step(person, SERGEI)
    await person.say(SERGEI["iin"])
    code = last_code(gateway, SERGEI["phone"])
    await bot.stop()

    await bot.start(crash_at="after_part:telegram")
    seen = len(bot.emu.history(person.user_id))
    await bot.emu.send_text(person.user_id, code)
    await bot.crashed()
    await bot.start()

    def menu_sent() -> bool:  # the last message of the envelope: what was sent again, if anything, came before it
        return any(m.reply_markup and not m.protect_content for m in bot.emu.history(person.user_id)[seen:])
    await eventually(menu_sent, 15)  # the lease (1.5 s) runs out, the outbox worker takes the envelope over
    got = bot.emu.drain(person.user_id)
    assert sum(1 for m in got if m.protect_content) == 1, text_of(got)
    assert [m for m in got if m.reply_markup] and not got[-1].protect_content, text_of(got)  # the menu, once


@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
async def test_status_feed_event_killed_around_its_commit_notifies_once(world, point):
    bot, gateway = world
    bot_token = "feed-token"
    original_env = bot.env

    def env(crash_at: str | None) -> dict[str, str]:
        return {**original_env(crash_at), "QYZMET_FEED_TOKEN": bot_token}

    bot.env = env  # type: ignore[method-assign]
    await bot.start(crash_at=f"{point}:feed/event")
    event = {"number": "QZ-261125-0000777", "iin": ERLAN["iin"], "service": "drug_provision",
             "status": "accepted", "at": "2026-11-25T10:00:00+05:00"}
    headers = {"Authorization": f"Bearer {bot_token}"}
    with pytest.raises(httpx.TransportError):
        await bot.client.post(f"{bot.base}/api/v1/applications/events", json=event, headers=headers)
    await bot.crashed()
    await bot.start()
    again = await bot.client.post(f"{bot.base}/api/v1/applications/events", json=event, headers=headers)
    assert again.status_code == 200
    assert again.json()["result"] == ("duplicate" if point == "after_commit" else "created")

    def notices() -> list[dict]:
        return [r for r in gateway.accepted() if r["to"] == ERLAN["phone"] and "QZ-261125-0000777" in r["text"]]

    store = await open_database(bot.database, migrate=False)
    try:
        async def all_sent() -> bool:  # the SMS notice worker has sent every notice there is
            return bool(notices()) and not await store.fetchval(
                "SELECT count(*) FROM sms_outbox WHERE status IN ('queued', 'sending')")
        await eventually(all_sent, 15)
    finally:
        await store.close()
    assert len({r["id"] for r in notices()}) == 1, notices()


async def test_a_complaint_filed_when_the_bot_died_after_the_commit_is_confirmed_once(world):
    bot, gateway = world
    t = texts_ru()
    await bot.start()
    person = Person(bot.emu, 7006)
    await person.say("/start")
    await person.press("Русский")
    await person.press(t("cp.btn.file"))
    await person.contact(SERGEI["phone"])
    await person.say(SERGEI["iin"])
    await person.say(last_code(gateway, SERGEI["phone"]))
    await person.press(t("cp.btn.to_provider"))
    await person.press(t("cp.btn.no_application"))
    await person.say("Поликлиника № 5")
    await person.press(t("cp.btn.details_ok"))
    await person.say("Мне не выдали справку в срок, прошу разобраться.")
    await bot.stop()

    await bot.start(crash_at="after_commit:complaint/file")
    for message in reversed(bot.emu.messages(person.user_id)):
        sends = [d for label, d in BotApiEmulator.inline_buttons(message) if label == t("cp.btn.send")]
        if sends:
            bot.emu.press_button(person.user_id, message.message_id, sends[0])
            break
    else:
        raise AssertionError("no send button")
    await bot.crashed()
    await bot.start()
    got = text_of(await person.answers(quiet=0.5))
    numbers = set(re.findall(r"CP-\d{6}-\d{7}", got))
    assert len(numbers) == 1, got
    store = await Services.open(Settings(database=bot.database, secret_key="crash-test-key", _env_file=None))
    try:
        assert await store.db.fetchval("SELECT count(*) FROM complaints") == 1
    finally:
        await store.close()


def texts_ru():
    from bot.i18n import texts
    catalog = texts()
    return lambda key, **params: catalog("ru", key, **params)


async def test_a_broadcast_killed_after_claiming_a_message_never_sends_it_twice(world):
    """The worker marks a recipient 'sending' (committed), then the process dies before the message leaves (or
    after: nobody can tell). After the restart that recipient is 'unknown' and is not sent again — as is any other
    the broadcast's concurrent senders had claimed and not settled at that moment; everyone else gets the
    broadcast exactly once."""
    bot, _ = world
    subscribers = list(range(8101, 8111))
    store = await Services.open(Settings(database=bot.database, secret_key="crash-test-key", _env_file=None))
    try:
        async with store.db.unit("test/subscribers"):
            for uid in subscribers:
                await store.db.write("INSERT INTO users (user_id, lang, created_at) VALUES (?, 'ru', ?)",
                                     (uid, "2026-11-30T00:00:00+00:00"))
        from bot.core.broadcast import Audience
        broadcast = await store.broadcasts.create("cli", "Хабарландыру", "Объявление", Audience("all"))
        assert broadcast.total == len(subscribers)
    finally:
        await store.close()
    for uid in subscribers:
        bot.emu.add_user(user_id=uid, first_name=f"S{uid}", language_code="ru")

    await bot.start(crash_at="after_commit:broadcast/claim#4")
    await bot.crashed()
    await bot.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    counts: dict[str, int] = {}
    while loop.time() < deadline:
        store = await Services.open(Settings(database=bot.database, secret_key="crash-test-key",
                                             _env_file=None))
        try:
            counts = await store.broadcasts.counts(broadcast.id)
        finally:
            await store.close()
        if counts["queued"] == 0 and counts["sending"] == 0:
            break
        await asyncio.sleep(0.2)
    unknown = counts["unknown"]
    # At least the killed claim; at most one per concurrent sender (QYZMET_BROADCAST_CONCURRENCY, 8 by default).
    assert 1 <= unknown <= 8 and counts["sent"] == len(subscribers) - unknown, counts
    received = {uid: sum(1 for m in bot.emu.history(uid) if "Объявление" in (m.text or ""))
                for uid in subscribers}
    assert all(n <= 1 for n in received.values()), received  # nobody twice
    # The unknown ones: each may have left before the kill, or not.
    assert len(subscribers) - unknown <= sum(received.values()) <= len(subscribers)
