"""Vlad: reference steps, the running sum and its optional limits."""

from __future__ import annotations

import json
import math
import random

import pytest

from signals.crossing import Direction, Level
from signals.observations import Outcome
from signals.vlad import Vlad

RISKS = [1 / (1 + math.exp(3.68 - 0.077 * s)) for s in (0, 50)]


def test_steps_match_cran_vlad():
    # cran/vlad: y − p = −0.025, 0.975, −0.542, 0.458; VLAD moves by the negatives.
    steps = []
    for p in RISKS:
        for y in (0, 1):
            chart = Vlad()
            chart.update(Outcome(y, p))
            steps.append(round(chart.value, 3))
    assert steps == [0.025, -0.975, 0.542, -0.458]


def test_value_is_expected_minus_observed():
    rng = random.Random(5)
    chart = Vlad()
    cases = [(int(rng.random() < 0.2), rng.uniform(0.02, 0.4)) for _ in range(2000)]
    for y, p in cases:
        assert chart.update(Outcome(y, p)) is None  # no limits configured: never signals
    assert chart.value == pytest.approx(sum(p - y for y, p in cases))
    assert chart.value == pytest.approx(chart.expected - chart.observed)
    assert chart.n == 2000


def test_alert_then_alarm_each_once_in_a_run_below():
    chart = Vlad(alert_below=-2.0, alarm_below=-3.0)
    assert chart.direction is Direction.WORSE
    levels = [c and c.level for c in (chart.update(Outcome(1, 0.1)) for _ in range(6))]
    assert levels == [None, None, Level.ALERT, Level.ALARM, None, None]


def test_a_jump_past_both_limits_raises_only_the_alarm():
    chart = Vlad(alert_below=-0.5, alarm_below=-0.8)
    crossing = chart.update(Outcome(1, 0.05))
    assert crossing.level is Level.ALARM
    assert crossing.threshold == -0.8
    assert crossing.statistic == pytest.approx(-0.95)


def test_limits_rearm_after_the_value_climbs_back_above():
    chart = Vlad(alert_below=-1.0, alarm_below=-2.0)
    assert chart.update(Outcome(1, 0.0)).level is Level.ALERT  # −1.0: the limit is inclusive
    assert chart.update(Outcome(0, 0.5)) is None  # −0.5: the run below ends
    assert chart.update(Outcome(1, 0.4)).level is Level.ALERT  # −1.1: a new run
    assert chart.update(Outcome(1, 0.0)).level is Level.ALARM  # −2.1
    assert chart.update(Outcome(0, 0.3)) is None  # −1.8: still in the run below the alert limit


def test_re_entering_the_alarm_band_alarms_again():
    chart = Vlad(alert_below=-1.0, alarm_below=-2.0)
    for y, p in [(1, 0.0), (1, 0.0), (0, 0.5)]:  # −1, −2 (alarm), −1.5
        chart.update(Outcome(y, p))
    assert chart.band == 1
    assert chart.update(Outcome(1, 0.4)).level is Level.ALARM  # −2.1


def test_alarm_limit_alone():
    chart = Vlad(alarm_below=-1.5)
    levels = [c and c.level for c in (chart.update(Outcome(1, 0.2)) for _ in range(3))]
    assert levels == [None, Level.ALARM, None]


@pytest.mark.parametrize(
    "kwargs",
    [{"alert_below": 1.0}, {"alarm_below": 0.0}, {"alert_below": -3.0, "alarm_below": -2.0}],
)
def test_invalid_limits_are_rejected(kwargs):
    with pytest.raises(ValueError):
        Vlad(**kwargs)


def test_state_round_trips_through_json():
    chart = Vlad(alert_below=-1.0, alarm_below=-2.0)
    chart.update(Outcome(1, 0.1))
    chart.update(Outcome(1, 0.1))
    copy = Vlad.from_state(json.loads(json.dumps(chart.to_state())))
    assert copy == chart and copy.band == 1
    assert copy.update(Outcome(1, 0.1)) == chart.update(Outcome(1, 0.1))
