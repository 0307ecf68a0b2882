"""The typed observations monitors take: one family per kind of input.

A monitor's ``update`` takes exactly one of these, never a positional argument list, so a
monitor wired to the wrong input fails where it is built (the registry checks each
monitor kind's family against the metric kind feeding it), not on the first event.

>>> Outcome(y=1, p=0.1)
Outcome(y=1, p=0.1)
>>> MonthlyOutcome(1, 0.1, "2024-03").month
'2024-03'
"""

from __future__ import annotations

from typing import NamedTuple


class Outcome(NamedTuple):
    """One case's binary outcome ``y`` (1 = the event happened) and its predicted risk ``p``."""

    y: int
    p: float


class MonthlyOutcome(NamedTuple):
    """An :class:`Outcome` with the calendar month (``YYYY-MM``) it belongs to, for charts
    of monthly aggregates."""

    y: int
    p: float
    month: str


class Exposure(NamedTuple):
    """``events`` observed over ``exposure`` (e.g. revisions over implant-years at risk)."""

    events: int
    exposure: float


class ImplantTally(NamedTuple):
    """A device's running totals: revisions, implant-years at risk and primary implants."""

    revisions: int
    implant_years: float
    primaries: int


class Submission(NamedTuple):
    """A provider's data submission for one period: cases submitted against cases expected."""

    period: str
    submitted: float
    expected: float
