"""Calibration drift of the risk model: ADWIN / Page–Hinkley on y − p."""

from __future__ import annotations

import json
import math
import random

import pytest

from signals.calibration_drift import CalibrationDrift
from signals.crossing import Direction
from signals.observations import Outcome

CHANGE = 3000


def stream(seed: int, before: int = CHANGE, after: int = 3000):
    """Parsonnet-like risks; outcomes follow the model, then twice its risk."""
    rng = random.Random(seed)
    for i in range(before + after):
        score = min(71, int(71 * rng.betavariate(1, 3)))
        p = 1 / (1 + math.exp(3.68 - 0.077 * score))
        rate = p if i < before else min(1.0, 2 * p)
        yield int(rng.random() < rate), p


def signals_of(monitor: CalibrationDrift, events) -> list:
    return [monitor.last_drift for y, p in events if monitor.update(Outcome(y, p)) is not None]


def test_adwin_fires_after_the_rate_doubles_and_not_before():
    [signal] = signals_of(CalibrationDrift(), stream(seed=0))
    assert signal.n == 3200  # 200 observations after the change (ADWIN checks every 32)
    assert signal.direction is Direction.WORSE
    assert abs(signal.mean_before) < 0.01  # calibrated before
    assert signal.mean_after > 0.05  # ~ mean p after the change
    assert signal.n_before + signal.n_after == signal.n


@pytest.mark.parametrize("seed", range(1, 6))
def test_adwin_raises_no_false_alarm_before_the_change(seed):
    fired = [s.n for s in signals_of(CalibrationDrift(), stream(seed))]
    assert fired, "the change was missed"
    assert min(fired) > CHANGE
    assert min(fired) - CHANGE <= 500


def test_page_hinkley_by_parameter():
    monitor = CalibrationDrift("page_hinkley")  # river's defaults: threshold 50
    fired = [s.n for s in signals_of(monitor, stream(seed=0))]
    assert fired == [3292]
    tuned = CalibrationDrift("page_hinkley", {"threshold": 20.0, "delta": 0.02})
    fired = [s.n for s in signals_of(tuned, stream(seed=0))]
    assert fired[0] == 3147


@pytest.mark.parametrize(("detector", "params", "cut"), [
    ("adwin", {}, 2500),
    ("adwin", {}, 3200),  # just as it fired: river resets it on the next update
    ("page_hinkley", {"threshold": 20.0, "delta": 0.02}, 3100),
    ("page_hinkley", {"threshold": 20.0, "delta": 0.02}, 3147),
])
def test_the_state_round_trips_through_json_with_the_same_future(detector, params, cut):
    events = list(stream(seed=0, after=3000))
    monitor = CalibrationDrift(detector, params)
    signals_of(monitor, events[:cut])
    restored = CalibrationDrift.from_state(json.loads(json.dumps(monitor.to_state())))
    assert restored == monitor  # the counts; the detector is compared by behaviour:
    assert signals_of(restored, events[cut:]) == signals_of(monitor, events[cut:])
    assert restored.to_state() == monitor.to_state()


def test_a_state_from_another_river_version_is_refused_unless_asked_to_restart():
    monitor = CalibrationDrift()
    signals_of(monitor, stream(seed=0, before=500, after=0))
    state = {**monitor.to_state(), "river_version": "0.0.1"}
    with pytest.raises(ValueError, match=r"river 0\.0\.1.*strict=False"):
        CalibrationDrift.from_state(state)
    restarted = CalibrationDrift.from_state(state, strict=False)
    assert restarted.n == 500 and restarted.since_reset_n == 0
    assert restarted.to_state()["river_pickle"] == CalibrationDrift().to_state()["river_pickle"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"detector": "cusum"}, "detector must be one of adwin, page_hinkley"),
    ({"params": {"treshold": 3}}, "adwin: invalid parameters"),
    ({"after_window": 0}, "after_window must be at least 1"),
])
def test_bad_parameters_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CalibrationDrift(**kwargs)


def test_bad_observations_are_rejected():
    monitor = CalibrationDrift()
    with pytest.raises(ValueError, match="y must be 0 or 1"):
        monitor.update(Outcome(2, 0.1))
    with pytest.raises(ValueError, match="p must be a probability"):
        monitor.update(Outcome(1, 1.5))
    assert monitor.n == 0


def test_the_signal_is_json_ready():
    [signal] = signals_of(CalibrationDrift(), stream(seed=0))
    record = json.loads(json.dumps(signal.as_dict()))
    assert record["direction"] == "worse" and record["n"] == 3200
