"""The shared CUSUM step: alert once per excursion, alarm then reset, one crossing a step."""

from __future__ import annotations

import pytest

from signals.crossing import Level
from signals.cusum_step import step


def run(weights, alert_h=2.0, alarm_h=3.0):
    s, alerted, out = 0.0, False, []
    for w in weights:
        s, alerted, crossing = step(s, w, alert_h, alarm_h, alerted)
        out.append((round(s, 9), alerted, crossing.level.value if crossing else None))
    return out


def test_alert_is_raised_once_per_excursion():
    levels = [c for _, _, c in run([2.1, 0.1, -0.2, 0.3])]
    assert levels == ["alert", None, None, None]


def test_a_new_excursion_rearms_the_alert():
    levels = [c for _, _, c in run([2.1, -5.0, 2.5])]
    assert levels == ["alert", None, "alert"]


def test_alarm_resets_the_statistic_and_the_excursion():
    out = run([2.5, 0.6, 2.2])
    assert out == [(2.5, True, "alert"), (0.0, False, "alarm"), (2.2, True, "alert")]


def test_one_step_past_both_limits_raises_only_the_alarm():
    s, alerted, crossing = step(0.0, 10.0, 2.0, 3.0, False)
    assert (s, alerted) == (0.0, False)
    assert crossing.level is Level.ALARM
    assert crossing.statistic == 10.0  # the value before the reset
    assert crossing.threshold == 3.0


def test_limits_are_inclusive():
    assert step(0.0, 2.0, 2.0, 3.0, False)[2].level is Level.ALERT
    assert step(0.0, 3.0, 2.0, 3.0, False)[2].level is Level.ALARM


def test_without_an_alert_limit_only_alarms():
    levels = [c for _, _, c in run([2.5, 0.4, 0.2], alert_h=None)]
    assert levels == [None, None, "alarm"]


@pytest.mark.parametrize("weight", [-0.5, -3.0])
def test_statistic_never_goes_below_zero(weight):
    assert step(0.2, weight, 2.0, 3.0, True) == (0.0, False, None)
