"""CaseAscertainment: low submission against expected cases, per period."""

from __future__ import annotations

import json

import pytest

from signals.crossing import Direction, Level
from signals.observations import Submission
from signals.participation import CaseAscertainment


def test_levels_by_ratio():
    provider = CaseAscertainment()
    assert provider.direction is Direction.WORSE
    assert provider.update(Submission("2024-01", 80, 100)) is None  # 0.8 is not below 0.8
    alert = provider.update(Submission("2024-02", 79, 100))
    assert (alert.level, alert.statistic, alert.threshold) == (Level.ALERT, 0.79, 0.8)
    alarm = provider.update(Submission("2024-03", 59, 100))
    assert (alarm.level, alarm.statistic, alarm.threshold) == (Level.ALARM, 0.59, 0.6)
    assert provider.n == 3 and provider.below_count == 2 and provider.last_ratio == 0.59


def test_a_resubmission_replaces_and_signals_only_when_worse_than_already_raised():
    provider = CaseAscertainment()
    assert provider.update(Submission("Q1", 70, 100)).level is Level.ALERT
    assert provider.update(Submission("Q1", 75, 100)) is None  # still an alert: already raised
    assert provider.update(Submission("Q1", 95, 100)) is None  # improved
    assert provider.below_count == 0
    assert (
        provider.update(Submission("Q1", 70, 100)) is None
    )  # alert again, but already raised for Q1
    assert provider.update(Submission("Q1", 50, 100)).level is Level.ALARM
    assert provider.update(Submission("Q1", 10, 100)) is None
    assert provider.periods["Q1"]["submitted"] == 10  # replaced, not added
    assert provider.n == 1


def test_straight_to_alarm_raises_one_alarm():
    provider = CaseAscertainment()
    assert provider.update(Submission("Q1", 10, 100)).level is Level.ALARM
    assert provider.update(Submission("Q1", 70, 100)) is None


def test_periods_are_independent():
    provider = CaseAscertainment()
    assert provider.update(Submission("Q1", 70, 100)).level is Level.ALERT
    assert provider.update(Submission("Q2", 70, 100)).level is Level.ALERT


def test_no_expected_cases_means_no_ratio_and_no_signal():
    provider = CaseAscertainment()
    assert provider.update(Submission("Q1", 0, 0)) is None
    assert provider.last_ratio is None and provider.below_count == 0


@pytest.mark.parametrize("kwargs", [{"alert_below": 0.6, "alarm_below": 0.8}, {"alarm_below": 0.0}])
def test_invalid_limits_are_rejected(kwargs):
    with pytest.raises(ValueError):
        CaseAscertainment(**kwargs)


def test_invalid_updates_are_rejected():
    provider = CaseAscertainment()
    with pytest.raises(ValueError):
        provider.update(Submission("Q1", -1, 10))
    with pytest.raises(TypeError):
        provider.update(Submission(2024, 5, 10))  # type: ignore[arg-type]


def test_state_round_trips_through_json_without_touching_the_input():
    provider = CaseAscertainment(alert_below=0.9, alarm_below=0.7)
    provider.update(Submission("2024-01", 85, 100))
    provider.update(Submission("2024-02", 99, 100))
    state = json.loads(json.dumps(provider.to_state()))
    assert state["periods"]["2024-01"]["raised"] == "alert"
    copy = CaseAscertainment.from_state(state)
    assert copy == provider
    assert state["periods"]["2024-01"]["raised"] == "alert"  # still the plain string
    assert copy.update(Submission("2024-01", 60, 100)) == provider.update(
        Submission("2024-01", 60, 100)
    )
