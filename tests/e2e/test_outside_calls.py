"""No outside system is asked while a unit of work has begun (store/db.py): the citizen directory and the registry
are asked first, then the unit writes. Every flow that asks them runs here against the reference server of the
contract (bot/sandbox/state_systems.py), and the one door every lookup goes through (StateHttpClient.get)
records whether the calling task's unit had begun — it never had."""

from __future__ import annotations

import pytest

from bot.gateways.state_http import StateHttpClient
from bot.sandbox.state_systems import StateSystemsServer
from tests.conftest import STATE_TOKEN
from tests.e2e.test_data_subject import linked_subject, offer_buttons
from tests.e2e.test_e2e_third_party import ask_about
from tests.harness import CITIZENS, SEED, Chat
from tests.repos import repos
from tests.sms_harness import SECRET, SmsHarness, eventually

SERGEY, ERLAN, AIGERIM = CITIZENS["Сергей"], CITIZENS["Ерлан"], CITIZENS["Айгерім"]
FAST = dict(state_timeout_seconds=0.5, state_attempts=2, state_breaker_failures=3, state_breaker_seconds=2.0,
            state_retry_base_seconds=1.0, state_retry_max_seconds=2.0, state_worker_idle_seconds=0.2)


@pytest.fixture
async def server():
    reference = StateSystemsServer(SEED, token=STATE_TOKEN, callback_secret=SECRET)
    await reference.start()
    yield reference
    await reference.stop()


@pytest.fixture
async def watched(emu, database, server, monkeypatch):
    """The bot on the reference server, and the lookups it made: (system, whether a unit had begun)."""
    harness = SmsHarness(emu, database, directory_url=server.url, registry_url=server.url,
                         state_token=STATE_TOKEN, feed_token="feed-token", **FAST)
    await harness.start()
    calls: list[tuple[str, bool]] = []
    original = StateHttpClient.get

    async def get(self: StateHttpClient, path: str):
        unit = harness.services.db.current_unit()
        calls.append((self.system, unit is not None and unit.begun))
        return await original(self, path)

    monkeypatch.setattr(StateHttpClient, "get", get)
    yield harness, calls
    await harness.close()


def under_a_begun_unit(calls: list[tuple[str, bool]]) -> list[str]:
    return [system for system, begun in calls if begun]


async def test_own_and_status_lookups_are_made_before_the_unit_begins(watched):
    h, calls = watched
    chat = Chat(h, 9101, "ru")
    await chat.start_in("ru")
    await chat.press("Сведения о себе")
    await chat.press("фтизиатрия")
    await chat.identify("Сергей")
    number = next(w.strip(".,():") for w in chat.texts().replace("(", " ").split() if w.startswith("QZ-"))
    assert (await repos(h.services).apps.get(number)).status == "result_ready"
    await h.sms_in(SERGEY["phone"], f"СТАТУС {number}")  # the directory says whose phone may see it
    asked = len(calls)
    await chat.send("/start")
    await chat.press("Сведения о себе")
    h.clock.advance(minutes=2)  # still verified; this update extends the identity: written last, after the asks
    await chat.press("фтизиатрия")
    assert len(calls) > asked and "QZ-" in chat.texts()
    assert {system for system, _ in calls} == {"citizen directory", "registries"}
    assert under_a_begun_unit(calls) == []


async def test_consent_by_sms_and_by_code_in_the_chat_ask_first(watched):
    h, calls = watched
    by_sms = await ask_about(Chat(h, 9102, "ru"), "ru", "Ерлан")
    reply = await h.sms_in(ERLAN["phone"], f"ДА {h.phone.code(ERLAN['phone'])}")
    assert reply.status_code == 200
    assert (await repos(h.services).apps.get(by_sms)).status == "result_ready"
    assert "Сергей И." in h.inbox(ERLAN["phone"])[-1]  # the reply says to whom: the directory was asked first

    requester = Chat(h, 9103, "ru")
    by_code = await ask_about(requester, "ru", "Ерлан")
    await requester.send(h.phone.code(ERLAN["phone"]))
    assert (await repos(h.services).apps.get(by_code)).status == "result_ready"
    assert calls and under_a_begun_unit(calls) == []


async def test_consent_in_the_subjects_chat_and_a_late_answer_ask_first(watched, server):
    h, calls = watched
    subject = await linked_subject(h, 9104, "ru", "logout")
    number = await ask_about(Chat(h, 9105, "ru"), "ru", "Айгерім")
    offer = h.drain(subject.user_id)[-1]
    server.set("registries", "fail")  # the result is owed from the queue, asked again by the worker
    await subject.press_data(offer.message_id, offer_buttons(h, offer)["cy"])
    await subject.identify("Айгерім")
    assert (await repos(h.services).apps.get(number)).status == "accepted"
    server.heal()

    async def answered() -> bool:
        return (await repos(h.services).apps.get(number)).status == "result_ready"

    await eventually(answered, 10.0)
    assert calls and under_a_begun_unit(calls) == []


async def test_a_notice_by_sms_has_its_phone_asked_before_the_unit(watched):
    """A status feed event owes a notice; with no chat to take it, it goes by SMS to the phone the directory
    registers — asked before the event's unit begins."""
    h, calls = watched
    event = {"number": "QZ-261125-0000778", "iin": AIGERIM["iin"], "service": "social_services_docs",
             "status": "accepted", "at": h.clock.now().isoformat(), "note": None}
    posted = await h.client.post(h.base + "/api/v1/applications/events", json=event,
                                 headers={"Authorization": "Bearer feed-token"})
    assert posted.status_code == 200 and posted.json()["result"] == "created"
    await h.delivered()
    assert any("QZ-261125-0000778" in text for text in h.inbox(AIGERIM["phone"]))
    assert ("citizen directory", False) in calls and under_a_begun_unit(calls) == []
