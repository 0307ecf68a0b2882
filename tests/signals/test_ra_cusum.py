"""The risk-adjusted CUSUM against published reference values and its signal semantics."""

import math

import pytest

from signals.crossing import Direction, Level
from signals.observations import Outcome
from signals.ra_cusum import RiskAdjustedCusum, llr_score
from signals.risk_model import LogisticRiskModel

STEINER = LogisticRiskModel(-3.68, {"parsonnet": 0.077})
# cran/vlad tests/testthat/test-llr_score.R: (Parsonnet, died) → score
REFERENCE = {
    2.0: [-0.024, 0.669, -0.433, 0.260],
    0.5: [0.012, -0.681, 0.316, -0.377],
}
CASES = [(0, 0), (0, 1), (50, 0), (50, 1)]


def test_reference_risks():
    assert round(STEINER.predict({"parsonnet": 0}), 3) == 0.025
    assert round(STEINER.predict({"parsonnet": 50}), 3) == 0.542


@pytest.mark.parametrize("odds_ratio", [2.0, 0.5])
def test_reference_llr_scores(odds_ratio):
    scores = [llr_score(died, STEINER.predict({"parsonnet": s}), odds_ratio) for s, died in CASES]
    assert scores == pytest.approx(REFERENCE[odds_ratio], abs=0.0005)


def test_monitor_update_uses_the_same_score():
    chart = RiskAdjustedCusum(odds_ratio=2.0, alarm_h=10.0)
    chart.update(Outcome(1, 0.542))
    assert chart.statistic == pytest.approx(llr_score(1, 0.542, 2.0))
    assert chart.statistic == pytest.approx(0.260, abs=0.0005)
    chart.update(Outcome(0, 0.542))  # 0.260 − 0.433 < 0: the chart is held at zero
    assert chart.statistic == 0.0


def test_statistic_never_negative():
    chart = RiskAdjustedCusum(odds_ratio=2.0, alarm_h=4.5)
    for _ in range(50):
        assert chart.update(Outcome(0, 0.3)) is None
        assert chart.statistic == 0.0


def test_alert_once_per_excursion_then_rearms():
    chart = RiskAdjustedCusum(odds_ratio=2.0, alert_h=1.0, alarm_h=5.0)
    levels = [chart.update(Outcome(1, 0.1)) for _ in range(3)]
    assert [c.level if c else None for c in levels] == [None, Level.ALERT, None]
    while chart.statistic > 0:  # survivors bring S back to 0: the excursion ends
        chart.update(Outcome(0, 0.9))
    levels = [chart.update(Outcome(1, 0.1)) for _ in range(2)]
    assert levels[1] is not None and levels[1].level is Level.ALERT


def test_alarm_resets_and_outranks_alert():
    chart = RiskAdjustedCusum(odds_ratio=2.0, alert_h=0.5, alarm_h=1.0)
    crossing = chart.update(Outcome(1, 0.01))  # one jump of ~0.68 passes the alert only
    assert crossing.level is Level.ALERT
    crossing = chart.update(Outcome(1, 0.01))  # the next passes both: one signal, the alarm
    assert crossing.level is Level.ALARM
    assert crossing.statistic == pytest.approx(2 * (math.log(2) - math.log(1.01)))
    assert crossing.threshold == 1.0
    assert chart.statistic == 0.0 and not chart.alerted


def test_direction_and_better_chart_signals_on_survival():
    better = RiskAdjustedCusum(odds_ratio=0.5, alert_h=1.0, alarm_h=2.0)
    assert better.direction is Direction.BETTER
    assert RiskAdjustedCusum(odds_ratio=2, alarm_h=1).direction is Direction.WORSE
    crossings = [better.update(Outcome(0, 0.5)) for _ in range(14)]
    assert [c.level for c in crossings if c] == [Level.ALERT, Level.ALARM, Level.ALERT, Level.ALARM]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"odds_ratio": 1.0, "alarm_h": 4.5},
        {"odds_ratio": -2.0, "alarm_h": 4.5},
        {"odds_ratio": 2.0, "alarm_h": 0.0},
        {"odds_ratio": 2.0, "alarm_h": 4.5, "alert_h": 5.0},
    ],
)
def test_invalid_parameters(kwargs):
    with pytest.raises(ValueError):
        RiskAdjustedCusum(**kwargs)


def test_state_round_trip_continues_identically():
    a = RiskAdjustedCusum(odds_ratio=2.0, alert_h=1.0, alarm_h=3.0)
    for y in (1, 1, 0):
        a.update(Outcome(y, 0.2))
    b = RiskAdjustedCusum.from_state(a.to_state())
    assert [a.update(Outcome(1, 0.2)) for _ in range(5)] == [
        b.update(Outcome(1, 0.2)) for _ in range(5)
    ]
    assert a == b
