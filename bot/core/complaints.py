"""Complaints: filed by a citizen in the bot, moved through their marks and answered by an operator.

Deadlines follow version B of the rules ([001]): 5 working days for the head of the provider, 15 for the
authorised body for quality assessment and control, counted from registration; a complaint to that body is
filed with the provider, which forwards it within 3 working days. Until an operator registers a complaint its
due date is the one it would have if registered when it was filed (the bot is the provider's intake).
Only the filer (the verified IIN) sees a complaint; "not yours" and "no such number" get the same answer.

When QYZMET_COMPLAINTS_URL is set, a filed complaint is also delivered to the addressee's system through the
state outbox (in the unit of the filing), and the addressee's answers (registered with its incoming number,
forwarded, answered, refused) move the complaint by the same rules as an operator's moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from bot.clock import Clock
from bot.core import state_outbox
from bot.core.applications import TrackingService
from bot.core.notices import NoticeService
from bot.core.staff import StaffService
from bot.core.state_outbox import StateOutbox
from bot.domain import complaint_status as cs
from bot.domain.calendar import WorkingCalendar
from bot.domain.deadlines import complaint_due_at, lateness
from bot.domain.model import Complaint, ComplaintEvent, Identity
from bot.domain.numbers import COMPLAINTS
from bot.gateways.state_systems import (
    CitizenDirectory,
    ComplaintsIntake,
    StateSystemRejected,
    StateSystemUnavailable,
)
from store.complaints import ComplaintRepository
from store.db import Database
from store.state_outbox import StatePost

TEXT_LIMIT: Final = 3000
TEXT_MIN: Final = 10
ANSWER_LIMIT: Final = 2000
ADDRESS_LIMIT: Final = 300
PROVIDER_NAME_LIMIT: Final = 200
NOTICE_KEY: Final = "notice.complaint_state"
INCOMING_NUMBER_LIMIT: Final = 64
ACTOR_ADDRESSEE: Final = "addressee"
# The addressee's answers (POST /api/v1/complaints/events) and the marks they make.
ADDRESSEE_EVENTS: Final[dict[str, str]] = {"registered": cs.REGISTERED, "forwarded": cs.FORWARDED,
                                           "answered": cs.ANSWERED, "refused": cs.REFUSED}

def format_number(day: str, serial: int) -> str:
    return COMPLAINTS.format(day, serial)


def normalize_number(text: str) -> str | None:
    """"cp 261125 0012345", "СР-261125-0012345" (Cyrillic) -> "CP-261125-0012345"; None if not a number."""
    return COMPLAINTS.parse(text)


@dataclass(frozen=True)
class Applicant:
    """What the complaint must carry about the filer ([000] item 10), as the directory knows it."""
    full_name: str
    address: str
    phone: str | None


# What a complaint may be -----------------------------------------------------------------------------------
# The rules of a complaint's input, whichever channel takes it: the Telegram flow checks each answer with them as
# it is typed (handlers/telegram/citizen_complaints.py), and a Draft cannot be made that breaks one.

PROVIDER_NAME_MIN: Final = 3
ADDRESS_MIN: Final = 5
ANSWER_MIN: Final = 5
ATTACHMENT_KINDS: Final = ("photo", "document")


class InputRefused(ValueError):
    """A complaint's input breaks a rule: ``field`` (addressee, subject, provider, address, text, attachment;
    answer: an operator's), ``reason`` (unknown, missing, both, too_short, too_long) and the ``limit`` it broke,
    if any."""

    def __init__(self, field: str, reason: str, limit: int | None = None) -> None:
        super().__init__(f"complaint {field}: {reason}")
        self.field = field
        self.reason = reason
        self.limit = limit


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _bounded(field: str, text: str, least: int, most: int) -> str:
    if len(text) < least:
        raise InputRefused(field, "too_short", least)
    if len(text) > most:
        raise InputRefused(field, "too_long", most)
    return text


def provider_name(text: str) -> str:
    """The provider a complaint is about when no application is: one line, 3 to 200 characters."""
    return _bounded("provider", _one_line(text), PROVIDER_NAME_MIN, PROVIDER_NAME_LIMIT)


def postal_address(text: str) -> str:
    """The filer's postal address as they type it: one line, 5 to 300 characters."""
    return _bounded("address", _one_line(text), ADDRESS_MIN, ADDRESS_LIMIT)


def complaint_text(text: str) -> str:
    """The complaint itself: 10 to 3000 characters, without the blanks around it."""
    return _bounded("text", text.strip(), TEXT_MIN, TEXT_LIMIT)


def answer_text(text: str) -> str:
    """An operator's answer or reason for a refusal, as typed: 5 to 2000 characters, without the blanks around
    it. (The addressee's system is not refused: its text is cut to the limit, see ``addressee_event``.)"""
    return _bounded("answer", text.strip(), ANSWER_MIN, ANSWER_LIMIT)


def addressee(code: str) -> str:
    if code not in cs.ADDRESSEES:
        raise InputRefused("addressee", "unknown")
    return code


@dataclass(frozen=True)
class Draft:
    """A complaint as it is filed; made only within the rules above (InputRefused otherwise): a known
    addressee, about one application or one provider, the filer's address, the text, and at most one photo or
    document. The filer's name and phone come from the directory as they are."""
    addressee: str
    app_number: str | None
    provider_name: str | None
    full_name: str
    address: str
    phone: str | None
    body: str
    file_id: str | None = None
    file_kind: str | None = None

    def __post_init__(self) -> None:
        addressee(self.addressee)
        if (self.app_number is None) == (self.provider_name is None):
            raise InputRefused("subject", "missing" if self.app_number is None else "both")
        if self.provider_name is not None:
            object.__setattr__(self, "provider_name", provider_name(self.provider_name))
        if not self.address.strip():
            raise InputRefused("address", "missing")
        object.__setattr__(self, "body", complaint_text(self.body))
        if (self.file_id is None) != (self.file_kind is None) or (
                self.file_kind is not None and self.file_kind not in ATTACHMENT_KINDS):
            raise InputRefused("attachment", "unknown")


@dataclass(frozen=True)
class View:
    complaint: Complaint
    events: list[ComplaintEvent]
    overdue_days: int  # working days past the due date (0 if not late or already answered)
    late: bool
    forward_late: bool = False  # not yet forwarded to the quality authority and the 3 working days are over


@dataclass(frozen=True)
class Moved:
    complaint: Complaint


@dataclass(frozen=True)
class NotMoved:
    reason: str  # "not_found" | "not_allowed" | "no_text" | "not_staff"


@dataclass(frozen=True)
class AlreadyThere:
    """The addressee sent an answer the complaint has already (a repeat): nothing changed."""
    complaint: Complaint


class ComplaintService:
    def __init__(self, db: Database, repo: ComplaintRepository, directory: CitizenDirectory,
                 tracking: TrackingService, staff: StaffService, notices: NoticeService, calendar: WorkingCalendar,
                 clock: Clock, outbox: StateOutbox, intake: ComplaintsIntake | None = None) -> None:
        self._db = db
        self.repo = repo
        self._directory = directory
        self._tracking = tracking
        self._staff = staff
        self._notices = notices
        self._calendar = calendar
        self._clock = clock
        self._outbox = outbox
        self._intake = intake
        if intake is not None:
            outbox.serve(state_outbox.COMPLAINTS, self._deliver)

    @property
    def addressee_connected(self) -> bool:
        """Whether complaints go to the addressee's system (and its answers are taken)."""
        return self._intake is not None

    # The citizen -------------------------------------------------------------------------------------------

    async def applicant(self, identity: Identity) -> Applicant | None:
        """The filer's details from the directory; None when it cannot answer now."""
        try:
            citizen = await self._directory.person(identity.iin)
        except StateSystemUnavailable:
            return None
        if citizen is None:
            return Applicant("", "", identity.phone)
        return Applicant(citizen.full_name, citizen.address, identity.phone or citizen.phone)

    async def own_application(self, identity: Identity, user_id: int, text: str) -> str | None:
        """The number of one of the person's applications, as they typed or pressed it; None if not theirs."""
        found = await self._tracking.find(identity, user_id, text)
        return found[0].number if found else None

    def due_if_registered_now(self, addressee: str) -> datetime:
        return complaint_due_at(addressee, self._clock.now(), self._calendar)  # type: ignore[arg-type]

    async def file(self, identity: Identity, user_id: int, draft: Draft) -> Complaint:
        """File a complaint (a Draft keeps the input rules: see above)."""
        async with self._db.unit("complaint/file"):
            return await self._file(identity, user_id, draft)

    async def _file(self, identity: Identity, user_id: int, draft: Draft) -> Complaint:
        now = self._clock.now()
        number = await self._new_number(now)
        complaint = Complaint(
            number=number, user_id=user_id, iin=identity.iin, full_name=draft.full_name, address=draft.address,
            phone=draft.phone, addressee=draft.addressee, app_number=draft.app_number,
            provider_name=draft.provider_name, body=draft.body, file_id=draft.file_id, file_kind=draft.file_kind,
            state=cs.DELIVERED, filed_at=now, registered_at=None,
            forward_due_at=(complaint_due_at("forward", now, self._calendar)
                            if draft.addressee == "quality_authority" else None),
            due_at=complaint_due_at(draft.addressee, now, self._calendar),  # type: ignore[arg-type]
            answer=None, updated_at=now)
        await self.repo.add(complaint, "citizen")
        # To the addressee's system too, when it is connected (nothing is written otherwise).
        await self._outbox.owe(state_outbox.COMPLAINTS, number, {"number": number})
        return complaint

    async def _deliver(self, post: StatePost) -> None:
        """The complaint as the addressee's system receives it: its mandatory fields ([000] item 10: name, IIN,
        postal address and phone), what it is about, the text, and our number (the idempotency key)."""
        assert self._intake is not None
        complaint = await self.repo.get(str(post.payload.get("number")))
        if complaint is None:
            raise StateSystemRejected("no such complaint")
        await self._intake.deliver(intake_body(complaint))

    async def mine(self, identity: Identity) -> list[Complaint]:
        return await self.repo.for_iin(identity.iin)

    async def find(self, identity: Identity | None, text: str) -> View | None:
        """The filer's complaint by number; None alike for "no such number" and "someone else's"."""
        number = normalize_number(text)
        complaint = await self.repo.get(number) if number and identity else None
        if complaint is None or identity is None or complaint.iin != identity.iin:
            return None
        return await self._view(complaint)

    async def _view(self, complaint: Complaint) -> View:
        now = self._clock.now()
        late_by = lateness(complaint.due_at, now, cs.is_open(complaint.state), self._calendar)
        late, days = late_by is not None, late_by or 0
        forward_late = (complaint.forward_due_at is not None and complaint.state in cs.BEFORE_FORWARDING
                        and now > complaint.forward_due_at)
        return View(complaint, await self.repo.events(complaint.number), days, late, forward_late)

    async def _new_number(self, now: datetime) -> str:
        return await COMPLAINTS.fresh(now, self.repo.exists)

    # The operator ------------------------------------------------------------------------------------------

    async def view_for_operator(self, operator_id: int, text: str) -> View | None:
        async with self._db.unit("complaint/view"):
            if not await self._staff.is_operator(operator_id):
                return None
            number = normalize_number(text)
            complaint = await self.repo.get(number) if number else None
            await self._staff.audit(operator_id, "view_complaint", number or text[:40],
                                    {"found": complaint is not None})
            return await self._view(complaint) if complaint else None

    async def attachment_for_operator(self, operator_id: int, text: str) -> tuple[str, str] | None:
        """(file id, kind) of the photo or document attached to a complaint, for an operator; audited."""
        async with self._db.unit("complaint/attachment"):
            if not await self._staff.is_operator(operator_id):
                return None
            number = normalize_number(text)
            complaint = await self.repo.get(number) if number else None
            found = complaint is not None and complaint.file_id is not None
            await self._staff.audit(operator_id, "view_attachment", number or text[:40], {"found": found})
        if not found:
            return None
        assert complaint is not None and complaint.file_id is not None
        return complaint.file_id, complaint.file_kind or "document"

    async def open_list(self, operator_id: int, offset: int = 0, limit: int = 10) -> tuple[int, list[View]]:
        """Open complaints, the most overdue first; the view is audited."""
        async with self._db.unit("complaint/list"):
            if not await self._staff.is_operator(operator_id):
                return 0, []
            total, items = await self.repo.open_by_due(cs.FINAL_STATES, limit, max(offset, 0))
            await self._staff.audit(operator_id, "list_complaints",
                                    details={"offset": offset, "shown": len(items), "total": total})
            return total, [await self._view(c) for c in items]

    async def move(self, operator_id: int, number: str, to: str, text: str | None = None) -> Moved | NotMoved:
        """An operator's move: enforced by the life cycle and atomically in SQL, audited, told to the filer —
        one unit of work."""
        async with self._db.unit("complaint/move"):
            return await self._move(operator_id, number, to, text)

    async def _move(self, operator_id: int, number: str, to: str, text: str | None) -> Moved | NotMoved:
        if not await self._staff.is_operator(operator_id):
            return NotMoved("not_staff")
        complaint = await self.repo.get(number)
        if complaint is None:
            return NotMoved("not_found")
        return await self._apply(complaint, to, text, operator_id)

    async def addressee_event(self, number: str, event: str, incoming_number: str | None = None,
                              text: str | None = None) -> Moved | NotMoved | AlreadyThere:
        """The addressee's system answered (``registered`` with its incoming number, ``forwarded``, ``answered``
        with the text, ``refused`` with the reason): the complaint moves by the rules of an operator's move,
        audited with the actor "addressee", told to the filer — one unit of work. The same answer again
        changes nothing."""
        to = ADDRESSEE_EVENTS[event]
        async with self._db.unit("complaint/addressee"):
            complaint = await self.repo.get(number)
            if complaint is None:
                return NotMoved("not_found")
            if complaint.state == to:
                return AlreadyThere(complaint)
            incoming = (incoming_number or "").strip()[:INCOMING_NUMBER_LIMIT] or None
            return await self._apply(complaint, to, text, ACTOR_ADDRESSEE, incoming)

    async def _apply(self, complaint: Complaint, to: str, text: str | None, actor: int | str,
                     incoming_number: str | None = None) -> Moved | NotMoved:
        """One move of the life cycle, whoever makes it: checked atomically in SQL, audited, told to the filer."""
        number = complaint.number
        answer = (text or "").strip()[:ANSWER_LIMIT] or None
        if to in cs.NEEDS_TEXT and answer is None:
            return NotMoved("no_text")
        now = self._clock.now()
        registered_at = due_at = None
        if to == cs.REGISTERED:
            registered_at = now
            due_at = complaint_due_at(complaint.addressee, now, self._calendar)  # type: ignore[arg-type]
        moved = await self.repo.move(number, to, cs.allowed_from(complaint.addressee, to), now, str(actor),
                                     answer=answer if to in cs.NEEDS_TEXT else None,
                                     registered_at=registered_at, due_at=due_at, incoming_number=incoming_number)
        await self._staff.audit(actor, f"complaint_{to}", number,
                                {"from": complaint.state, "moved": moved,
                                 **({"answer_chars": len(answer)} if answer and to in cs.NEEDS_TEXT else {})})
        if not moved:
            return NotMoved("not_allowed")
        after = await self.repo.get(number)
        assert after is not None
        await self._notices.notify(NOTICE_KEY, {"number": number, "state": {"text": f"complaint.state.{to}"},
                                                "_open": {"complaint": number}},
                                   user_id=after.user_id, iin=after.iin)
        return Moved(after)


def intake_body(c: Complaint) -> dict[str, Any]:
    """``POST QYZMET_COMPLAINTS_URL/complaints``: what the addressee registers (see README, "State systems")."""
    return {
        "number": c.number, "filed_at": c.filed_at.astimezone(UTC).isoformat(timespec="seconds"),
        "addressee": c.addressee, "full_name": c.full_name, "iin": c.iin, "address": c.address, "phone": c.phone,
        "application": c.app_number, "provider": c.provider_name, "text": c.body,
        "attachment": c.file_kind,  # a photo or a document was attached in Telegram (the file stays there)
        "due_at": c.due_at.astimezone(UTC).isoformat(timespec="seconds"),
    }
