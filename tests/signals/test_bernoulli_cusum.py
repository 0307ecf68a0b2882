"""BernoulliCusum: the risk-adjusted chart with a constant benchmark risk."""

from __future__ import annotations

import json
import math
import random

import pytest

from signals.bernoulli_cusum import BernoulliCusum
from signals.crossing import Direction, Level
from signals.observations import Outcome
from signals.ra_cusum import RiskAdjustedCusum, llr_score


@pytest.mark.parametrize("odds_ratio", [2.0, 0.5])
def test_weights_are_the_llr_scores_at_p0(odds_ratio):
    for y in (0, 1):
        chart = BernoulliCusum(p0=0.025, odds_ratio=odds_ratio, alarm_h=100.0)
        chart.update(Outcome(y, 0.0))
        assert chart.statistic == pytest.approx(max(0.0, llr_score(y, 0.025, odds_ratio)))


@pytest.mark.parametrize(("odds_ratio", "rate"), [(2.0, 0.25), (0.5, 0.05)])
def test_matches_the_risk_adjusted_chart_with_constant_risk(odds_ratio, rate):
    rng = random.Random(3)
    plain = BernoulliCusum(p0=0.1, odds_ratio=odds_ratio, alert_h=1.5, alarm_h=2.5)
    adjusted = RiskAdjustedCusum(odds_ratio=odds_ratio, alert_h=1.5, alarm_h=2.5)
    levels = []
    for _ in range(3000):
        y = int(rng.random() < rate)
        a, b = plain.update(Outcome(y, 0.0)), adjusted.update(Outcome(y, 0.1))
        assert (a and a.level) == (b and b.level)
        assert plain.statistic == pytest.approx(adjusted.statistic, abs=1e-9)
        levels.append(a and a.level)
    assert Level.ALERT in levels and Level.ALARM in levels
    assert plain.expected == pytest.approx(adjusted.expected)
    assert plain.observed == adjusted.observed


def test_better_chart_signals_on_a_run_without_events():
    chart = BernoulliCusum(p0=0.3, odds_ratio=0.5, alert_h=1.0, alarm_h=2.0)
    assert chart.direction is Direction.BETTER
    step = -math.log(1 - 0.3 + 0.5 * 0.3)  # the weight of a case without an event
    crossings = [(i, c.level) for i in range(1, 20) if (c := chart.update(Outcome(0, 0.0)))]
    first_alert = math.ceil(1.0 / step)
    first_alarm = math.ceil(2.0 / step)
    assert crossings[:2] == [(first_alert, Level.ALERT), (first_alarm, Level.ALARM)]


def test_alert_once_then_alarm_and_reset():
    chart = BernoulliCusum(p0=0.1, odds_ratio=2.0, alert_h=2.0, alarm_h=3.0)
    levels = [c and c.level for c in (chart.update(Outcome(1, 0.0)) for _ in range(6))]
    assert levels == [None, None, None, Level.ALERT, None, Level.ALARM]
    assert chart.statistic == 0.0 and not chart.alerted


@pytest.mark.parametrize(
    "kwargs",
    [
        {"p0": 0.0, "odds_ratio": 2.0, "alarm_h": 3.0},
        {"p0": 1.0, "odds_ratio": 2.0, "alarm_h": 3.0},
        {"p0": 0.1, "odds_ratio": 1.0, "alarm_h": 3.0},
        {"p0": 0.1, "odds_ratio": -2.0, "alarm_h": 3.0},
        {"p0": 0.1, "odds_ratio": 2.0, "alarm_h": 0.0},
        {"p0": 0.1, "odds_ratio": 2.0, "alarm_h": 3.0, "alert_h": 3.0},
    ],
)
def test_invalid_parameters_are_rejected(kwargs):
    with pytest.raises(ValueError):
        BernoulliCusum(**kwargs)


def test_state_round_trips_through_json():
    chart = BernoulliCusum(p0=0.1, odds_ratio=2.0, alert_h=1.0, alarm_h=5.0)
    for y in (1, 1, 0, 1):
        chart.update(Outcome(y, 0.0))
    state = json.loads(json.dumps(chart.to_state()))
    copy = BernoulliCusum.from_state(state)
    assert copy == chart and copy.alerted
    assert [copy.update(Outcome(1, 0.0)) for _ in range(4)] == [
        chart.update(Outcome(1, 0.0)) for _ in range(4)
    ]
