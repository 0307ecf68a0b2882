"""What a monitor reports when its statistic crosses a control limit."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Level(StrEnum):
    """How serious a signal is: an early-warning ``alert`` or a full ``alarm``."""

    ALERT = "alert"
    ALARM = "alarm"


class Direction(StrEnum):
    """Which way an entity departs from expectation. Better-than-expected counts too."""

    WORSE = "worse"
    BETTER = "better"


class Crossing(NamedTuple):
    """A limit crossed by one update.

    ``statistic`` is the chart value that crossed, before any reset, and ``threshold`` the
    limit it crossed.

    >>> Crossing(Level.ALARM, 4.61, 4.5)
    Crossing(level=<Level.ALARM: 'alarm'>, statistic=4.61, threshold=4.5)
    """

    level: Level
    statistic: float
    threshold: float
