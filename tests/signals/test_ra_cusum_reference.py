"""RiskAdjustedCusum (on the shared CUSUM step) against a plain reference implementation."""

from __future__ import annotations

import math
import random

import pytest

from signals.crossing import Crossing, Direction, Level
from signals.observations import Outcome
from signals.ra_cusum import RiskAdjustedCusum


def _direction(chart: dict) -> Direction:
    return Direction.WORSE if chart["odds_ratio"] > 1 else Direction.BETTER


def reference_update(chart: dict, y: int, p: float) -> Crossing | None:
    """The chart's update as it was before the shared step was factored out."""
    r = chart["odds_ratio"]
    s = chart["statistic"] + y * math.log(r) - math.log(1.0 - p + r * p)
    if s <= 0.0:
        chart["statistic"], chart["alerted"] = 0.0, False
        return None
    if s >= chart["alarm_h"]:
        chart["statistic"], chart["alerted"] = 0.0, False
        return Crossing(Level.ALARM, s, chart["alarm_h"], _direction(chart))
    chart["statistic"] = s
    if chart["alert_h"] is not None and s >= chart["alert_h"] and not chart["alerted"]:
        chart["alerted"] = True
        return Crossing(Level.ALERT, s, chart["alert_h"], _direction(chart))
    return None


@pytest.mark.parametrize(("odds_ratio", "shift"), [(2.0, 1.6), (0.5, 0.6)])
def test_behaviour_is_unchanged_by_the_refactor(odds_ratio, shift):
    rng = random.Random(7)
    chart = RiskAdjustedCusum(odds_ratio=odds_ratio, alert_h=1.5, alarm_h=2.5)
    reference = {"odds_ratio": odds_ratio, "alert_h": 1.5, "alarm_h": 2.5,
                 "statistic": 0.0, "alerted": False}
    signals = 0
    for _ in range(5000):
        p = rng.uniform(0.01, 0.4)
        y = int(rng.random() < min(1.0, p * shift))
        got, want = chart.update(Outcome(y, p)), reference_update(reference, y, p)
        # W is now summed before it is added to S, so S may differ in the last bit.
        assert (got is None) == (want is None)
        if got is not None:
            assert got.level is want.level
            assert got.statistic == pytest.approx(want.statistic, rel=1e-12)
        assert chart.statistic == pytest.approx(reference["statistic"], rel=1e-12, abs=1e-12)
        assert chart.alerted == reference["alerted"]
        signals += got is not None
    assert signals > 10  # the comparison exercised both levels


