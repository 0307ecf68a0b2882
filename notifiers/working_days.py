"""Working days in England: weekends and England & Wales bank holidays excluded.

HQIP's outlier timetable counts working days; the bank holidays come from the ``holidays``
library (``country_holidays("GB", subdiv="ENG")``, which includes substitute days such as
Boxing Day observed on a Monday). Dates are taken in Europe/London, so a deadline set late on
a winter evening UTC falls on the right local day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

LONDON = ZoneInfo("Europe/London")
_BANK_HOLIDAYS = holidays.country_holidays("GB", subdiv="ENG")


def local_date(moment: date | datetime) -> date:
    """The Europe/London calendar date of an instant (a naive datetime is taken as local)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(LONDON)
        return moment.date()
    return moment


@lru_cache(maxsize=4096)
def is_working_day(day: date) -> bool:
    """Monday to Friday and not an England & Wales bank holiday.

    >>> is_working_day(date(2026, 12, 28))  # Boxing Day (substitute day)
    False
    >>> is_working_day(date(2027, 3, 30))   # the Tuesday after Easter Monday
    True
    """
    return day.weekday() < 5 and day not in _BANK_HOLIDAYS


def add_working_days(start: date | datetime, n: int) -> date:
    """The date ``n`` working days after ``start`` (the start day itself is not counted).

    ``n = 0`` returns the start's date unchanged. A start on a weekend or bank holiday counts
    from the next working day, as a letter sent on a Saturday is read on Monday.

    Examples
    --------
    Christmas Eve 2026 is a Thursday; Christmas Day, the weekend and Boxing Day observed on
    Monday 28 December are skipped:

    >>> add_working_days(date(2026, 12, 24), 1)
    datetime.date(2026, 12, 29)

    Across Easter 2027 (Good Friday 26 March, Easter Monday 29 March):

    >>> add_working_days(date(2027, 3, 25), 1)
    datetime.date(2027, 3, 30)

    HQIP's 25 working days for a written response, from a notice sent on 14 December 2026,
    cross Christmas and New Year's Day:

    >>> add_working_days(datetime(2026, 12, 14, 16, 0), 25)
    datetime.date(2027, 1, 21)
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    day = local_date(start)
    remaining = n
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def working_deadline(start: datetime, n: int) -> datetime:
    """The instant a deadline of ``n`` working days from ``start`` expires: the end of the
    ``n``-th working day in London (midnight that starts the following day), as UTC.

    >>> working_deadline(datetime(2026, 12, 24, 10, tzinfo=LONDON), 1).isoformat()
    '2026-12-30T00:00:00+00:00'
    >>> working_deadline(datetime(2027, 3, 25, 10, tzinfo=LONDON), 1).isoformat()
    '2027-03-30T23:00:00+00:00'
    """

    last = add_working_days(start, n)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=LONDON)
    return end.astimezone(UTC)


def working_days_between(start: date | datetime, end: date | datetime) -> int:
    """How many working days fall after ``start`` and up to and including ``end``.

    >>> working_days_between(date(2026, 12, 24), date(2027, 1, 4))
    4
    """
    first, last = local_date(start), local_date(end)
    count, day = 0, first
    while day < last:
        day += timedelta(days=1)
        count += is_working_day(day)
    return count
