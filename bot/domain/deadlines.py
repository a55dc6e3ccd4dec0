"""Every legal deadline of the six services and of complaints, in one place.

Sources: shared/domain.md (seeds [000]-[004]). All results are tz-aware datetimes in Asia/Almaty.

Decisions where the seeds leave room (change them here, nowhere else):

* Working-day terms count from the day after the event (Civil Code rule; facts.md), in Almaty
  local dates, and fall due at the END OF THE WORKING DAY, 18:30 local: the closing time the seeds
  give for S4 and S5 providers (Mon-Fri 9:00-18:30) and the usual state-body schedule. S4, S6 and
  complaints all use this same 18:30.
* "Accepted" day: a request that arrives on a day off, or on a working day at/after the cut-off,
  is accepted on the next working day (S4: "requests accepted until 18.00", so 18:00:00 itself is
  still the same day and 18:00:01 is not; S5/S6/complaints: 18:30, the end of the working day, is
  already after hours). Before the cut-off (including early morning, the portal runs 24/7) it is
  accepted the same day.
* S4, 1 working day: due at 18:30 on the first working day after the accepted day.
  Mon 17:59 -> Tue 18:30; Mon 18:01 -> accepted Tue -> Wed 18:30; Fri 18:01 -> accepted Mon -> Tue 18:30.
* S5, 3 hours: inside working hours (working day, 9:00 <= t < 18:30; lunch is not excluded, the
  standard does not exclude it) due = t + 3 h, even if that passes 18:30 (processing in ДҚАЖ is
  automated, 15 min). Outside them, accepted at 9:00 of the next working day (or of the same day
  if it is a working day and t < 9:00) -> due 12:00.
* S6, 17 working days, day of intake not counted: due 18:30 on the 17th working day after the
  accepted day.
* S1-S3, 30 minutes round the clock: due = t + 30 min.
* Complaints: 5 (provider) / 15 (quality authority) / 3 (forward) working days from the day after
  registration, registration on a day off or after 18:30 counting as registration on the next
  working day; due 18:30.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Final, Literal

from bot.domain import catalog as _catalog
from bot.domain.calendar import ALMATY, WorkingCalendar

__all__ = [
    "COMPLAINT_TERMS",
    "REGISTRY_SERVICES",
    "S4_CUTOFF",
    "SERVICES",
    "WORKDAY_END",
    "WORKDAY_START",
    "UnknownService",
    "accepted_at",
    "complaint_due_at",
    "due_at",
    "lateness",
    "overdue_working_days",
]

ComplaintKind = Literal["provider", "quality_authority", "forward"]

# The service codes come from the catalog: one list of services in the project.
REGISTRY_SERVICES: Final = frozenset(_catalog.REGISTRY_SERVICES)  # S1-S3
SERVICES: Final = frozenset(_catalog.SERVICES)

WORKDAY_START: Final = time(9, 0)
WORKDAY_END: Final = time(18, 30)
S4_CUTOFF: Final = time(18, 0)

REGISTRY_TERM: Final = timedelta(minutes=30)
S4_WORKING_DAYS: Final = 1
S5_TERM: Final = timedelta(hours=3)
S6_WORKING_DAYS: Final = 17
COMPLAINT_TERMS: Final[dict[str, int]] = {"provider": 5, "quality_authority": 15, "forward": 3}


UnknownService = _catalog.UnknownService


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a tz-aware datetime is required (naive times are ambiguous)")
    return moment.astimezone(ALMATY)


def _at(d: date, t: time) -> datetime:
    return datetime.combine(d, t, tzinfo=ALMATY)


def _accepted_day(
    local: datetime, cutoff: time, cal: WorkingCalendar, *, inclusive: bool = False
) -> date:
    """The working day a request counts from: same day if working and before `cutoff`, else next."""
    d = local.date()
    t = local.time()
    if cal.is_working_day(d) and (t <= cutoff if inclusive else t < cutoff):
        return d
    return cal.next_working_day(d)


def accepted_at(service: str, submitted_at: datetime, cal: WorkingCalendar) -> datetime:
    """When the legal clock starts for a request (what the "request accepted" notice shows).

    S1-S3: the moment of submission. S5: that moment inside working hours, otherwise 9:00 of the next
    working day. S4/S6: the submission moment if it is before the cut-off on a working day,
    otherwise 9:00 of the next working day.
    """
    local = _local(submitted_at)
    if service in REGISTRY_SERVICES:
        return local
    if service == "drug_provision":
        d = local.date()
        if cal.is_working_day(d):
            if local.time() < WORKDAY_START:
                return _at(d, WORKDAY_START)
            if local.time() < WORKDAY_END:
                return local
        return _at(cal.next_working_day(d), WORKDAY_START)
    if service == "sanatorium_conclusion":
        day = _accepted_day(local, S4_CUTOFF, cal, inclusive=True)
    elif service == "social_services_docs":
        day = _accepted_day(local, WORKDAY_END, cal)
    else:
        raise UnknownService(service)
    return local if day == local.date() else _at(day, WORKDAY_START)


def due_at(service: str, submitted_at: datetime, cal: WorkingCalendar) -> datetime:
    """The legal deadline of a service request, in Asia/Almaty (rules in the module docstring)."""
    local = _local(submitted_at)
    if service in REGISTRY_SERVICES:
        return (local + REGISTRY_TERM).astimezone(ALMATY)
    if service == "drug_provision":
        # Almaty has no DST since 2024, so adding hours to the local time is exact.
        return (accepted_at(service, local, cal) + S5_TERM).astimezone(ALMATY)
    if service == "sanatorium_conclusion":
        day = _accepted_day(local, S4_CUTOFF, cal, inclusive=True)
        return _at(cal.add_working_days(day, S4_WORKING_DAYS), WORKDAY_END)
    if service == "social_services_docs":
        day = _accepted_day(local, WORKDAY_END, cal)
        return _at(cal.add_working_days(day, S6_WORKING_DAYS), WORKDAY_END)
    raise UnknownService(service)


def complaint_due_at(
    kind: ComplaintKind, registered_at: datetime, cal: WorkingCalendar
) -> datetime:
    """Deadline of a complaint: 5 / 15 / 3 working days after the registration day, at 18:30."""
    try:
        term = COMPLAINT_TERMS[kind]
    except KeyError:
        raise ValueError(f"unknown complaint kind: {kind!r}") from None
    day = _accepted_day(_local(registered_at), WORKDAY_END, cal)
    return _at(cal.add_working_days(day, term), WORKDAY_END)


def lateness(due: datetime, now: datetime, still_open: bool, cal: WorkingCalendar) -> int | None:
    """The one rule for "is it late, and by how much": None when the matter is closed or not yet due;
    otherwise the working days past the due date (0 = late since today, or only days off since)."""
    if not still_open or now <= due:
        return None
    return overdue_working_days(due, now, cal)


def overdue_working_days(due: datetime, now: datetime, cal: WorkingCalendar) -> int:
    """Working days in (due date, today], Almaty dates; 0 when not overdue.

    It is also 0 when the deadline passed earlier the same day (or only days off have passed since):
    use `now > due` for "is it late", this number for "how late" in reports and escalations.
    """
    due_local, now_local = _local(due), _local(now)
    if now_local <= due_local:
        return 0
    return cal.working_days_between(due_local.date(), now_local.date())
