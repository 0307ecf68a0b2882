"""PoissonCusum: Lucas's weight, exposure before events, both directions."""

from __future__ import annotations

import json
import math
import random

import pytest

from signals.crossing import Direction, Level
from signals.observations import Exposure
from signals.poisson_cusum import PoissonCusum

LN2 = math.log(2.0)


def test_weight_when_the_statistic_stays_positive_is_lucas():
    chart = PoissonCusum(benchmark_rate=0.05, rate_ratio=2.0, alarm_h=100.0, statistic=1.0)
    chart.update(Exposure(3, 10.0))  # W = 3 ln 2 − (2 − 1)·0.05·10
    assert chart.statistic == pytest.approx(1.0 + 3 * LN2 - 0.5)
    chart.update(Exposure(2, 4.0))
    assert chart.statistic == pytest.approx(1.0 + 5 * LN2 - 0.7)
    assert (chart.n, chart.events, chart.exposure) == (2, 5, 14.0)
    assert chart.expected == pytest.approx(0.7)


def test_exposure_drains_the_statistic_before_the_event_counts():
    # After a long quiet spell an event counts in full (the one-step max(0, S + W) would
    # give max(0, 0.5 − 2 + ln 2) = 0).
    chart = PoissonCusum(benchmark_rate=0.1, rate_ratio=2.0, alarm_h=100.0, statistic=0.5)
    chart.update(Exposure(1, 20.0))
    assert chart.statistic == pytest.approx(LN2)


def test_splitting_exposure_between_updates_changes_nothing():
    rng = random.Random(9)
    for rate_ratio in (2.0, 0.5):
        whole = PoissonCusum(benchmark_rate=0.02, rate_ratio=rate_ratio, alarm_h=50.0)
        split = PoissonCusum(benchmark_rate=0.02, rate_ratio=rate_ratio, alarm_h=50.0)
        for _ in range(500):
            exposure, events = rng.expovariate(1 / 30), int(rng.random() < 0.5)
            whole.update(Exposure(events, exposure))
            cut = rng.random() * exposure
            split.update(Exposure(0, cut))
            split.update(Exposure(events, exposure - cut))
            assert split.statistic == pytest.approx(whole.statistic, abs=1e-9)


def test_worse_chart_alerts_once_then_alarms_and_resets():
    chart = PoissonCusum(benchmark_rate=0.01, rate_ratio=2.0, alert_h=1.0, alarm_h=2.0)
    assert chart.direction is Direction.WORSE
    levels = [c and c.level for c in (chart.update(Exposure(1, 1.0)) for _ in range(4))]
    # S = 0.693 (the drain is clipped at 0 first), 1.376 (alert), 2.059 (alarm → 0), 0.693
    assert levels == [None, Level.ALERT, Level.ALARM, None]
    assert chart.statistic == pytest.approx(LN2)


def test_one_update_past_both_limits_raises_only_the_alarm():
    chart = PoissonCusum(benchmark_rate=0.01, rate_ratio=2.0, alert_h=1.0, alarm_h=2.0)
    crossing = chart.update(Exposure(5, 1.0))
    assert crossing.level is Level.ALARM
    assert crossing.statistic == pytest.approx(5 * LN2)
    assert chart.statistic == 0.0


def test_better_chart_rises_with_exposure_and_sees_a_crossing_before_the_event():
    chart = PoissonCusum(benchmark_rate=0.05, rate_ratio=0.5, alert_h=1.0, alarm_h=2.0)
    assert chart.direction is Direction.BETTER
    # 50 implant-years without revisions: S = 0.5·0.05·50 = 1.25 → alert
    assert chart.update(Exposure(0, 50.0)).level is Level.ALERT
    # 40 more, then a revision: S passes 2.25 before the revision's −ln 2 → alarm, reset
    crossing = chart.update(Exposure(1, 40.0))
    assert crossing.level is Level.ALARM
    assert crossing.statistic == pytest.approx(2.25)
    assert chart.statistic == 0.0
    # a revision drops S
    chart.update(Exposure(0, 20.0))
    chart.update(Exposure(1, 0.0))
    assert chart.statistic == pytest.approx(max(0.0, 0.5 - LN2))


@pytest.mark.parametrize(
    ("events", "exposure"), [(-1, 1.0), (1.5, 1.0), (1, -0.1), (1, math.inf), (1, math.nan)]
)
def test_invalid_updates_are_rejected(events, exposure):
    chart = PoissonCusum(benchmark_rate=0.01, rate_ratio=2.0, alarm_h=2.0)
    with pytest.raises(ValueError):
        chart.update(Exposure(events, exposure))
    assert chart.n == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"benchmark_rate": 0.0, "rate_ratio": 2.0, "alarm_h": 2.0},
        {"benchmark_rate": 0.01, "rate_ratio": 1.0, "alarm_h": 2.0},
        {"benchmark_rate": 0.01, "rate_ratio": 2.0, "alarm_h": -1.0},
        {"benchmark_rate": 0.01, "rate_ratio": 2.0, "alarm_h": 2.0, "alert_h": 2.5},
    ],
)
def test_invalid_parameters_are_rejected(kwargs):
    with pytest.raises(ValueError):
        PoissonCusum(**kwargs)


def test_state_round_trips_through_json():
    chart = PoissonCusum(benchmark_rate=0.01, rate_ratio=2.0, alert_h=1.0, alarm_h=3.0)
    chart.update(Exposure(1, 2.0))
    chart.update(Exposure(1, 2.0))
    copy = PoissonCusum.from_state(json.loads(json.dumps(chart.to_state())))
    assert copy == chart and copy.alerted
    assert [copy.update(Exposure(1, 0.5)) for _ in range(3)] == [
        chart.update(Exposure(1, 0.5)) for _ in range(3)
    ]


def test_better_chart_is_exactly_the_textbook_formula():
    rng = random.Random(4)
    chart = PoissonCusum(benchmark_rate=0.03, rate_ratio=0.5, alarm_h=1e9)
    s = 0.0
    for _ in range(1000):
        events, exposure = rng.choice([0, 0, 1, 2, 3]), rng.uniform(0.0, 60.0)
        s = max(0.0, s + events * math.log(0.5) - (0.5 - 1) * 0.03 * exposure)
        chart.update(Exposure(events, exposure))
        assert chart.statistic == pytest.approx(s, abs=1e-9)
