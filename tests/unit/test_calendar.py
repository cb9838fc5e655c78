"""When production starts, when a parcel leaves and when it arrives (``catalog.calendar``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from pressline.catalog.calendar import ProductionCalendar, add_business_days

GOOD_FRIDAY = date(2026, 4, 3)
EASTER_MONDAY = date(2026, 4, 6)
WEEKEND = frozenset({5, 6})


def calendar(
    zone: str = "Europe/Berlin",
    *,
    cut_off: str = "14:00",
    lead_days: int = 1,
    closed: frozenset[int] = WEEKEND,
    holidays: frozenset[date] = frozenset({GOOD_FRIDAY, EASTER_MONDAY}),
) -> ProductionCalendar:
    return ProductionCalendar(
        timezone=ZoneInfo(zone),
        cut_off=time.fromisoformat(cut_off),
        lead_days=lead_days,
        closed_weekdays=closed,
        holidays=holidays,
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- production start ---------------------------------------------------------------


def test_an_order_before_the_cut_off_starts_the_same_day() -> None:
    # 11:00 in Berlin (CEST) on a Monday, cut-off 14:00.
    assert calendar().production_start(utc("2026-06-15T09:00")) == date(2026, 6, 15)


def test_an_order_after_the_cut_off_starts_the_next_open_day() -> None:
    # 14:30 in Berlin.
    assert calendar().production_start(utc("2026-06-15T12:30")) == date(2026, 6, 16)


def test_an_order_exactly_at_the_cut_off_waits_for_the_next_day() -> None:
    assert calendar().production_start(utc("2026-06-15T12:00")) == date(2026, 6, 16)


def test_the_cut_off_is_the_facility_s_local_time_not_utc() -> None:
    # 17:00 UTC is 13:00 in New York, before its 15:00 cut-off.
    new_york = calendar("America/New_York", cut_off="15:00")
    assert new_york.production_start(utc("2026-06-15T17:00")) == date(2026, 6, 15)


def test_an_order_after_friday_s_cut_off_starts_on_monday() -> None:
    assert calendar().production_start(utc("2026-06-19T15:00")) == date(2026, 6, 22)


def test_a_weekend_order_starts_on_monday() -> None:
    assert calendar().production_start(utc("2026-06-20T08:00")) == date(2026, 6, 22)


def test_holidays_are_skipped_like_weekends() -> None:
    # Thursday after the cut-off: Good Friday, the weekend and Easter Monday are closed.
    assert calendar().production_start(utc("2026-04-02T15:00")) == date(2026, 4, 7)


def test_a_facility_open_on_saturday_starts_on_saturday() -> None:
    open_saturday = calendar(closed=frozenset({6}))
    assert open_saturday.production_start(utc("2026-06-20T08:00")) == date(2026, 6, 20)


def test_late_utc_is_already_tomorrow_in_sydney() -> None:
    # Monday 23:30 UTC is Tuesday 09:30 in Sydney (AEST), past a 09:00 cut-off there,
    # while in UTC terms Monday's order would have started on Tuesday.
    sydney = calendar("Australia/Sydney", cut_off="09:00", holidays=frozenset())
    assert sydney.production_start(utc("2026-06-15T23:30")) == date(2026, 6, 17)


def test_sydney_s_afternoon_is_still_morning_in_utc() -> None:
    # Tuesday 04:30 UTC is 14:30 in Sydney: after a 13:00 cut-off.
    sydney = calendar("Australia/Sydney", cut_off="13:00", holidays=frozenset())
    assert sydney.production_start(utc("2026-06-16T04:30")) == date(2026, 6, 17)


def test_an_order_time_in_another_offset_is_converted() -> None:
    # 10:30 at UTC-05:00 is 17:30 in Berlin: after the cut-off.
    ordered = datetime(2026, 6, 15, 10, 30, tzinfo=ZoneInfo("America/Bogota"))
    assert calendar().production_start(ordered) == date(2026, 6, 16)


def test_a_naive_order_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar().production_start(datetime(2026, 6, 15, 9, 0))


# --- dispatch -----------------------------------------------------------------------


def test_dispatch_is_lead_days_open_days_after_the_start() -> None:
    two_days = calendar(lead_days=2)
    # Started Thursday: Friday is day 1, Monday day 2.
    assert two_days.dispatch_date(utc("2026-06-18T08:00")) == date(2026, 6, 22)


def test_a_lead_time_of_zero_ships_the_day_production_starts() -> None:
    same_day = calendar(lead_days=0)
    assert same_day.dispatch_date(utc("2026-06-19T15:00")) == date(2026, 6, 22)


def test_lead_days_skip_holidays() -> None:
    # Started Thursday 2 April; Good Friday, the weekend and Easter Monday don't count.
    assert calendar().dispatch_date(utc("2026-04-02T08:00")) == date(2026, 4, 7)


def test_a_calendar_closed_every_day_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one weekday"):
        calendar(closed=frozenset(range(7)))


# --- carrier business days ----------------------------------------------------------


def _walk(start: date, days: int) -> date:
    day = start
    while days:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


def test_business_days_match_a_day_by_day_walk() -> None:
    starts = [date(2026, 6, 1) + timedelta(days=offset) for offset in range(14)]
    for start in starts:
        for days in range(1, 13):
            assert add_business_days(start, days) == _walk(start, days), (start, days)


def test_one_business_day_after_friday_is_monday() -> None:
    assert add_business_days(date(2026, 6, 19), 1) == date(2026, 6, 22)


def test_zero_business_days_is_the_start_even_on_a_weekend() -> None:
    assert add_business_days(date(2026, 6, 20), 0) == date(2026, 6, 20)


def test_negative_business_days_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_days(date(2026, 6, 19), -1)
