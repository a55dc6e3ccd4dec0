"""Working-day calendar (holidays 0.109 + overrides) and every legal deadline, pinned on 2026 dates."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.calendar import ALMATY, WorkingCalendar
from bot.domain.deadlines import (
    SERVICES,
    UnknownService,
    accepted_at,
    complaint_due_at,
    due_at,
    overdue_working_days,
)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar.from_file(None)


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=ALMATY)


# ---------------------------------------------------------------- what the holidays package says


DAYS_OFF_2026 = [
    date(2026, 1, 1),  # Thu, New Year
    date(2026, 1, 2),  # Fri, New Year
    date(2026, 1, 7),  # Wed, Orthodox Christmas
    date(2026, 3, 8),  # Sun, Women's Day ...
    date(2026, 3, 9),  # ... carried over to Monday
    date(2026, 3, 21), date(2026, 3, 22), date(2026, 3, 23),  # Nauryz Sat-Mon
    date(2026, 3, 24), date(2026, 3, 25),  # Nauryz carried over (Sat, Sun -> Tue, Wed)
    date(2026, 5, 1),  # Fri, Unity Day
    date(2026, 5, 7),  # Thu, Defender's Day
    date(2026, 5, 9), date(2026, 5, 11),  # Sat Victory Day -> Mon
    date(2026, 5, 27),  # Wed, Kurban ait (package: "estimated")
    date(2026, 7, 6),  # Mon, Capital Day
    date(2026, 10, 25), date(2026, 10, 26),  # Sun Republic Day -> Mon
    date(2026, 12, 16),  # Wed, Independence Day
    date(2027, 1, 1), date(2027, 1, 2), date(2027, 1, 4),  # Fri, Sat -> Mon
    date(2027, 1, 7),  # Thu
]

WORKING_2026 = [
    date(2026, 1, 5),  # Mon after New Year: no transfer in the package
    date(2026, 1, 6),
    date(2026, 1, 8),
    date(2026, 3, 10),
    date(2026, 3, 20),  # Fri before Nauryz
    date(2026, 3, 26),  # Thu after Nauryz
    date(2026, 5, 8),  # Fri between 7 and 9 May: no bridge day in the package
    date(2026, 7, 7),
    date(2026, 8, 31),  # Mon: 30 August is no longer a holiday in 2026, nothing carried over
    date(2026, 10, 27),
    date(2026, 12, 17),  # 17 December is not a holiday
    date(2026, 12, 31),  # Thu: not a day off
    date(2027, 1, 5),
    date(2027, 1, 8),
]


@pytest.mark.parametrize("d", DAYS_OFF_2026)
def test_days_off(cal: WorkingCalendar, d: date) -> None:
    assert not cal.is_working_day(d)
    assert cal.holiday_name(d)


@pytest.mark.parametrize("d", WORKING_2026)
def test_working_days(cal: WorkingCalendar, d: date) -> None:
    assert cal.is_working_day(d)


def test_constitution_day_not_a_holiday_in_2026(cal: WorkingCalendar) -> None:
    assert cal.holiday_name(date(2026, 8, 30)) is None  # a Sunday, weekend only
    assert cal.holiday_name(date(2027, 3, 15)) is not None  # moved to 15 March from 2027


def test_weekends(cal: WorkingCalendar) -> None:
    assert not cal.is_working_day(date(2026, 11, 28))  # Sat
    assert not cal.is_working_day(date(2026, 11, 29))  # Sun
    assert cal.is_working_day(date(2026, 11, 30))  # Mon


def test_package_transfers_up_to_2025_are_kept(cal: WorkingCalendar) -> None:
    assert cal.is_working_day(date(2025, 1, 5))  # Sunday made a working day
    assert not cal.is_working_day(date(2025, 1, 3))  # the Friday it bought


def test_years_extend_lazily(cal: WorkingCalendar) -> None:
    assert not cal.is_working_day(date(2031, 12, 16))
    assert not cal.is_working_day(date(2019, 1, 1))


# ---------------------------------------------------------------- arithmetic


def test_next_working_day(cal: WorkingCalendar) -> None:
    assert cal.next_working_day(date(2026, 3, 20)) == date(2026, 3, 26)
    assert cal.next_working_day(date(2026, 3, 19)) == date(2026, 3, 20)
    assert cal.next_working_day(date(2026, 12, 31)) == date(2027, 1, 5)
    assert cal.next_working_day(date(2026, 5, 8)) == date(2026, 5, 12)


def test_add_working_days(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(date(2026, 3, 19), 0) == date(2026, 3, 19)
    assert cal.add_working_days(date(2026, 3, 19), 1) == date(2026, 3, 20)
    assert cal.add_working_days(date(2026, 3, 19), 2) == date(2026, 3, 26)
    assert cal.add_working_days(date(2026, 3, 21), 1) == date(2026, 3, 26)  # from a day off
    assert cal.add_working_days(date(2026, 12, 30), 3) == date(2027, 1, 6)
    with pytest.raises(ValueError):
        cal.add_working_days(date(2026, 1, 1), -1)


def test_working_days_between(cal: WorkingCalendar) -> None:
    assert cal.working_days_between(date(2026, 3, 20), date(2026, 3, 27)) == 2  # 26, 27
    assert cal.working_days_between(date(2026, 3, 20), date(2026, 3, 20)) == 0
    assert cal.working_days_between(date(2026, 3, 27), date(2026, 3, 20)) == 0
    # March 2026: 22 weekdays minus 9 March and 23-25 March
    assert cal.working_days_between(date(2026, 2, 28), date(2026, 3, 31)) == 18


def test_agrees_with_holidays_helpers(cal: WorkingCalendar) -> None:
    import holidays

    h = holidays.country_holidays("KZ", years=[2026, 2027])
    d = date(2026, 1, 1)
    while d < date(2027, 2, 1):
        assert cal.is_working_day(d) == h.is_working_day(d), d
        assert cal.add_working_days(d, 17) == h.get_nth_working_day(d, 17), d
        d += timedelta(days=1)


@settings(max_examples=60, deadline=None)
@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31)), st.integers(0, 40))
def test_add_and_between_are_inverse(d: date, n: int) -> None:
    cal = _SHARED
    end = cal.add_working_days(d, n)
    assert cal.working_days_between(d, end) == n
    if n:
        assert cal.is_working_day(end)


_SHARED = WorkingCalendar()


# ---------------------------------------------------------------- overrides


def test_bundled_overrides_file_is_empty_with_comment() -> None:
    path = Path(__file__).parents[2] / "bot" / "domain" / "calendar_overrides.json"
    data = json.loads(path.read_text("utf-8"))
    assert data["_comment"]
    assert data["days_off"] == {} and data["working_days"] == []


def test_overrides_from_file(tmp_path: Path) -> None:
    f = tmp_path / "cal.json"
    f.write_text(
        json.dumps(
            {
                "_comment": "test decree",
                "days_off": {"2026-03-20": "Transferred day off (test)"},
                "working_days": ["2026-03-28"],
            }
        ),
        "utf-8",
    )
    cal = WorkingCalendar.from_file(f)
    assert not cal.is_working_day(date(2026, 3, 20))
    assert cal.holiday_name(date(2026, 3, 20)) == "Transferred day off (test)"
    assert cal.is_working_day(date(2026, 3, 28))  # a Saturday
    assert cal.holiday_name(date(2026, 3, 28)) is None
    assert cal.next_working_day(date(2026, 3, 19)) == date(2026, 3, 26)
    assert cal.add_working_days(date(2026, 3, 26), 2) == date(2026, 3, 28)
    # deadlines follow the overrides
    assert due_at("sanatorium_conclusion", at(2026, 3, 19, 10), cal) == at(2026, 3, 26, 18, 30)


def test_override_on_a_holiday_can_make_it_working() -> None:
    cal = WorkingCalendar(extra_working_days={date(2026, 1, 2)})
    assert cal.is_working_day(date(2026, 1, 2))


@pytest.mark.parametrize(
    "payload",
    [
        {"days_off": {"2026-03-20": "x"}, "working_days": ["2026-03-20"]},  # both
        {"days_off": {"20.03.2026": "x"}},
        {"working_days": [20260320]},
        {"day_off": {}},  # typo
        {"days_off": []},
        [],
    ],
)
def test_bad_override_files(tmp_path: Path, payload: object) -> None:
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(payload), "utf-8")
    with pytest.raises(ValueError):
        WorkingCalendar.from_file(f)


# ---------------------------------------------------------------- S1-S3: 30 minutes round the clock


@pytest.mark.parametrize("service", ["tb_info", "psychiatry_info", "narcology_info"])
def test_registry_services_30_minutes(cal: WorkingCalendar, service: str) -> None:
    assert due_at(service, at(2026, 3, 21, 3, 0), cal) == at(2026, 3, 21, 3, 30)  # Nauryz, night


def test_30_minutes_across_midnight_and_year(cal: WorkingCalendar) -> None:
    assert due_at("tb_info", at(2026, 12, 31, 23, 45), cal) == at(2027, 1, 1, 0, 15)


def test_utc_input_gives_almaty_due(cal: WorkingCalendar) -> None:
    submitted = datetime(2026, 12, 31, 18, 45, tzinfo=UTC)  # 23:45 in Almaty
    due = due_at("tb_info", submitted, cal)
    assert due == at(2027, 1, 1, 0, 15)
    assert due.tzinfo == ALMATY
    assert (due.year, due.month, due.day, due.hour, due.minute) == (2027, 1, 1, 0, 15)
    assert due.utcoffset() == timedelta(hours=5)


# ---------------------------------------------------------------- S4: 1 working day, 18:00 cut-off


S4 = "sanatorium_conclusion"


def test_s4_cutoff(cal: WorkingCalendar) -> None:
    # Monday 23 Nov 2026
    assert due_at(S4, at(2026, 11, 23, 17, 59), cal) == at(2026, 11, 24, 18, 30)
    assert due_at(S4, at(2026, 11, 23, 18, 0), cal) == at(2026, 11, 24, 18, 30)
    assert due_at(S4, at(2026, 11, 23, 18, 0, 1), cal) == at(2026, 11, 25, 18, 30)
    assert due_at(S4, at(2026, 11, 23, 18, 1), cal) == at(2026, 11, 25, 18, 30)
    assert due_at(S4, at(2026, 11, 23, 7, 0), cal) == at(2026, 11, 24, 18, 30)


def test_s4_friday_evening(cal: WorkingCalendar) -> None:
    # Friday 27 Nov 2026
    assert due_at(S4, at(2026, 11, 27, 17, 59), cal) == at(2026, 11, 30, 18, 30)  # Monday
    assert accepted_at(S4, at(2026, 11, 27, 18, 1), cal) == at(2026, 11, 30, 9, 0)  # Monday
    assert due_at(S4, at(2026, 11, 27, 18, 1), cal) == at(2026, 12, 1, 18, 30)  # Tuesday
    assert due_at(S4, at(2026, 11, 28, 12, 0), cal) == at(2026, 12, 1, 18, 30)  # Saturday


def test_s4_before_holidays(cal: WorkingCalendar) -> None:
    # Friday 20 March before Nauryz (21-25 March off)
    assert due_at(S4, at(2026, 3, 20, 17, 59), cal) == at(2026, 3, 26, 18, 30)
    assert due_at(S4, at(2026, 3, 20, 18, 1), cal) == at(2026, 3, 27, 18, 30)
    # Wednesday 6 May before 7 May (Thu off); 9 May Sat -> 11 May Mon off
    assert due_at(S4, at(2026, 5, 6, 17, 59), cal) == at(2026, 5, 8, 18, 30)
    assert due_at(S4, at(2026, 5, 6, 18, 1), cal) == at(2026, 5, 12, 18, 30)
    # On the holiday itself: accepted next working day
    assert due_at(S4, at(2026, 12, 16, 10, 0), cal) == at(2026, 12, 18, 18, 30)
    # 31 Dec 2026 evening -> accepted 5 Jan 2027 -> due 6 Jan
    assert due_at(S4, at(2026, 12, 31, 19, 0), cal) == at(2027, 1, 6, 18, 30)


def test_s4_utc_input(cal: WorkingCalendar) -> None:
    # 12:59 UTC = 17:59 Almaty (same day); 13:01 UTC = 18:01 Almaty
    assert due_at(S4, datetime(2026, 11, 23, 12, 59, tzinfo=UTC), cal) == at(2026, 11, 24, 18, 30)
    assert due_at(S4, datetime(2026, 11, 23, 13, 1, tzinfo=UTC), cal) == at(2026, 11, 25, 18, 30)


# ---------------------------------------------------------------- S5: 3 hours, working hours 9:00-18:30


S5 = "drug_provision"


def test_s5_in_hours(cal: WorkingCalendar) -> None:
    assert due_at(S5, at(2026, 11, 24, 10, 0), cal) == at(2026, 11, 24, 13, 0)
    assert due_at(S5, at(2026, 11, 24, 13, 30), cal) == at(2026, 11, 24, 16, 30)  # lunch not excluded
    assert due_at(S5, at(2026, 11, 24, 18, 29), cal) == at(2026, 11, 24, 21, 29)
    assert due_at(S5, at(2026, 11, 24, 9, 0), cal) == at(2026, 11, 24, 12, 0)


def test_s5_night_and_weekend(cal: WorkingCalendar) -> None:
    assert due_at(S5, at(2026, 11, 24, 18, 30), cal) == at(2026, 11, 25, 12, 0)  # closing time
    assert due_at(S5, at(2026, 11, 24, 23, 50), cal) == at(2026, 11, 25, 12, 0)
    assert due_at(S5, at(2026, 11, 25, 3, 0), cal) == at(2026, 11, 25, 12, 0)  # early morning
    assert accepted_at(S5, at(2026, 11, 25, 3, 0), cal) == at(2026, 11, 25, 9, 0)
    assert due_at(S5, at(2026, 11, 28, 11, 0), cal) == at(2026, 11, 30, 12, 0)  # Saturday -> Monday
    assert due_at(S5, at(2026, 11, 27, 20, 0), cal) == at(2026, 11, 30, 12, 0)  # Friday night
    assert due_at(S5, at(2026, 3, 20, 19, 0), cal) == at(2026, 3, 26, 12, 0)  # before Nauryz
    assert due_at(S5, at(2026, 12, 31, 22, 0), cal) == at(2027, 1, 5, 12, 0)  # year end


def test_s5_utc_input(cal: WorkingCalendar) -> None:
    # 2026-11-24 05:00 UTC = 10:00 Almaty
    due = due_at(S5, datetime(2026, 11, 24, 5, 0, tzinfo=UTC), cal)
    assert due == at(2026, 11, 24, 13, 0) and due.tzinfo == ALMATY


# ---------------------------------------------------------------- S6: 17 working days


S6 = "social_services_docs"


def test_s6_across_year_end(cal: WorkingCalendar) -> None:
    # Thu 24 Dec 2026: 25, 28, 29, 30, 31 Dec (5); 1, 2 (Sat), 4 Jan off; 5, 6 (7); 7 off;
    # 8, 11-15 (13); 18-21 (17)
    assert due_at(S6, at(2026, 12, 24, 10, 0), cal) == at(2027, 1, 21, 18, 30)
    # Mon 28 Dec: 29-31 Dec (3); 5, 6 Jan (5); 8 (6); 11-15 (11); 18-22 (16); 25 (17)
    assert due_at(S6, at(2026, 12, 28, 10, 0), cal) == at(2027, 1, 25, 18, 30)


def test_s6_intake_day_not_counted(cal: WorkingCalendar) -> None:
    # Mon 2 Nov 2026 -> 17 working days from Tue 3 Nov -> Wed 25 Nov
    assert due_at(S6, at(2026, 11, 2, 10, 0), cal) == at(2026, 11, 25, 18, 30)
    # after hours or on a weekend: intake is the next working day
    assert due_at(S6, at(2026, 11, 2, 18, 30), cal) == at(2026, 11, 26, 18, 30)
    assert due_at(S6, at(2026, 10, 31, 10, 0), cal) == at(2026, 11, 25, 18, 30)  # Sat -> Mon 2 Nov


def test_s6_over_december_holidays(cal: WorkingCalendar) -> None:
    # Mon 7 Dec 2026: 8-11 (4), 14-15 (6), 16 off, 17-18 (8), 21-25 (13), 28-31 (17)
    start = date(2026, 12, 7)
    end = cal.add_working_days(start, 17)
    assert end == date(2026, 12, 31)
    assert due_at(S6, at(2026, 12, 7, 9, 0), cal) == at(2026, 12, 31, 18, 30)


# ---------------------------------------------------------------- complaints


def test_complaint_terms(cal: WorkingCalendar) -> None:
    reg = at(2026, 3, 16, 10, 0)  # Monday before Nauryz
    assert complaint_due_at("forward", reg, cal) == at(2026, 3, 19, 18, 30)
    assert complaint_due_at("provider", reg, cal) == at(2026, 3, 26, 18, 30)
    # 17-20 Mar (4), 26-27 (6), 30 Mar - 3 Apr (11), 6-9 Apr (15)
    assert complaint_due_at("quality_authority", reg, cal) == at(2026, 4, 9, 18, 30)


def test_complaint_registered_on_day_off_or_late(cal: WorkingCalendar) -> None:
    # Saturday 28 Nov -> registered Mon 30 Nov -> 5 WD -> Mon 7 Dec
    assert complaint_due_at("provider", at(2026, 11, 28, 12, 0), cal) == at(2026, 12, 7, 18, 30)
    # Friday 27 Nov 20:00 -> same
    assert complaint_due_at("provider", at(2026, 11, 27, 20, 0), cal) == at(2026, 12, 7, 18, 30)
    # Friday 27 Nov 12:00 -> 30 Nov .. 4 Dec -> Fri 4 Dec
    assert complaint_due_at("provider", at(2026, 11, 27, 12, 0), cal) == at(2026, 12, 4, 18, 30)


def test_complaint_unknown_kind(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError):
        complaint_due_at("court", at(2026, 1, 5), cal)  # type: ignore[arg-type]


# ---------------------------------------------------------------- overdue


def test_overdue_working_days(cal: WorkingCalendar) -> None:
    due = at(2026, 3, 20, 18, 30)  # Friday before Nauryz
    assert overdue_working_days(due, at(2026, 3, 20, 18, 0), cal) == 0
    assert overdue_working_days(due, at(2026, 3, 20, 19, 0), cal) == 0  # late, same day
    assert overdue_working_days(due, at(2026, 3, 25, 12, 0), cal) == 0  # only days off since
    assert overdue_working_days(due, at(2026, 3, 26, 9, 0), cal) == 1
    assert overdue_working_days(due, at(2026, 3, 30, 9, 0), cal) == 3
    utc_now = datetime(2026, 3, 26, 3, 0, tzinfo=UTC)  # 08:00 Almaty
    assert overdue_working_days(due, utc_now, cal) == 1


# ---------------------------------------------------------------- errors and properties


def test_naive_datetime_rejected(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError):
        due_at("tb_info", datetime(2026, 1, 5, 10, 0), cal)
    with pytest.raises(ValueError):
        complaint_due_at("provider", datetime(2026, 1, 5, 10, 0), cal)
    with pytest.raises(ValueError):
        overdue_working_days(datetime(2026, 1, 5), at(2026, 1, 6), cal)


def test_unknown_service(cal: WorkingCalendar) -> None:
    with pytest.raises(UnknownService):
        due_at("passport", at(2026, 1, 5), cal)
    with pytest.raises(UnknownService):
        accepted_at("passport", at(2026, 1, 5), cal)
    assert issubclass(UnknownService, ValueError)


_moments = st.datetimes(
    min_value=datetime(2025, 12, 1), max_value=datetime(2027, 2, 1), timezones=st.just(ALMATY)
)


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(sorted(SERVICES)), _moments, st.integers(0, 72 * 60))
def test_due_is_later_aware_and_monotonic(service: str, t: datetime, minutes: int) -> None:
    cal = _SHARED
    due = due_at(service, t, cal)
    assert due > t
    assert due.tzinfo == ALMATY
    later = t + timedelta(minutes=minutes)
    assert due_at(service, later, cal) >= due
    start = accepted_at(service, t, cal)
    assert t <= start <= due
    if service in ("sanatorium_conclusion", "social_services_docs"):
        assert cal.is_working_day(due.date()) and (due.hour, due.minute) == (18, 30)


@settings(max_examples=40, deadline=None)
@given(_moments, st.sampled_from(["provider", "quality_authority", "forward"]))
def test_complaint_due_is_working_day(t: datetime, kind: str) -> None:
    due = complaint_due_at(kind, t, _SHARED)  # type: ignore[arg-type]
    assert _SHARED.is_working_day(due.date()) and due > t
    assert overdue_working_days(due, t, _SHARED) == 0
