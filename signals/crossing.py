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
    """A limit crossed by one update: what every monitor's ``update`` returns, or ``None``.

    ``statistic`` is the chart value that crossed, before any reset, ``threshold`` the
    limit it crossed and ``direction`` the departure it signals.

    >>> Crossing(Level.ALARM, 4.61, 4.5, Direction.WORSE)
    Crossing(level=<Level.ALARM: 'alarm'>, statistic=4.61, threshold=4.5, \
direction=<Direction.WORSE: 'worse'>)
    """

    level: Level
    statistic: float
    threshold: float
    direction: Direction
