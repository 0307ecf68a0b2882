"""Working days: weekends and England & Wales bank holidays, as HQIP's timetable counts them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifiers.working_days import (
    add_working_days,
    is_working_day,
    working_days_between,
    working_deadline,
)

# Written out by hand (gov.uk list) so the test does not just restate the library.
BANK_HOLIDAYS = {
    date(2026, 12, 25), date(2026, 12, 28), date(2027, 1, 1), date(2027, 3, 26),
    date(2027, 3, 29), date(2027, 5, 3), date(2027, 5, 31),
}


def by_hand(start: date, n: int) -> date:
    day = start
    while n:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in BANK_HOLIDAYS:
            n -= 1
    return day


def test_christmas_2026_skips_christmas_weekend_and_boxing_day_substitute() -> None:
    assert not is_working_day(date(2026, 12, 25))
    assert not is_working_day(date(2026, 12, 28))  # Boxing Day falls on Saturday
    assert add_working_days(date(2026, 12, 24), 1) == date(2026, 12, 29)
    assert add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)


def test_easter_2027_skips_good_friday_and_easter_monday() -> None:
    assert add_working_days(date(2027, 3, 25), 1) == date(2027, 3, 30)
    assert add_working_days(date(2027, 3, 24), 2) == date(2027, 3, 30)


def test_a_deadline_spanning_christmas_2026_and_easter_2027() -> None:
    # 70 working days from 17 December 2026 crosses Christmas, New Year and Easter.
    start = date(2026, 12, 17)
    assert add_working_days(start, 70) == by_hand(start, 70) == date(2027, 4, 1)
    assert working_days_between(start, date(2027, 4, 1)) == 70
    # The calendar span is 105 days; 35 of them are weekends or the five holidays.
    assert (date(2027, 4, 1) - start).days == 105


@pytest.mark.parametrize("n", [0, 1, 5, 10, 20, 25, 60])
def test_agrees_with_the_hand_written_calendar(n: int) -> None:
    for offset in range(0, 140, 3):
        start = date(2026, 12, 1) + timedelta(days=offset)
        assert add_working_days(start, n) == by_hand(start, n)


def test_weekend_start_counts_from_monday_and_zero_is_the_same_day() -> None:
    assert add_working_days(date(2027, 1, 9), 1) == date(2027, 1, 11)  # Saturday
    assert add_working_days(date(2027, 1, 9), 0) == date(2027, 1, 9)
    with pytest.raises(ValueError):
        add_working_days(date(2027, 1, 9), -1)


def test_instants_are_taken_in_london_time() -> None:
    # 23:30 UTC on 30 June is already 1 July in London (BST).
    late = datetime(2027, 6, 30, 23, 30, tzinfo=UTC)
    assert add_working_days(late, 1) == date(2027, 7, 2)


def test_deadline_expires_at_london_midnight_after_the_last_working_day() -> None:
    london = ZoneInfo("Europe/London")
    due = working_deadline(datetime(2026, 12, 24, 15, tzinfo=london), 1)
    assert due == datetime(2026, 12, 30, tzinfo=london)
    summer = working_deadline(datetime(2027, 3, 25, 15, tzinfo=london), 1)
    assert summer == datetime(2027, 3, 31, tzinfo=london)  # after the clocks change
    assert summer.tzinfo == UTC and summer.hour == 23
