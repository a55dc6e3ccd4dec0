"""The core use cases on a real SQLite file, without Telegram or HTTP: consent, one-time codes, status feed
decisions, and the unit of work around them (a decision and what it owes people commit together or not at all).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from bot.clock import ShiftedClock
from bot.config import Settings
from bot.core import otp as otp_
from bot.core import outbox
from bot.core.conversation import AWAITING_CONSENT_CODE, MENU
from bot.core.registry_info import ConsentRequested, Delivered, NotAllowed, Refused
from bot.core.seed import Seed
from bot.core.status_feed import Conflict, parse_event
from bot.domain.model import Identity
from bot.gateways.sms_gateway import PrintingSmsGateway
from bot.services import Services
from tests.harness import CITIZENS, SEED
from tests.repos import repos

SERGEI, AIGERIM = CITIZENS["Сергей"], CITIZENS["Айгерім"]
REQUESTER_CHAT = 501


class Sent:
    def __init__(self) -> None:
        self.sms: list[tuple[str, str]] = []

    def __call__(self, to: str, text: str) -> None:
        self.sms.append((to, text))

    def code_to(self, phone: str) -> str:
        texts = [t for to, t in self.sms if to == phone]
        match = re.search(r"(?<!\d)(\d{6})(?!\d)", texts[-1])
        assert match, texts
        return match.group(1)


@pytest.fixture
async def core(database: str) -> AsyncIterator[tuple[Services, Sent, ShiftedClock]]:
    gateway, sent, clock = PrintingSmsGateway(), Sent(), ShiftedClock()
    gateway.listeners.append(sent)
    services = await Services.open(Settings(database=database, secret_key="k",
                                            _env_file=None), clock=clock, sms_gateway=gateway)
    await services.load_seed(Seed.model_validate(SEED))
    yield services, sent, clock
    await services.close()


def identity(citizen: dict, clock: ShiftedClock, user_id: int = REQUESTER_CHAT) -> Identity:
    now = clock.now()
    return Identity(user_id, citizen["iin"], citizen["phone"], now, now)


async def request(services: Services, clock: ShiftedClock) -> ConsentRequested:
    result = await services.consents.submit_third_party(identity(SERGEI, clock), REQUESTER_CHAT, "tb_info",
                                                              AIGERIM["iin"], "ru")
    assert isinstance(result, ConsentRequested)
    return result


async def test_a_consent_request_owes_the_subject_one_sms_with_a_code(core):
    services, sent, clock = core
    requested = await request(services, clock)
    to_subject = [t for to, t in sent.sms if to == AIGERIM["phone"]]
    assert len(to_subject) == 1 and re.search(r"\d{6}", to_subject[0])
    assert "Сергей" in to_subject[0] and SERGEI["iin"] not in to_subject[0]
    consent = await repos(services).apps.consent(requested.app.number)
    assert consent is not None and consent.status == "pending"


async def test_the_right_code_gives_the_result_and_tells_the_subject(core):
    services, sent, clock = core
    requested = await request(services, clock)
    code = sent.code_to(AIGERIM["phone"])
    result = await services.consents.confirm_with_code(identity(SERGEI, clock), REQUESTER_CHAT,
                                                            requested.app.number, code)
    assert isinstance(result, Delivered) and result.certificate.full_name == AIGERIM["full_name"]
    app = await repos(services).apps.get(requested.app.number)
    assert app is not None and app.status == "result_ready"
    history = [(e.status, e.note) for e in await repos(services).apps.events(app.number)]
    assert history == [("awaiting_consent", None), ("accepted", "consent:otp"), ("result_ready", None)]
    await services.sms.process_due()  # the "your data was given" notice goes through the worker
    assert any(app.number not in t and "Сергей" in t for to, t in sent.sms[1:] if to == AIGERIM["phone"])


async def test_a_consent_given_by_sms_owes_the_requester_the_result_in_their_chat(core):
    services, _, clock = core
    requested = await request(services, clock)
    await services.conversation.set_state(REQUESTER_CHAT, AWAITING_CONSENT_CODE, {"number": requested.app.number})
    result = await services.consents.give_consent(requested.app.number, "sms")
    assert isinstance(result, Delivered)
    assert await repos(services).telegram.statuses(REQUESTER_CHAT) == [("consent_given", "queued")]
    assert (await services.conversation.state(REQUESTER_CHAT)).state == MENU  # no longer waits for a code


async def test_the_decision_and_what_it_owes_commit_together_or_not_at_all(core):
    services, sent, clock = core
    requested = await request(services, clock)
    before = len(sent.sms)
    with pytest.raises(RuntimeError):
        async with services.db.unit("caller"):
            assert await services.consents.give_consent(requested.app.number, "sms") is not None
            raise RuntimeError("the process failed before its commit")
    consent = await repos(services).apps.consent(requested.app.number)
    assert consent is not None and consent.status == "pending"  # nothing of it stayed
    assert await repos(services).telegram.statuses(REQUESTER_CHAT) == []
    await services.sms.process_due()
    assert len(sent.sms) == before  # and nothing was sent for it


async def test_five_wrong_codes_refuse_the_request_with_the_rules_ground(core):
    services, _, clock = core
    requested = await request(services, clock)
    me = identity(SERGEI, clock)
    results = [await services.consents.confirm_with_code(me, REQUESTER_CHAT, requested.app.number, "000000")
               for _ in range(5)]
    assert [r.attempts_left for r in results[:4]] == [4, 3, 2, 1]  # type: ignore[union-attr]
    assert isinstance(results[4], Refused) and results[4].note == "wrong_code"
    app = await repos(services).apps.get(requested.app.number)
    assert app is not None and (app.status, app.refusal_ground) == ("refused", "no_consent")


async def test_only_the_identified_subject_may_decide(core):
    services, _, clock = core
    requested = await request(services, clock)
    someone = identity(SERGEI, clock, user_id=777)
    assert isinstance(await services.consents.decide_as_subject(None, requested.app.number, True), NotAllowed)
    assert isinstance(await services.consents.decide_as_subject(someone, requested.app.number, True),
                      NotAllowed)
    assert isinstance(await services.consents.decide_as_subject(someone, "QZ-000000-0000000", True),
                      NotAllowed)
    subject = identity(AIGERIM, clock, user_id=778)
    assert isinstance(await services.consents.decide_as_subject(subject, requested.app.number, False), Refused)


async def test_an_expired_consent_is_refused_once_and_the_requester_is_told(core):
    services, _, clock = core
    requested = await request(services, clock)
    clock.advance(minutes=11)
    assert [r.app.number for r in await services.consents.expire_due()] == [requested.app.number]
    assert await services.consents.expire_due() == []
    assert await repos(services).telegram.statuses(REQUESTER_CHAT) == [("consent_expired", "queued")]


async def test_otp_codes_are_single_use_limited_in_tries_and_bound_to_their_request(core):
    services, _, _ = core
    otps = services.otps
    async with services.db.unit("test"):
        issued = await otps.issue("identify", "a", SERGEI["phone"])
    assert isinstance(issued, otp_.Issued)
    assert isinstance(await otps.verify("identify", "b", issued.code), otp_.NoValidCode)  # another request
    assert isinstance(await otps.verify("identify", "a", issued.code), otp_.Verified)
    assert isinstance(await otps.verify("identify", "a", issued.code), otp_.NoValidCode)  # used
    async with services.db.unit("test"):
        assert isinstance(await otps.issue("identify", "a", SERGEI["phone"]), otp_.TooSoon)


async def test_feed_decisions_duplicate_backwards_and_final(core):
    services, _, _ = core
    base = {"number": "QZ-261125-0000900", "iin": SERGEI["iin"], "service": "drug_provision",
            "at": "2026-11-25T10:00:00+05:00"}
    assert (await services.feed.record(parse_event({**base, "status": "accepted"}))).result == "created"
    assert (await services.feed.record(parse_event({**base, "status": "accepted"}))).result == "duplicate"
    later = {**base, "at": "2026-11-26T10:00:00+05:00"}
    assert (await services.feed.record(parse_event({**later, "status": "in_progress"}))).changed
    with pytest.raises(Conflict):
        await services.feed.record(parse_event({**later, "status": "accepted", "at": "2026-11-27T10:00:00+05:00"}))
    app = await repos(services).apps.get(base["number"])
    assert app is not None and app.status == "in_progress"


@pytest.mark.parametrize(("kind", "failure", "attempts", "expected"), [
    (outbox.NOTICE, outbox.Failure("blocked"), 0, outbox.Fallback),
    (outbox.CONSENT_OUTCOME, outbox.Failure("blocked"), 0, outbox.GiveUp),
    (outbox.MESSAGES, outbox.Failure("rate_limited", 3.0), 0, outbox.Retry),
    (outbox.MESSAGES, outbox.Failure("network"), 0, outbox.Retry),
    (outbox.MESSAGES, outbox.Failure("network"), outbox.MAX_ATTEMPTS - 1, outbox.GiveUp),
    (outbox.NOTICE, outbox.Failure("network"), outbox.MAX_ATTEMPTS - 1, outbox.Fallback),
])
def test_the_delivery_policy(kind, failure, attempts, expected):
    decision = outbox.after_failure(kind, attempts, failure)
    assert isinstance(decision, expected)
    if isinstance(decision, outbox.Retry) and failure.kind == "rate_limited":
        assert decision.delay == 3.0
