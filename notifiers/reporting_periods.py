"""Reporting periods: the span of time an audit reports on, named the way audits name them.

Positive outliers are reported once per reporting period, and the screening letter places
a signal in its period. A period is named by a label that sorts in time order; which period
a signal belongs to is decided by its event time (``occurred_at``) in London, since that is
the period its data belong to, whenever the signal happens to be processed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from notifiers.working_days import local_date

ReportingPeriod = Literal["month", "quarter", "financial_year", "calendar_year"]


def period_of(moment: datetime, period: ReportingPeriod) -> str:
    """The label of the reporting period holding ``moment``.

    Financial years (and their quarters) start on 1 April, as NHS reporting does.

    >>> from datetime import UTC
    >>> moment = datetime(2027, 3, 31, 23, 30, tzinfo=UTC)  # already 1 April in London
    >>> [period_of(moment, p) for p in ("month", "quarter", "financial_year", "calendar_year")]
    ['2027-04', '2027/28 Q1', '2027/28', '2027']
    >>> period_of(datetime(2027, 1, 15, tzinfo=UTC), "quarter")
    '2026/27 Q4'
    """
    day = local_date(moment)
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    if period == "calendar_year":
        return str(day.year)
    start = day.year if day.month >= 4 else day.year - 1
    year = f"{start}/{(start + 1) % 100:02d}"
    if period == "financial_year":
        return year
    return f"{year} Q{(day.month - 4) % 12 // 3 + 1}"
