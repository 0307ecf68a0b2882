"""Funnel plot limits, overdispersion and classification."""

from __future__ import annotations

import numpy as np
import pytest

from signals.crossing import Crossing, Direction, Level
from signals.funnel import (
    FunnelInput,
    adjusted_limits,
    estimate_overdispersion,
    funnel_curves,
    funnel_limits,
    funnel_snapshot,
    poisson_limits,
    snapshot_curves,
)

# nhs-r-community/FunnelPlotR tests/testthat/test-poisson_limits.R: target 1, E = 15, 20, 30.
REFERENCE_E = [15, 20, 30]
REFERENCE = {
    0.95: ([0.5596924, 0.6108260, 0.6746958], [1.649348, 1.544419, 1.427562]),
    0.998: ([0.3862650, 0.4479107, 0.5289724], [2.082907, 1.902094, 1.702771]),
}


@pytest.mark.parametrize("level", [0.95, 0.998])
def test_poisson_limits_match_funnelplotr(level: float) -> None:
    lower, upper = poisson_limits(REFERENCE_E, level)
    want_lower, want_upper = REFERENCE[level]
    np.testing.assert_allclose(lower, want_lower, rtol=0, atol=1e-6)
    np.testing.assert_allclose(upper, want_upper, rtol=0, atol=1e-6)


def test_funnel_limits_holds_both_levels() -> None:
    lim = funnel_limits(REFERENCE_E)
    assert lim.levels == (0.95, 0.998) and lim.tau2 is None
    for level, (want_lower, want_upper) in REFERENCE.items():
        lower, upper = lim.band(level)
        np.testing.assert_allclose(lower, want_lower, rtol=0, atol=1e-6)
        np.testing.assert_allclose(upper, want_upper, rtol=0, atol=1e-6)


def test_target_scales_the_null_mean() -> None:
    # O ~ Poisson(t·E): the limits at (E, t) are t × the limits at t·E with target 1.
    lo2, hi2 = poisson_limits([10.0], 0.95, target=2.0)
    lo1, hi1 = poisson_limits([20.0], 0.95)
    assert lo2[0] == pytest.approx(2 * lo1[0]) and hi2[0] == pytest.approx(2 * hi1[0])


def test_limits_narrow_as_expected_grows() -> None:
    c = funnel_curves(1, 1000, n_points=50)
    lower, upper = c.band(0.998)
    assert np.all(np.diff(upper) < 0) and np.all(np.diff(lower) > 0)
    assert np.all(lower < 1) and np.all(upper > 1)
    assert c.expected[0] == pytest.approx(1) and c.expected[-1] == pytest.approx(1000)


def test_snapshot_classifies_level_and_direction() -> None:
    rows = [
        FunnelInput("alarm-worse", 45, 20.0),  # 2.25 > 1.902 (99.8% upper at 20)
        FunnelInput("alert-worse", 33, 20.0),  # 1.65: between 1.544 and 1.902
        FunnelInput("within", 20, 20.0),
        FunnelInput("alert-better", 11, 20.0),  # 0.55: between 0.448 and 0.611
        FunnelInput("alarm-better", 8, 20.0),  # 0.40 < 0.448
    ]
    snap = funnel_snapshot(rows)
    got = {p.entity_id: (p.level, p.direction) for p in snap.points}
    assert got == {
        "alarm-worse": (Level.ALARM, Direction.WORSE),
        "alert-worse": (Level.ALERT, Direction.WORSE),
        "within": (None, None),
        "alert-better": (Level.ALERT, Direction.BETTER),
        "alarm-better": (Level.ALARM, Direction.BETTER),
    }
    p = snap.points[0]
    assert (p.alert_lower, p.alert_upper) == pytest.approx((0.6108260, 1.544419), abs=1e-6)
    assert (p.alarm_lower, p.alarm_upper) == pytest.approx((0.4479107, 1.902094), abs=1e-6)
    assert p.crossing() == Crossing(Level.ALARM, 2.25, pytest.approx(1.902094, abs=1e-6),
                                    Direction.WORSE)
    assert snap.points[3].crossing() == Crossing(
        Level.ALERT, 0.55, pytest.approx(0.6108260, abs=1e-6), Direction.BETTER
    )
    assert snap.points[2].crossing() is None
    assert [p.entity_id for p in snap.outliers] == [
        "alarm-worse", "alert-worse", "alert-better", "alarm-better",
    ]  # fmt: skip
    # Where more is better, the same points flip direction.
    flipped = funnel_snapshot(rows, higher_is_worse=False)
    assert flipped.points[0].direction is Direction.BETTER
    assert flipped.points[4].direction is Direction.WORSE


def test_a_point_on_a_limit_is_within_it() -> None:
    # FunnelPlotR's outlier test is strict: rr > UCL or rr < LCL.
    upper = float(poisson_limits([20.0], 0.95)[1][0])
    lower = float(poisson_limits([16.0], 0.998)[0][0])
    snap = funnel_snapshot(
        [FunnelInput("on-upper", upper * 20.0, 20.0), FunnelInput("on-lower", lower * 16.0, 16.0)]
    )
    assert snap.points[0].ratio == upper and snap.points[0].level is None
    assert snap.points[1].ratio == lower and snap.points[1].level is Level.ALERT


def test_min_expected_leaves_tiny_entities_unclassified() -> None:
    rows = [FunnelInput("tiny", 0, 0.1), FunnelInput("big", 8, 20.0)]
    # The exact lower limit is positive at any E, so O = 0 is below it even at E = 0.1.
    assert funnel_snapshot(rows).points[0].level is Level.ALARM
    guarded = funnel_snapshot(rows, min_expected=5.0)
    assert guarded.points[0].level is None
    assert guarded.points[1].level is Level.ALARM


def test_snapshot_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        funnel_snapshot([])
    with pytest.raises(ValueError):
        funnel_snapshot([FunnelInput("a", 1, 0.0)])
    with pytest.raises(ValueError):
        funnel_snapshot([FunnelInput("a", -1, 2.0)])
    with pytest.raises(ValueError):
        funnel_snapshot([FunnelInput("a", 1, 2.0)], levels=(0.998, 0.95))


# Ten entities with E = 25 and square O, so z = 2(√O − √E) is a whole number.
OD_OBSERVED = [16, 36, 25, 49, 9, 25, 64, 25, 36, 16]
OD_EXPECTED = [25.0] * 10


def test_overdispersion_hand_checked() -> None:
    od = estimate_overdispersion(OD_OBSERVED, OD_EXPECTED)
    assert od.z == (-2.0, 2.0, 0.0, 4.0, -4.0, 0.0, 6.0, 0.0, 2.0, -2.0)
    # R type-7 quantiles of the sorted z (−4 −2 −2 0 0 0 2 2 4 6): position 0.9 → −2.2 and
    # position 8.1 → 4.2, so −4 becomes −2.2 and 6 becomes 4.2.
    assert od.z_winsorised == pytest.approx(
        (-2.0, 2.0, 0.0, 4.0, -2.2, 0.0, 4.2, 0.0, 2.0, -2.0)
    )
    # Σz² = 4.84 + 4·4 + 16 + 17.64 = 54.48, φ = 5.448.
    assert od.phi == pytest.approx(5.448)
    # w = 1/s² = 4E = 100 each: Σw − Σw²/Σw = 1000 − 100 = 900; τ² = (54.48 − 9)/900.
    assert od.tau2 == pytest.approx(45.48 / 900)
    assert od.n == 10


def test_winsorisation_caps_an_extreme_entity() -> None:
    # With 11 entities the 10% and 90% quantiles are exactly the 2nd and 10th values, so
    # making the most extreme entity far more extreme leaves φ and τ² unchanged.
    e = [25.0] * 11
    base = [*OD_OBSERVED, 25]
    wild = [*OD_OBSERVED[:6], 400, *OD_OBSERVED[7:], 25]  # z: 6 → 30
    a, b = estimate_overdispersion(base, e), estimate_overdispersion(wild, e)
    assert b.z[6] == 30.0 and b.z_winsorised[6] == a.z_winsorised[6] == 4.0
    assert b.phi == pytest.approx(a.phi) and b.tau2 == pytest.approx(a.tau2)
    # Without winsorisation the extreme point would dominate φ.
    assert estimate_overdispersion(wild, e, trim=0).phi > 10 * a.phi


def test_overdispersion_widens_limits() -> None:
    rows = [FunnelInput(f"T{i}", o, 25.0) for i, o in enumerate(OD_OBSERVED)]
    plain = funnel_snapshot(rows)
    adj = funnel_snapshot(rows, overdispersion=True)
    assert adj.adjusted and adj.tau2 == pytest.approx(45.48 / 900)
    p = adj.points[0]
    # Square-root scale: (1 ± z·√(1/(4·25) + τ²))².
    sd = np.sqrt(0.01 + 45.48 / 900)
    assert p.alarm_upper == pytest.approx((1 + 3.090232306 * sd) ** 2)
    assert p.alert_lower == pytest.approx((1 - 1.959963985 * sd) ** 2)
    assert p.alarm_upper > plain.points[0].alarm_upper
    assert len(adj.outliers) < len(plain.outliers)
    # O = 64 at E = 25 (ratio 2.56) is an alarm unadjusted, only an alert once τ² is allowed
    # for (95% upper 2.197, 99.8% upper 3.099); O = 49 (1.96) drops from alarm to within.
    assert plain.points[6].level is Level.ALARM and adj.points[6].level is Level.ALERT
    assert plain.points[3].level is Level.ALARM and adj.points[3].level is None
    assert adj.points[6].alert_upper == pytest.approx(2.1969, abs=1e-4)


def test_no_overdispersion_keeps_exact_poisson_limits() -> None:
    rows = [FunnelInput(f"T{i}", o, 25.0) for i, o in enumerate([24, 25, 26, 25, 23, 27])]
    snap = funnel_snapshot(rows, overdispersion=True)
    assert snap.overdispersion is not None and snap.overdispersion.tau2 == 0.0
    assert not snap.adjusted and snap.tau2 is None
    assert snap.points[0].alert_upper == pytest.approx(poisson_limits([25.0], 0.95)[1][0])


def test_log_transform() -> None:
    od = estimate_overdispersion([10, 40], [20.0, 20.0], transform="log")
    assert od.z == pytest.approx((np.sqrt(20) * np.log(0.5), np.sqrt(20) * np.log(2)))
    lo, hi = adjusted_limits([20.0], 0.95, tau2=0.0, transform="log")
    assert lo[0] * hi[0] == pytest.approx(1.0)  # symmetric on the log scale
    with pytest.raises(ValueError, match="sqrt"):
        estimate_overdispersion([0, 40], [20.0, 20.0], transform="log")


def test_sqrt_lower_limit_never_negative() -> None:
    lo, _ = adjusted_limits([0.5], 0.998, tau2=0.5)
    assert lo[0] == 0.0


def test_snapshot_curves_cover_the_entities() -> None:
    rows = [FunnelInput("a", 3, 2.0), FunnelInput("b", 50, 60.0)]
    c = snapshot_curves(funnel_snapshot(rows), n_points=20)
    assert c.expected[0] < 2.0 and c.expected[-1] > 60.0 and len(c.expected) == 20
    assert c.levels == (0.95, 0.998) and c.tau2 is None
