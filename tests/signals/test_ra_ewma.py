"""RiskAdjustedEwma: exact variance, two-sided signals once per excursion."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from signals.crossing import Direction, Level
from signals.observations import Outcome
from signals.ra_ewma import RiskAdjustedEwma


def test_value_and_variance_match_the_closed_forms():
    rng = random.Random(11)
    lam = 0.07
    chart = RiskAdjustedEwma(smoothing=lam)
    cases = [(int(rng.random() < 0.15), rng.uniform(0.01, 0.5)) for _ in range(300)]
    for y, p in cases:
        chart.update(Outcome(y, p))
    t = len(cases)
    weights = [lam * (1 - lam) ** (t - i) for i in range(1, t + 1)]
    z = sum(w * (y - p) for w, (y, p) in zip(weights, cases, strict=True))
    v = sum(w * w * p * (1 - p) for w, (_, p) in zip(weights, cases, strict=True))
    assert chart.value == pytest.approx(z, rel=1e-9)
    assert chart.variance == pytest.approx(v, rel=1e-9)
    assert chart.expected == pytest.approx(sum(p for _, p in cases))


def test_variance_is_the_variance_of_z_under_the_model():
    # 20 000 in-control paths of 40 cases with mixed risks; Var(Z_40) against V_40.
    rng = np.random.default_rng(2024)
    lam, n, paths = 0.2, 40, 20_000
    risks = rng.uniform(0.05, 0.6, size=n)
    outcomes = rng.random((paths, n)) < risks
    z = np.zeros(paths)
    for t in range(n):
        z = (1 - lam) * z + lam * (outcomes[:, t] - risks[t])
    chart = RiskAdjustedEwma(smoothing=lam)
    for p in risks:
        chart.update(Outcome(0, float(p)))
    assert z.mean() == pytest.approx(0.0, abs=0.003)
    assert z.var() == pytest.approx(chart.variance, rel=0.04)


def test_worse_then_better_with_signed_thresholds():
    chart = RiskAdjustedEwma(smoothing=0.05, alarm_width=3.0, alert_width=2.0)
    signals = []
    for case in range(1, 61):
        crossing = chart.update(Outcome(1 if case % 3 == 0 else 0, 0.1))
        if crossing:
            signals.append((case, crossing.level, chart.last_direction))
            assert crossing.statistic > crossing.threshold > 0
    assert signals == [(6, Level.ALERT, Direction.WORSE), (15, Level.ALARM, Direction.WORSE)]
    for _ in range(200):
        crossing = chart.update(Outcome(0, 0.4))
        if crossing:
            assert crossing.statistic < crossing.threshold < 0
            signals.append((crossing.level, chart.last_direction))
    assert signals[2:] == [(Level.ALERT, Direction.BETTER), (Level.ALARM, Direction.BETTER)]


def test_no_repeat_while_in_the_region_and_rearm_after_crossing_zero():
    chart = RiskAdjustedEwma(smoothing=0.2, alarm_width=2.0)
    first = [chart.update(Outcome(1, 0.05)) for _ in range(5)]
    assert [c and c.level for c in first] == [Level.ALARM, None, None, None, None]
    while chart.value > 0:  # survivors bring Z back through zero: the excursion ends
        chart.update(Outcome(0, 0.05))
    assert chart.raised == 0
    assert chart.update(Outcome(1, 0.05)).level is Level.ALARM


def test_dipping_inside_a_limit_without_crossing_zero_does_not_rearm():
    chart = RiskAdjustedEwma(smoothing=0.2, alarm_width=3.0)
    assert chart.update(Outcome(1, 0.05)).level is Level.ALARM
    inside = False
    for _ in range(50):
        assert chart.update(Outcome(0, 0.05)) is None
        if 0 < chart.value < 3.0 * math.sqrt(chart.variance):
            inside = True
            break
    assert inside
    assert chart.update(Outcome(1, 0.05)) is None  # back beyond the limit, same excursion


def test_one_update_raises_only_the_highest_level():
    chart = RiskAdjustedEwma(smoothing=0.5, alarm_width=3.0, alert_width=2.0)
    crossing = chart.update(Outcome(1, 0.01))  # √(0.99/0.01) ≈ 9.9 SD out at once
    assert crossing.level is Level.ALARM
    assert crossing.threshold == pytest.approx(3.0 * math.sqrt(chart.variance))


def test_burn_in_suppresses_signals_then_the_current_region_is_signalled():
    chart = RiskAdjustedEwma(smoothing=0.2, alarm_width=3.0, burn_in=3)
    assert [chart.update(Outcome(1, 0.05)) for _ in range(3)] == [None, None, None]
    assert chart.update(Outcome(1, 0.05)).level is Level.ALARM


@pytest.mark.parametrize(
    "kwargs",
    [
        {"smoothing": 0.0},
        {"smoothing": 1.5},
        {"smoothing": 0.1, "alarm_width": 0.0},
        {"smoothing": 0.1, "alarm_width": 2.0, "alert_width": 2.0},
        {"smoothing": 0.1, "burn_in": -1},
    ],
)
def test_invalid_parameters_are_rejected(kwargs):
    with pytest.raises(ValueError):
        RiskAdjustedEwma(**kwargs)


def test_state_round_trips_through_json():
    chart = RiskAdjustedEwma(smoothing=0.1, alarm_width=3.0, alert_width=2.0, burn_in=2)
    for _ in range(4):
        chart.update(Outcome(1, 0.1))
    assert chart.last_direction is Direction.WORSE
    state = json.loads(json.dumps(chart.to_state()))
    assert state["last_direction"] == "worse"
    copy = RiskAdjustedEwma.from_state(state)
    assert copy == chart and copy.last_direction is Direction.WORSE
    assert [copy.update(Outcome(0, 0.3)) for _ in range(30)] == [
        chart.update(Outcome(0, 0.3)) for _ in range(30)
    ]
