"""Complaint rules without the bot: the life cycle, numbers, and moves enforced atomically in SQL."""

from __future__ import annotations

import asyncio

from bot.core.complaints import Draft, Moved, NotMoved, normalize_number
from bot.domain import complaint_status as cs
from store.users import Identity
from tests.harness import CITIZENS


def test_life_cycle_per_addressee():
    assert cs.next_states("provider", "delivered") == ["registered"]
    assert cs.next_states("provider", "registered") == ["under_review", "answered", "refused_to_review"]
    # The quality authority reviews only what the provider forwarded — or the provider fully satisfied it first.
    assert cs.next_states("quality_authority", "registered") == ["forwarded", "satisfied_by_provider"]
    assert cs.allowed_from("provider", "satisfied_by_provider") == frozenset()
    assert cs.next_states("quality_authority", "forwarded") == ["under_review", "answered", "refused_to_review"]
    for addressee in cs.ADDRESSEES:
        for final in cs.FINAL_STATES:
            assert cs.next_states(addressee, final) == []
    assert cs.allowed_from("provider", "forwarded") == frozenset()
    assert cs.allowed_from("nobody", "registered") == frozenset()


def test_numbers_as_people_type_them():
    assert normalize_number("cp 261125 0012345") == "CP-261125-0012345"
    assert normalize_number("СР-261125-0012345") == "CP-261125-0012345"  # Cyrillic С and Р
    assert normalize_number("CP2611250012345") == "CP-261125-0012345"
    for bad in ("", "QZ-261125-0012345", "CP-2611-1", "💥" * 40, "CP-261125-0012345" * 300):
        assert normalize_number(bad) is None


async def _filed(h):
    citizen = CITIZENS["Айгерім"]
    identity = Identity(6101, citizen["iin"], citizen["phone"], h.clock.now(), h.clock.now())
    return await h.services.complaints.file(identity, 6101, Draft(
        addressee="provider", app_number=None, provider_name="Емхана", full_name=citizen["full_name"],
        address=citizen["address"], phone=citizen["phone"], body="Текст жалобы для проверки."))


async def test_two_operators_at_once_move_it_only_once_and_both_are_audited(h):
    c = await _filed(h)
    await h.services.staff.add("cli", 7201)
    await h.services.staff.add("cli", 7202)
    results = await asyncio.gather(h.services.complaints.move(7201, c.number, "registered"),
                                   h.services.complaints.move(7202, c.number, "registered"))
    assert sorted(type(r).__name__ for r in results) == ["Moved", "NotMoved"]
    events = await h.services.complaints.repo.events(c.number)
    assert [e.state for e in events] == ["delivered", "registered"]
    audit = [e for e in await h.services.staff._audit.recent(number=c.number) if e.action == "complaint_registered"]
    assert sorted(e.details["moved"] for e in audit) == [False, True]


async def test_an_answer_needs_its_text_and_skipping_a_mark_is_refused(h):
    c = await _filed(h)
    await h.services.staff.add("cli", 7203)
    assert await h.services.complaints.move(7203, c.number, "answered") == NotMoved("no_text")
    assert await h.services.complaints.move(7203, c.number, "answered", "Ответ") == NotMoved("not_allowed")
    assert await h.services.complaints.move(7203, "CP-000000-0000000", "registered") == NotMoved("not_found")
    assert isinstance(await h.services.complaints.move(7203, c.number, "registered"), Moved)
    moved = await h.services.complaints.move(7203, c.number, "refused_to_review", "  Повторная жалоба.  ")
    assert isinstance(moved, Moved) and moved.complaint.answer == "Повторная жалоба."


async def test_the_notice_goes_by_sms_in_the_state_language_when_no_chat_is_known(h):
    citizen = CITIZENS["Айгерім"]
    c = await _filed(h)
    await h.services.staff.add("cli", 7204)
    await h.services.complaints.move(7204, c.number, "registered")
    await h.services.sms.retry_queued()
    assert h.phone.last(citizen["phone"]) == f"Qyzmet: {c.number} шағым: тіркелді."
