"""XmR chart limits and the Making Data Count special-cause rules."""

from __future__ import annotations

import pytest

from signals.crossing import Direction
from signals.xmr import Side, SpecialCause, xmr_chart

# NHSRplotthedots vignettes/deviations.Rmd, which prints the limits with round(x, 2).
DEVIATIONS = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]

OUT, TREND, TWO, SHIFT = (
    SpecialCause.OUTSIDE_LIMITS, SpecialCause.TREND, SpecialCause.TWO_IN_THREE,
    SpecialCause.SHIFT,
)  # fmt: skip


def rules(values: list[float], **kwargs: bool) -> dict[int, tuple[SpecialCause, Side]]:
    chart = xmr_chart(values, **kwargs)
    return {p.index: (p.rule, p.side) for p in chart.special_causes}  # type: ignore[misc]


def test_reference_limits_with_screening() -> None:
    c = xmr_chart(DEVIATIONS)
    assert (round(c.upper, 2), round(c.mean, 2), round(c.lower, 2)) == (4.6, 1.94, -0.72)
    # Exactly: mean 35/18; moving ranges 8 and 9 are ≥ 3.267 × 32/17 = 6.15 and are
    # dropped, leaving fifteen ranges of 1.
    assert c.mean == pytest.approx(35 / 18)
    assert c.mean_moving_range == pytest.approx(1.0)
    assert c.upper == pytest.approx(35 / 18 + 2.66) and c.lower == pytest.approx(35 / 18 - 2.66)
    assert [p.index for p in c.points if p.screened] == [4, 5]


def test_reference_limits_without_screening() -> None:
    c = xmr_chart(DEVIATIONS, screen_outliers=False)
    assert (round(c.upper, 2), round(c.mean, 2), round(c.lower, 2)) == (6.95, 1.94, -3.06)
    assert c.mean_moving_range == pytest.approx(32 / 17)
    assert c.upper == pytest.approx(35 / 18 + 2.66 * 32 / 17)
    assert not any(p.screened for p in c.points)


def test_rule1_outside_limits() -> None:
    for screen in (True, False):
        assert rules(DEVIATIONS, screen_outliers=screen) == {4: (OUT, Side.HIGH)}
    c = xmr_chart(DEVIATIONS)
    assert c.points[4].direction is Direction.WORSE
    assert xmr_chart(DEVIATIONS, higher_is_worse=False).points[4].direction is Direction.BETTER
    low = [-v for v in DEVIATIONS]
    assert rules(low) == {4: (OUT, Side.LOW)}


ZIGZAG = [10, 12, 10, 12, 10, 12, 10, 12]


def test_rule2_trend_of_seven_rising_and_falling() -> None:
    rising = [*ZIGZAG, 9, 9.5, 10, 10.5, 11, 11.5, 12, 10, 12, 10, 12, 10]
    assert rules(rising) == {i: (TREND, Side.HIGH) for i in range(8, 15)}
    falling = [*ZIGZAG, 12, 11.5, 11, 10.5, 10, 9.5, 9, 10, 12, 10, 12, 10]
    assert rules(falling) == {i: (TREND, Side.LOW) for i in range(8, 15)}
    c = xmr_chart(falling, higher_is_worse=True)
    assert {p.direction for p in c.special_causes} == {Direction.BETTER}


def test_rule2_needs_seven_points_and_strict_steps() -> None:
    # Six rising points (five increases) are not a trend, nor is a run with a tie.
    six = [*ZIGZAG, 9, 9.5, 10, 10.5, 11, 11.5, 10, 12, 10, 12, 10]
    assert rules(six) == {}
    tie = [*ZIGZAG, 9, 9.5, 10, 10, 10.5, 11, 11.5, 10, 12, 10, 12, 10]
    assert rules(tie) == {}


def test_rule3_two_of_three_near_a_limit() -> None:
    high = [10, 11] * 5 + [13.5, 11, 13.5] + [10, 11] * 4
    c = xmr_chart(high)
    assert c.upper_near < 13.5 < c.upper
    # Only the two close points are marked, not the third point of the window.
    assert rules(high) == {10: (TWO, Side.HIGH), 12: (TWO, Side.HIGH)}
    low = [10, 11] * 5 + [7.5, 10, 7.5] + [11, 10] * 4
    assert rules(low) == {10: (TWO, Side.LOW), 12: (TWO, Side.LOW)}


def test_rule3_needs_all_three_on_one_side() -> None:
    # The middle point is below the mean, so the window is not all on one side.
    split = [10, 11] * 5 + [13.5, 10, 13.5] + [10, 11] * 4
    c = xmr_chart(split)
    assert c.points[11].value < c.mean and c.upper_near < 13.5 < c.upper
    assert rules(split) == {}


UP = [10.5, 11] * 3
TAIL = [7, 16, 4, 16, 4, 16, 4, 7, 7]


def test_rule4_shift_of_seven_on_one_side() -> None:
    shifted = [*UP, 10.5, *UP, *TAIL]
    assert rules(shifted) == {i: (SHIFT, Side.HIGH) for i in range(13)}


def test_rule4_point_on_the_mean_breaks_the_run() -> None:
    # Same series with index 6 exactly on the mean (10): two runs of six, no shift.
    broken = [*UP, 10, *UP, *TAIL]
    c = xmr_chart(broken)
    assert c.mean == 10.0 and c.points[6].value == c.mean
    assert rules(broken) == {}


def test_priority_outside_then_trend_then_two_in_three_then_shift() -> None:
    y = [10, 11] * 6 + [11.2, 11.4, 11.6, 11.8, 12, 12.2, 20]
    c = xmr_chart(y)
    r = rules(y)
    # 20 ends a nine-point rising trend (10 → 20 from index 10) but is outside the limits.
    assert c.points[18].value > c.upper and r[18] == (OUT, Side.HIGH)
    # Indices 10–12 (10, 11, 11.2) lie below the mean in a 13-point run (a shift) and are
    # in the trend: the trend wins. Index 10 is also close to the lower limit in a
    # two-in-three window (8, 9, 10), and the trend still wins.
    assert all(c.points[i].value < c.mean for i in range(13))
    assert c.points[10].value < c.lower_near
    assert [r[i] for i in (10, 11, 12)] == [(TREND, Side.HIGH)] * 3
    # Before the trend, the close points (10s) report two-in-three, the others the shift.
    assert [r[i][0] for i in range(10)] == [TWO, SHIFT] * 5
    assert all(r[i][1] is Side.LOW for i in range(10))


def test_peak_takes_the_later_trend_direction() -> None:
    # 4 → 10 rises over seven points and 10 → 4 falls over seven; the peak (index 14) is in
    # both and, as in NHSRplotthedots, takes the direction of the trend that follows it.
    y = [4, 10] * 4 + [4, 5, 6, 7, 8, 9, 10, 9, 8, 7, 6, 5, 4] + [10, 4] * 3
    r = rules(y)
    assert r == {
        **{i: (TREND, Side.HIGH) for i in range(8, 14)},
        **{i: (TREND, Side.LOW) for i in range(14, 21)},
    }


def test_input_checks() -> None:
    with pytest.raises(ValueError):
        xmr_chart([1.0])
    with pytest.raises(ValueError):
        xmr_chart([1.0, float("nan")])


def test_constant_series_has_no_special_causes() -> None:
    c = xmr_chart([5.0] * 20)
    assert c.mean_moving_range == 0.0 and c.upper == c.lower == 5.0
    assert c.special_causes == ()
