"""The state systems over HTTP, end to end: the real python-telegram-bot Application through the emulator, the
bot's own HTTP server, a real SQLite file, and the reference server of the contract
(bot/sandbox/state_systems.py) as the citizen directory, the registries, monitoring and the complaints
intake — slow, failing, answering garbage, and recovering."""

from __future__ import annotations

import asyncio

import pytest

from bot.sandbox.state_systems import StateSystemsServer
from tests.conftest import STATE_TOKEN
from tests.harness import CITIZENS, SEED, Chat, Harness
from tests.repos import repos
from tests.sms_harness import SECRET, SmsHarness, eventually

SERGEY = CITIZENS["Сергей"]
AIGERIM = CITIZENS["Айгерім"]
ERLAN = CITIZENS["Ерлан"]
DANA = CITIZENS["Дана"]  # the one the faulty systems answer about instead of Sergey (the seed's first other IIN)
OPERATOR = 7401

# Fast enough for a test: a call gives up after 0.5 s (two tries), the breaker opens after 3 failures for 2 s,
# queued questions and posts are tried again after 1 s, then 2 s.
FAST = dict(state_timeout_seconds=0.5, state_attempts=2, state_breaker_failures=3, state_breaker_seconds=2.0,
            state_retry_base_seconds=1.0, state_retry_max_seconds=2.0, state_worker_idle_seconds=0.2)

OWN = {"ru": "Сведения о себе", "kk": "Өзім туралы"}
OTHER = {"ru": "Сведения о другом", "kk": "Басқа адам"}


@pytest.fixture
async def server():
    reference = StateSystemsServer(SEED, token=STATE_TOKEN, callback_secret=SECRET)
    await reference.start()
    yield reference
    await reference.stop()


@pytest.fixture
async def hs(emu, database, server, request):
    """The bot with every state system on the reference server; a test may change settings with
    ``@pytest.mark.parametrize("hs", [{...}], indirect=True)``."""
    harness = SmsHarness(emu, database, directory_url=server.url, registry_url=server.url,
                         monitoring_url=server.url, complaints_url=server.url, state_token=STATE_TOKEN,
                         operators=str(OPERATOR), **{**FAST, **getattr(request, "param", {})})
    await harness.start()
    server.callback_url = harness.base
    yield harness
    await harness.close()


def tx(h: Harness, lang: str):
    return lambda key, **params: h.services.texts(lang, key, **params)


def before(template: str) -> str:
    """The constant head of a text up to its first placeholder's value (``@``)."""
    return template.split("@")[0]


async def ask_own(chat: Chat, lang: str, identify: bool = True) -> None:
    await chat.start_in(lang)
    await chat.press(OWN[lang])
    await chat.press("фтизиатрия")
    if identify:
        await chat.identify("Сергей")


def number_in(text: str) -> str:
    numbers = [w.strip(".,():") for w in text.replace("(", " ").split() if w.startswith("QZ-")]
    assert numbers, text
    return numbers[0]


async def pushed(h: Harness, chat: Chat, predicate, timeout: float = 10.0) -> list:
    """Wait until the bot, of its own accord, has sent the chat a message that ``predicate`` accepts."""
    seen: list = []

    def arrived() -> bool:
        seen.extend(h.drain(chat.user_id))
        return any(predicate(m) for m in seen)

    await eventually(arrived, timeout)
    return seen


async def question(h: Harness, number: str) -> str | None:
    return await h.services.pending_results.repo.status(number)


# The registry flow ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_registry_down_the_request_is_accepted_and_the_result_comes_when_it_recovers(hs, server, lang):
    t = tx(hs, lang)
    chat = Chat(hs, 8001, lang)
    server.set("registries", "fail")
    await ask_own(chat, lang)
    text = chat.texts()
    number = number_in(text)
    assert before(t("request.accepted_pending", number=number, due="@")) in text
    assert not any(m.protect_content for m in chat.last), text  # nothing made up while the registry is down
    app = await repos(hs.services).apps.get(number)
    assert app.status == "accepted" and await question(hs, number) in ("queued", "asking")

    server.heal()
    messages = await pushed(hs, chat, lambda m: m.protect_content)
    certificate = next(m for m in messages if m.protect_content)
    assert certificate.plain_text.startswith(t("registry.result_came", number=number))
    assert ("На динамическом наблюдении: состоит" if lang == "ru" else "тұрады") in certificate.plain_text
    assert "Иванов Сергей Петрович" in certificate.plain_text
    assert (await repos(hs.services).apps.get(number)).status == "result_ready"
    assert await question(hs, number) == "answered"
    # The result was shown, not kept: the question row and the envelope name the number, nothing else.
    row = await hs.services.db.fetchone("SELECT * FROM registry_questions WHERE number = ?", (number,))
    assert set(row.keys()) == {"number", "status", "attempts", "next_attempt_at", "lease_until", "late_told_at",
                               "created_at", "settled_at", "last_error"}
    await hs.delivered()
    assert await hs.services.db.fetchval(
        "SELECT count(*) FROM telegram_outbox WHERE kind = 'registry_result' AND payload IS NOT NULL") == 0
    # Monitoring saw both stages: accepted, then the result given.
    await eventually(lambda: f"{number}:result_ready" in server.stages)
    assert server.stages[f"{number}:accepted"]["service"] == "tb_info"


async def test_the_answer_is_the_state_systems_not_the_seeded_tables(hs, server):
    server.registry[(SERGEY["iin"], "tb")]["observed"] = False
    server.registry[(SERGEY["iin"], "tb")]["source_system"] = "ЕПС «Фтизиатрия»"
    chat = Chat(hs, 8002, "ru")
    await ask_own(chat, "ru")
    certificate = next(m for m in chat.last if m.protect_content)
    assert "На динамическом наблюдении: не состоит" in certificate.plain_text
    assert "ЕПС «Фтизиатрия»" in certificate.plain_text
    assert server.requests["directory"] >= 2 and server.requests["registries"] == 1


async def test_a_slow_registry_within_the_timeout_answers_at_once_beyond_it_later(hs, server):
    chat = Chat(hs, 8003, "ru")
    server.set("registries", "slow", delay=0.2)
    await ask_own(chat, "ru")
    assert any(m.protect_content for m in chat.last), chat.texts()

    server.set("registries", "slow", delay=1.5, times=2)  # both tries of the conversation's call time out
    await chat.press(OWN["ru"])
    await chat.press("фтизиатрия")
    number = number_in(chat.texts())
    assert not any(m.protect_content for m in chat.last)
    assert "сведения придут в этот чат" in chat.texts()
    messages = await pushed(hs, chat, lambda m: m.protect_content)
    assert number in next(m for m in messages if m.protect_content).plain_text


async def test_malformed_answers_are_not_used(hs, server):
    chat = Chat(hs, 8004, "kk")
    server.set("registries", "garbage", times=2)
    await ask_own(chat, "kk")
    number = number_in(chat.texts())
    assert not any(m.protect_content for m in chat.last)
    server.set("registries", "wrong", times=1)  # JSON, but "observed" is not a boolean: asked again later
    messages = await pushed(hs, chat, lambda m: m.protect_content)
    assert "тұрады" in next(m for m in messages if m.protect_content).plain_text
    assert server.faults["registries"].mode == "ok" and server.requests["registries"] >= 4
    assert (await repos(hs.services).apps.get(number)).status == "result_ready"


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_a_registry_answering_about_another_person_is_never_printed(hs, server, lang):
    """A faulty registry answers Sergey's TB question about another IIN with the opposite mark: the request waits
    as when the registry is down — no certificate vouches for someone else's mark under Sergey's name — and the
    right certificate comes once the registry answers the question asked."""
    t = tx(hs, lang)
    chat = Chat(hs, 8008, lang)
    server.set("registries", "other_person")
    await ask_own(chat, lang)
    text = chat.texts()
    number = number_in(text)
    assert before(t("request.accepted_pending", number=number, due="@")) in text
    assert not any(m.protect_content for m in chat.last), text
    assert await question(hs, number) in ("queued", "asking")

    asked = server.requests["registries"]
    await eventually(lambda: server.requests["registries"] > asked, 10)  # asked again: still about someone else
    assert not any(m.protect_content for m in hs.drain(chat.user_id))
    assert (await repos(hs.services).apps.get(number)).status == "accepted"
    assert await question(hs, number) in ("queued", "asking")

    server.heal()
    messages = await pushed(hs, chat, lambda m: m.protect_content)
    certificate = next(m for m in messages if m.protect_content).plain_text
    assert certificate.startswith(t("registry.result_came", number=number))
    assert ("На динамическом наблюдении: состоит" if lang == "ru" else "тұрады") in certificate  # Sergey's mark
    assert SERGEY["full_name"] in certificate and DANA["full_name"] not in certificate
    assert (await repos(hs.services).apps.get(number)).status == "result_ready"
    assert await question(hs, number) == "answered"


async def test_a_directory_answering_about_another_person_when_the_result_is_due(hs, server):
    """The certificate's name comes from the directory: an answer about another IIN there waits as well."""
    chat = Chat(hs, 8009, "ru")
    await ask_own(chat, "ru")
    assert any(m.protect_content for m in chat.last), chat.texts()

    server.set("directory", "other_person")
    await chat.press(OWN["ru"])
    await chat.press("фтизиатрия")
    number = number_in(chat.texts())
    assert not any(m.protect_content for m in chat.last), chat.texts()
    assert "сведения придут в этот чат" in chat.texts()
    assert DANA["full_name"] not in chat.texts()

    server.heal()
    messages = await pushed(hs, chat, lambda m: m.protect_content)
    certificate = next(m for m in messages if m.protect_content).plain_text
    assert number in certificate and SERGEY["full_name"] in certificate and DANA["full_name"] not in certificate


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_registry_down_past_the_due_time(hs, server, lang):
    t = tx(hs, lang)
    chat = Chat(hs, 8005, lang)
    server.set("registries", "fail")
    await ask_own(chat, lang)
    number = number_in(chat.texts())
    app = await repos(hs.services).apps.get(number)

    hs.clock.advance(minutes=31)
    hs.services.pending_results.wake()
    messages = await pushed(hs, chat, lambda m: number in (m.plain_text or "") and "🔔" in (m.plain_text or ""))
    late = next(m.plain_text for m in messages if "🔔" in (m.plain_text or ""))
    assert before(t("notice.registry_late", number=number, due="@")) in late
    assert (await repos(hs.services).apps.get(number)).status == "accepted"
    # Operators see it among the overdue applications.
    await hs.services.staff.add("cli", OPERATOR, "operator")
    page = await hs.services.staff.overdue(OPERATOR, limit=100)
    assert number in [item.app.number for item in page.items]
    op = Chat(hs, OPERATOR, lang)
    await op.start_in(lang)
    await op.send("/overdue")
    assert number in op.texts()

    # Told once: further passes while it is still down say nothing more.
    hs.clock.advance(seconds=5)
    await hs.services.pending_results.process_due()
    await hs.delivered()
    assert not [m for m in hs.drain(chat.user_id) if "🔔" in (m.plain_text or "")]

    server.heal()
    hs.clock.advance(seconds=5)  # past the breaker's pause and the question's next try
    hs.services.pending_results.wake()
    messages = await pushed(hs, chat, lambda m: m.protect_content)
    assert app.number in next(m for m in messages if m.protect_content).plain_text
    page = await hs.services.staff.overdue(OPERATOR, limit=100)
    assert number not in [item.app.number for item in page.items]  # answered: no longer overdue


async def test_consent_given_while_the_registry_is_down_the_result_follows(hs, server):
    """A consented request waits like an own one; the data subject is told of the provision only when it
    really happens."""
    chat = Chat(hs, 8006, "ru")
    await chat.start_in("ru")
    await chat.press(OTHER["ru"])
    await chat.press("фтизиатрия")
    await chat.identify("Сергей")
    await chat.send(ERLAN["iin"])
    number = number_in(chat.texts())
    code = hs.phone.code(ERLAN["phone"])
    server.set("registries", "fail")
    reply = await hs.sms_in(ERLAN["phone"], f"ДА {code}")
    assert reply.status_code == 200
    assert hs.services.texts("ru", "smsin.consent_given_pending", number=number) in hs.inbox(ERLAN["phone"])
    told = hs.drain(chat.user_id)
    assert any("Согласие по запросу" in (m.plain_text or "") and "сведения придут" in (m.plain_text or "")
               for m in told), [m.plain_text for m in told]
    sms_before = len(hs.inbox(ERLAN["phone"]))

    server.heal()
    messages = await pushed(hs, chat, lambda m: m.protect_content)
    assert "Жақсылықов Ерлан Серікұлы" in next(m for m in messages if m.protect_content).plain_text
    await eventually(lambda: len(hs.inbox(ERLAN["phone"])) > sms_before)
    assert "Сергей И." in hs.inbox(ERLAN["phone"])[-1]  # now, and only now: whose request was answered


# The directory during identification ------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["ru", "kk"])
@pytest.mark.parametrize("mode", ["fail", "wrong", "other_person"])
async def test_directory_down_during_identification(hs, server, lang, mode):
    t = tx(hs, lang)
    chat = Chat(hs, 8007, lang)
    await ask_own(chat, lang, identify=False)
    await chat.contact(SERGEY["phone"])
    server.set("directory", mode)
    await chat.send(SERGEY["iin"])
    assert t("state.directory_down") in chat.texts()
    assert not hs.inbox(SERGEY["phone"])  # no code sent
    assert await hs.services.db.fetchval("SELECT count(*) FROM otps") == 0  # none of the hourly sends spent
    assert (await repos(hs.services).users.state(8007)).state == "id_iin"  # nothing half-done: still asked
    assert await hs.services.identity.current(8007) is None

    server.heal()
    hs.clock.advance(seconds=3)  # past the breaker's pause
    await chat.send(SERGEY["iin"])
    await chat.send(hs.phone.code(SERGEY["phone"]))
    assert any(m.protect_content for m in chat.last), chat.texts()


# The breaker stays open for the whole test, however slowly the machine runs it.
@pytest.mark.parametrize("hs", [{"state_breaker_seconds": 600}], indirect=True)
async def test_a_dead_directory_is_not_called_for_every_conversation(hs, server):
    server.set("directory", "slow", delay=3.0)
    for user_id in (8010, 8011):
        chat = Chat(hs, user_id, "ru")
        await ask_own(chat, "ru", identify=False)
        await chat.contact(SERGEY["phone"])
        await chat.send(SERGEY["iin"])
        assert hs.services.texts("ru", "state.directory_down") in chat.texts()
    calls = server.requests["directory"]
    assert calls == 3  # the breaker opened after 3 timeouts: the next conversations do not wait at all
    chat = Chat(hs, 8012, "ru")
    await ask_own(chat, "ru", identify=False)
    await chat.contact(SERGEY["phone"])
    started = asyncio.get_running_loop().time()
    await chat.send(SERGEY["iin"])
    assert asyncio.get_running_loop().time() - started < 1.0
    assert server.requests["directory"] == calls


@pytest.mark.parametrize("hs", [{"state_breaker_seconds": 600}], indirect=True)
async def test_sms_status_while_the_directory_is_down_says_try_later(hs, server):
    server.set("directory", "fail")
    reply = await hs.sms_in(AIGERIM["phone"], "СТАТУС QZ-261124-0000102")
    assert reply.status_code == 200
    assert hs.inbox(AIGERIM["phone"])[-1] == hs.services.texts("ru", "smsin.try_later")
    # Inside the message's unit of work each lookup is one short try: three messages open the breaker (3 failures).
    await hs.sms_in(AIGERIM["phone"], "СТАТУС QZ-261124-0000102")
    await hs.sms_in(AIGERIM["phone"], "СТАТУС QZ-261124-0000102")
    # An unknown number gets the same answer while the directory is known to be down: nothing to probe.
    await hs.sms_in(AIGERIM["phone"], "СТАТУС QZ-261124-0009999")
    assert hs.inbox(AIGERIM["phone"])[-1] == hs.services.texts("ru", "smsin.try_later")


@pytest.mark.parametrize("hs", [{"state_breaker_seconds": 600}], indirect=True)
@pytest.mark.parametrize("number", ["QZ-261124-0000102", "QZ-261124-0009999", "QZ-261124-0000101"])
async def test_sms_status_from_the_first_message_of_an_outage_is_alike_for_any_number(hs, server, number):
    """Before the breaker has opened (the first failed lookup), from a phone that owns nothing: a number that
    exists and one that does not both get "try later", never "not found" for the one that does not."""
    server.set("directory", "fail")
    stranger = "+77019998877"
    await hs.sms_in(stranger, f"СТАТУС {number}")
    assert hs.inbox(stranger)[-1] == hs.services.texts("ru", "smsin.try_later")
    assert server.requests["directory"] >= 1  # the directory was asked, whatever the number


# Stages to monitoring -----------------------------------------------------------------------------------------

async def test_stage_posts_are_retried_and_deduplicated(hs, server):
    server.set("monitoring", "fail", times=2)
    chat = Chat(hs, 8020, "ru")
    await ask_own(chat, "ru")
    number = number_in(chat.texts())
    await eventually(lambda: {f"{number}:accepted", f"{number}:result_ready"} <= set(server.stages), 15)
    accepted = server.stages[f"{number}:accepted"]
    assert accepted == {"key": f"{number}:accepted", "number": number, "service": "tb_info", "status": "accepted",
                        "at": accepted["at"], "ground": None}
    assert accepted["at"].endswith("+00:00")

    # A stage taken by monitoring whose answer came too late is posted again with its key: one stage.
    server.set("monitoring", "slow", delay=1.0, times=1)
    await chat.press(OTHER["ru"])
    await chat.press("фтизиатрия")
    await chat.send(CITIZENS["Ольга"]["iin"])  # no registered phone: refused, for absence of consent
    refused = number_in(chat.texts())
    key = f"{refused}:refused"
    await eventually(lambda: sum(p["key"] == key for p in server.stage_posts) == 2, 15)
    assert server.stages[key]["ground"] == "no_consent" and server.stages[key]["service"] == "tb_info"
    assert list(server.stages).count(key) == 1

    async def all_sent() -> bool:
        return all(status == "sent" for _, status, _ in await hs.services.state_outbox.repo.statuses("monitoring"))

    await eventually(all_sent, 15)
    attempts = {k: a for k, _, a in await hs.services.state_outbox.repo.statuses("monitoring")}
    assert attempts[key] == 2  # posted twice, one stage
    assert attempts[f"{number}:accepted"] + attempts[f"{number}:result_ready"] == 4  # two 503s, then taken


async def test_no_monitoring_no_stage_rows(h):
    chat = Chat(h, 8021, "ru")
    await ask_own(chat, "ru")
    assert any(m.protect_content for m in chat.last)
    assert await h.services.db.fetchval("SELECT count(*) FROM state_outbox") == 0


# Complaints to the addressee ------------------------------------------------------------------------------------

async def file_complaint(h: Harness, user_id: int, lang: str) -> str:
    t = tx(h, lang)
    chat = Chat(h, user_id, lang)
    await chat.start_in(lang)
    await chat.press(t("cp.btn.file"))
    await chat.identify("Айгерім")
    await chat.press(t("cp.btn.to_provider"))
    await chat.press("QZ-261124-0000102")
    await chat.press(t("cp.btn.details_ok"))
    await chat.send("Заключение не выдано в срок, прошу рассмотреть.")
    await chat.press(t("cp.btn.send"))
    return (await h.services.complaints.repo.for_iin(AIGERIM["iin"]))[0].number


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_a_complaint_is_delivered_registered_with_the_addressees_number_and_answered(hs, server, lang):
    t = tx(hs, lang)
    number = await file_complaint(hs, 8030, lang)
    await eventually(lambda: number in server.complaints)
    sent = server.complaints[number]
    assert sent["full_name"] == AIGERIM["full_name"] and sent["iin"] == AIGERIM["iin"]
    assert sent["address"] == AIGERIM["address"] and sent["phone"] == AIGERIM["phone"]
    assert sent["addressee"] == "provider" and sent["application"] == "QZ-261124-0000102"
    assert sent["text"] == "Заключение не выдано в срок, прошу рассмотреть."

    status, body = await server.answer_complaint(number, "registered", incoming_number="ВХ-2026/0042")
    assert (status, body["result"], body["state"]) == (200, "moved", "registered")
    notice = await hs.emu.next_message(8030)
    assert t("notice.complaint_state", number=number, state=t("complaint.state.registered")) in notice.plain_text
    complaint = await hs.services.complaints.repo.get(number)
    assert complaint.state == "registered" and complaint.incoming_number == "ВХ-2026/0042"
    status, body = await server.answer_complaint(number, "registered", incoming_number="ВХ-2026/0042")
    assert (status, body["result"]) == (200, "duplicate")  # the same answer again changes nothing

    status, body = await server.answer_complaint(number, "answered", text="Заключение выдано, сотрудник предупреждён.")
    assert (status, body["state"]) == (200, "answered")
    notice = await hs.emu.next_message(8030)
    assert t("complaint.state.answered") in notice.plain_text
    chat = Chat(hs, 8030, lang)
    await chat.press(t("btn.open"))
    card = chat.texts()
    assert "Заключение выдано, сотрудник предупреждён." in card
    assert t("cp.card.incoming_number", incoming="ВХ-2026/0042") in card
    audit = await hs.services.staff._audit.recent(actor="addressee")
    assert [e.action for e in reversed(audit)] == ["complaint_registered", "complaint_answered"]


async def test_a_bad_callback_changes_nothing(hs, server):
    number = await file_complaint(hs, 8031, "ru")
    await eventually(lambda: number in server.complaints)
    status, _ = await server.answer_complaint(number, "registered", incoming_number="ВХ-1", secret="not-the-secret")
    assert status == 401
    unsigned = await hs.client.post(hs.base + "/api/v1/complaints/events",
                                    json={"number": number, "event": "registered", "incoming_number": "ВХ-1"})
    assert unsigned.status_code == 401
    complaint = await hs.services.complaints.repo.get(number)
    assert complaint.state == "delivered" and complaint.incoming_number is None
    assert [e.state for e in await hs.services.complaints.repo.events(number)] == ["delivered"]
    # Signed but wrong: 400 (fields), 404 (number), 409 (a provider does not forward to itself); nothing moves.
    assert (await server.answer_complaint(number, "registered"))[0] == 400
    assert (await server.answer_complaint(number, "answered"))[0] == 400
    assert (await server.answer_complaint("CP-261125-9999999", "forwarded"))[0] == 404
    assert (await server.answer_complaint(number, "forwarded"))[0] == 409
    assert (await hs.services.complaints.repo.get(number)).state == "delivered"
    assert not [m for m in hs.drain(8031) if "🔔" in (m.plain_text or "")]


async def test_complaints_intake_down_the_complaint_waits_in_the_outbox(hs, server):
    server.set("complaints", "fail", times=3)
    number = await file_complaint(hs, 8032, "kk")
    await eventually(lambda: number in server.complaints, 20)
    assert server.requests["complaints"] >= 4
    assert len(server.complaint_posts) == 1


async def test_status_feed_event_while_the_directory_is_down_is_answered_503_and_changes_nothing(
        emu, database, server):
    fh = SmsHarness(emu, database, directory_url=server.url, registry_url=server.url,
                    state_token=STATE_TOKEN, feed_token="feed-token", **FAST)
    await fh.start()
    try:
        event = {"number": "QZ-261125-0000777", "iin": AIGERIM["iin"], "service": "social_services_docs",
                 "status": "accepted", "at": fh.clock.now().isoformat(), "note": None}
        headers = {"Authorization": "Bearer feed-token"}
        server.set("directory", "fail")  # the notice goes by SMS (no chat known): the phone is needed
        refused = await fh.client.post(fh.base + "/api/v1/applications/events", json=event, headers=headers)
        assert refused.status_code == 503 and refused.headers["Retry-After"]
        assert await repos(fh.services).apps.get("QZ-261125-0000777") is None
        server.heal()
        fh.clock.advance(seconds=3)  # past the breaker's pause
        again = await fh.client.post(fh.base + "/api/v1/applications/events", json=event, headers=headers)
        assert again.status_code == 200 and again.json()["result"] == "created"
        await fh.delivered()
        assert any("QZ-261125-0000777" in text for text in fh.inbox(AIGERIM["phone"]))
    finally:
        await fh.close()
