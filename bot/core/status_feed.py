"""The status feed: stage events of applications from providers' systems (the monitoring information
system), from ``qyzmet import`` files and from operators — one use case, ``StatusFeed.record``.

Contract (DESIGN.md): ``{"number", "iin", "service", "status", "at", "note"}``; the first event of a number
creates the application (submitted at ``at``); the same event twice changes nothing.

Decisions:
* ``at`` must carry its time zone (``Z`` or ``+05:00``): a naive time is rejected (400), because an hour's
  guess moves legal deadlines and the order of stages.
* The identity of an event is (number, status, at) (stored under a primary key, so repeats are atomic).
  A repeat is "duplicate" and changes nothing.
* The IIN and service of an event must be those of the application: otherwise 409, nothing changed.
* An application in a final status takes no more events (409).
* An event older than the application's latest stage is kept in the history but does not change the
  current status (deliveries may come out of order; the newest word stands). It notifies nobody.
* Otherwise the status must move forward (bot/domain/application_status.can_move); a step back or the
  same status again is 409. Every status change — including the creation — notifies the applicant.
* The note is optional, at most ``MAX_NOTE`` characters; it is shown in the history and, for a refusal,
  in the Telegram notice (never by SMS).
No audit for the system feed (operators' changes are audited by the staff service); logs mask the IIN.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from bot.clock import Clock
from bot.core.applications import normalize_number
from bot.core.notices import NoticeService, Reach
from bot.core.staff import StaffService
from bot.domain.application_status import FEED_STATUSES, can_move, is_open
from bot.domain.calendar import WorkingCalendar
from bot.domain.catalog import SERVICES
from bot.domain.deadlines import due_at, lateness
from bot.domain.iin import InvalidIIN, mask_iin, parse_iin
from bot.domain.model import Application
from store.applications import ApplicationRepository
from store.db import Database
from store.status_feed import Decision, StatusEventRepository

log = logging.getLogger(__name__)

MAX_NOTE = 500
Source = Literal["feed", "import", "operator"]
Result = Literal["created", "updated", "duplicate"]


class StatusEvent(BaseModel):
    """One event of the feed contract, validated and normalized (number canonical, ``at`` tz-aware)."""
    model_config = ConfigDict(extra="ignore", frozen=True)

    number: str
    iin: str
    service: str
    status: str
    at: datetime
    note: str | None = None

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, value: object) -> str:
        number = normalize_number(value) if isinstance(value, str) else None
        if number is None or not any(ch.isdigit() for ch in number):  # every numbering has digits ("BAD" not)
            raise ValueError("not an application number")
        return number

    @field_validator("iin", mode="before")
    @classmethod
    def _iin(cls, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError("the IIN must be a string of 12 digits")
        try:
            return parse_iin(value)
        except InvalidIIN as exc:
            raise ValueError(f"not a valid IIN ({exc.reason})") from None

    @field_validator("service", mode="before")
    @classmethod
    def _service(cls, value: object) -> str:
        if not isinstance(value, str) or value not in SERVICES:
            raise ValueError(f"unknown service code; one of {', '.join(SERVICES)}")
        return value

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> str:
        if not isinstance(value, str) or value not in FEED_STATUSES:
            raise ValueError(f"status must be one of {', '.join(FEED_STATUSES)}")
        return value

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: object) -> datetime:
        if not isinstance(value, str):
            raise ValueError("at must be an ISO 8601 string")
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("at is not ISO 8601") from None
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("at must carry its time zone, e.g. 2026-11-25T10:00:00+05:00")
        return moment

    @field_validator("note", mode="before")
    @classmethod
    def _note(cls, value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("note must be a string")
        value = value.strip()
        if len(value) > MAX_NOTE:
            raise ValueError(f"note is longer than {MAX_NOTE} characters")
        return value or None


def check_field(name: str, value: object) -> object:
    """One field (number, iin, service, status, at, note) checked and normalized exactly as in an event;
    ValueError saying why not. ``qyzmet seed`` checks its applications with it."""
    return getattr(StatusEvent, f"_{name}")(value)


class InvalidEvent(ValueError):
    """A malformed event (400): ``field`` names the offending field, when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Conflict(ValueError):
    """An event that contradicts the application (409); nothing was changed. ``code``: iin_differs,
    service_differs, final, backwards, no_application."""

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code


# Providers' clocks drift; an event stamped further ahead than this is refused rather than trusted.
FUTURE_TOLERANCE = timedelta(minutes=5)


def parse_event(data: object) -> StatusEvent:
    """A StatusEvent from decoded JSON, or InvalidEvent naming the first bad field."""
    if not isinstance(data, dict):
        raise InvalidEvent("the event must be a JSON object")
    try:
        return StatusEvent.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else None
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            message = "required"
        raise InvalidEvent(message, field) from None


@dataclass(frozen=True)
class Recorded:
    result: Result
    app: Application
    changed: bool  # the current status changed (and the applicant was notified)


class StatusFeed:
    def __init__(self, db: Database, apps: ApplicationRepository, events: StatusEventRepository,
                 notices: NoticeService, calendar: WorkingCalendar, clock: Clock) -> None:
        self._db = db
        self._apps = apps
        self._events = events
        self._notices = notices
        self._calendar = calendar
        self._clock = clock

    async def record(self, event: StatusEvent, source: Source = "feed") -> Recorded:
        """Apply one event (rules in the module docstring). Conflict on a 409 case; nothing changes then."""
        if event.at > self._clock.now() + FUTURE_TOLERANCE:
            raise InvalidEvent("at is in the future", "at")
        def decide(app: Application | None, last_at: datetime | None, duplicate: bool) -> Decision:
            if app is None:
                if source == "operator":
                    return Decision("rejected", "no such application", code="no_application")
                new = Application(event.number, event.service, event.iin, event.iin, None, "feed", event.at,
                                  due_at(event.service, event.at, self._calendar), event.status, None)
                return Decision("created", create=new, new_status=event.status)
            if app.iin != event.iin:
                return Decision("rejected", "the IIN differs from the application's", code="iin_differs")
            if app.service != event.service:
                return Decision("rejected", f"the service differs from the application's ({app.service})",
                                code="service_differs")
            if duplicate:
                return Decision("duplicate")
            if not is_open(app.status):
                return Decision("rejected", f"the application is already final ({app.status})", code="final")
            if last_at is not None and event.at < last_at:
                return Decision("updated")  # an older stage: history only, the current status stands
            if not can_move(app.status, event.status):
                return Decision("rejected", f"status cannot go from {app.status} to {event.status}",
                                code="backwards")
            return Decision("updated", new_status=event.status)

        # The decision, its writes and the notice it owes are one unit of work; a rejected or duplicate
        # event writes nothing. The notice's phone, if it goes by SMS, is asked of the directory first.
        known = await self._apps.get(event.number)
        reach = await self._notices.reach(known.iin if known else event.iin,
                                          known.requester_user_id if known else None)
        async with self._db.unit("feed/event"):
            # The rule reads the application and its history, then writes: deliveries of one number take turns
            # (on PostgreSQL units run at once, and two first events would both decide "created").
            await self._db.serialize(f"application:{event.number}")
            decision = await self._events.apply(event.number, event.status, event.at, event.note, source,
                                                self._clock.now(), decide)
            app = await self._apps.get(event.number)
            changed = decision.new_status is not None and decision.outcome in ("created", "updated")
            if changed and app is not None:
                await self.notify(app, event.note, reach)
        if decision.outcome == "rejected":
            log.info("status event for %s (%s) rejected: %s", event.number, mask_iin(event.iin), decision.reason)
            raise Conflict(decision.reason or "conflict", decision.code or "conflict")
        assert app is not None
        log.info("status event %s for %s (%s): %s%s", event.status, event.number, mask_iin(event.iin),
                 decision.outcome, "" if changed else " (status unchanged)")
        return Recorded(decision.outcome, app, changed)  # type: ignore[arg-type]

    async def notify(self, app: Application, note: str | None, reach: Reach | None = None) -> str:
        """The applicant's notice of a status change. A refusal says how to appeal it (a complaint, filed from
        the notice's button with the application filled in; the court); a change of an application past its
        due time says that it is overdue."""
        params: dict[str, Any] = {"number": app.number, "status": {"text": f"status.{app.status}"},
                        "service": {"text": f"service.{app.service}.short"}, "due": {"when": app.due_at.isoformat()},
                        "_open": {"application": app.number}}
        key = "notice.app_status"
        if app.status == "refused":
            key = "notice.app_refused"
            params = {**params, "note": note or "—", "_complain": {"application": app.number}}
        elif lateness(app.due_at, self._clock.now(), is_open(app.status), self._calendar) is not None:
            key = "notice.app_overdue"
            params = {**params, "_complain": {"application": app.number}}
        return await self._notices.notify(key, params, iin=app.iin, user_id=app.requester_user_id, reach=reach)

    async def application(self, number: str) -> Application | None:
        """An application by number, for tools that report stages of it (the demo's :feed)."""
        return await self._apps.get(number)

    async def set_by_operator(self, staff: StaffService, operator_id: int, number_text: str, status: str,
                              note: str | None) -> OperatorOutcome:
        """An operator sets the status of an existing application: the same rules as the feed (source
        'operator', at = now), audited whatever the outcome; the citizen is notified of a change."""
        if not await staff.is_operator(operator_id):
            return OperatorOutcome(number=number_text[:40], result="not_found")
        number = normalize_number(number_text) or number_text.strip()[:40]
        app = await self._apps.get(number)
        if app is None:
            await staff.audit(operator_id, "set_status", number, {"status": status[:20], "result": "not_found"})
            return OperatorOutcome(number=number, result="not_found")
        try:
            event = parse_event({"number": number, "iin": app.iin, "service": app.service, "status": status,
                                 "at": self._clock.now().isoformat(), "note": note})
            recorded = await self.record(event, "operator")
        except (InvalidEvent, Conflict) as exc:
            result = "invalid" if isinstance(exc, InvalidEvent) else "rejected"
            await staff.audit(operator_id, "set_status", number, {"status": status[:20], "result": result})
            code = exc.code if isinstance(exc, Conflict) else f"invalid_{exc.field or 'event'}"
            return OperatorOutcome(number=number, result=result, reason=str(exc), reason_code=code)
        await staff.audit(operator_id, "set_status", number,
                          {"status": status, "result": recorded.result, "changed": recorded.changed})
        return OperatorOutcome(number=number, result=recorded.result, changed=recorded.changed)


class OperatorOutcome(BaseModel):
    number: str
    result: str          # created/updated/duplicate, 'rejected', 'not_found', 'invalid'
    changed: bool = False
    reason: str | None = None
    reason_code: str | None = None  # Conflict.code, or "invalid_<field>" for a malformed event


