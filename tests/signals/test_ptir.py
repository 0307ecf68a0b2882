"""PTIR, its exact Poisson interval and the NJR outlier levels."""

from __future__ import annotations

import math

import pytest
from scipy.stats import chi2, poisson

from signals.ptir import (
    compare_ptir,
    level1_candidate,
    level2_candidate,
    outlier_level,
    poisson_count_interval,
    ptir,
)


def test_ptir_is_per_100_implant_years():
    assert ptir(10, 100.0) == 10.0
    assert ptir(3, 1200.0) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        ptir(1, 0.0)


def test_interval_for_ten_matches_chi_square_tables():
    # χ²(0.025; 20) = 9.590777, χ²(0.975; 22) = 36.780712
    lower, upper = poisson_count_interval(10)
    assert lower == pytest.approx(9.590777 / 2, abs=1e-6)
    assert upper == pytest.approx(36.780712 / 2, abs=1e-6)


def test_interval_for_zero_has_a_closed_form():
    lower, upper = poisson_count_interval(0, confidence=0.95)
    assert lower == 0.0
    assert upper == pytest.approx(-math.log(0.025))  # P(X = 0 | μ) = e^−μ = α/2


@pytest.mark.parametrize("count", [1, 4, 17, 60])
@pytest.mark.parametrize("confidence", [0.95, 0.998])
def test_interval_ends_are_the_garwood_tail_limits(count, confidence):
    alpha = 1 - confidence
    lower, upper = poisson_count_interval(count, confidence)
    assert lower == pytest.approx(chi2.ppf(alpha / 2, 2 * count) / 2)
    # the limits are where each tail probability is exactly α/2
    assert poisson.sf(count - 1, lower) == pytest.approx(alpha / 2)
    assert poisson.cdf(count, upper) == pytest.approx(alpha / 2)


def test_comparison_for_ten_revisions_over_100_implant_years():
    c = compare_ptir(10, 100.0, primaries=150, benchmark_rate=0.05)
    assert (c.ptir, c.benchmark_ptir, c.expected, c.ratio) == (10.0, 5.0, 5.0, 2.0)
    assert c.ratio_lower == pytest.approx(9.590777 / 2 / 5, abs=1e-6)  # 0.959078
    assert c.ratio_upper == pytest.approx(36.780712 / 2 / 5, abs=1e-6)  # 3.678071
    assert not level1_candidate(c)  # twice the benchmark, but the interval reaches 1


def test_level1_needs_the_lower_limit_at_twice_and_100_primaries():
    c = compare_ptir(30, 200.0, primaries=100, benchmark_rate=0.05)  # lower 2.024
    assert level1_candidate(c)
    assert not level1_candidate(compare_ptir(30, 200.0, primaries=99, benchmark_rate=0.05))
    assert not level1_candidate(compare_ptir(29, 200.0, primaries=500, benchmark_rate=0.05))
    assert level1_candidate(compare_ptir(29, 200.0, 500, 0.05), min_ratio=1.9)
    assert level1_candidate(compare_ptir(30, 200.0, 50, 0.05), min_primaries=50)


def test_level2_rules_by_volume():
    many = compare_ptir(25, 200.0, primaries=400, benchmark_rate=0.05)  # lower 1.618
    assert level2_candidate(many) and not level1_candidate(many)
    assert outlier_level(many) == 2
    few = compare_ptir(25, 200.0, primaries=99, benchmark_rate=0.05)  # needs 2× when few
    assert not level2_candidate(few)
    assert level2_candidate(few, use_lower_limit=False)  # point estimate 2.5
    assert outlier_level(compare_ptir(30, 200.0, 400, 0.05)) == 1
    assert outlier_level(compare_ptir(10, 200.0, 400, 0.05)) is None


@pytest.mark.parametrize(
    ("args", "error"),
    [((1, 0.0, 10, 0.05), ValueError), ((1, 10.0, -1, 0.05), ValueError),
     ((1, 10.0, 10, 0.0), ValueError), ((-1, 10.0, 10, 0.05), ValueError)],
)
def test_invalid_inputs_are_rejected(args, error):
    with pytest.raises(error):
        compare_ptir(*args)
