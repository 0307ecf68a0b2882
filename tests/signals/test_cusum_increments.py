"""The in-control score distributions of the Bernoulli and Poisson CUSUMs."""

import math

import numpy as np
import pytest

from signals.cusum_increments import (
    CusumIncrements,
    PhasedIncrements,
    bernoulli_increments,
    largest_rise,
    phase_values,
    poisson_chart_increments,
    poisson_exposure_first_increments,
    poisson_increments,
)
from signals.risk_mix import logistic_risks

# cran/vlad tests/testthat/test-llr_score.R: scores for Parsonnet 0 and 50, survived/died.
VLAD_SCORES = {2.0: [-0.024, 0.669, -0.433, 0.260], 0.5: [0.012, -0.681, 0.316, -0.377]}


@pytest.mark.parametrize("odds_ratio", [2.0, 0.5])
def test_bernoulli_scores_are_vlads_log_likelihood_ratios(odds_ratio):
    risks = logistic_risks([0, 50], -3.68, 0.077)
    inc = bernoulli_increments(odds_ratio, risks)
    expected = VLAD_SCORES[odds_ratio]
    assert sorted(inc.values.round(3).tolist()) == sorted(expected)
    by_value = dict(zip(inc.values.round(3).tolist(), inc.probabilities.tolist(), strict=True))
    # Each patient is equally likely; a death has the patient's risk.
    for (p, y), score in zip([(0, 0), (0, 1), (1, 0), (1, 1)], expected, strict=True):
        assert by_value[score] == pytest.approx(0.5 * (risks[p] if y else 1 - risks[p]))


def test_in_control_bernoulli_scores_have_negative_mean():
    risks = np.linspace(0.01, 0.6, 25)
    for odds_ratio in (2.0, 0.5, 1.5):
        assert bernoulli_increments(odds_ratio, risks).mean() < 0


def test_the_unadjusted_chart_is_a_one_point_mix():
    inc = bernoulli_increments(2.0, 0.1)
    assert inc.values.tolist() == pytest.approx([-math.log(1.1), math.log(2 / 1.1)])
    assert inc.probabilities.tolist() == pytest.approx([0.9, 0.1])


def test_poisson_scores_follow_the_poisson_distribution():
    mean_count, r = 0.4, 2.0
    inc = poisson_increments(r, benchmark_rate=0.01, exposure=40.0)
    counts = np.round((inc.values + (r - 1) * mean_count) / math.log(r)).astype(int)
    assert counts[:4].tolist() == [0, 1, 2, 3]
    pmf = [math.exp(-mean_count) * mean_count**k / math.factorial(k) for k in range(4)]
    assert inc.probabilities[:4].tolist() == pytest.approx(pmf)
    assert inc.probabilities.sum() == pytest.approx(1.0)
    assert inc.mean() == pytest.approx(mean_count * (math.log(r) - (r - 1)))


def test_poisson_exposure_mix_weights_each_exposure():
    mixed = poisson_increments(0.5, 0.1, exposure=[1.0, 3.0], weights=[3, 1])
    single = [poisson_increments(0.5, 0.1, exposure=e) for e in (1.0, 3.0)]
    assert mixed.mean() == pytest.approx(0.75 * single[0].mean() + 0.25 * single[1].mean())


def test_equal_values_merge_and_impossible_ones_drop():
    inc = CusumIncrements.of([1.0, -1.0, 1.0, 5.0], [1, 2, 1, 0])
    assert inc.values.tolist() == [-1.0, 1.0]
    assert inc.probabilities.tolist() == [0.5, 0.5]


@pytest.mark.parametrize("odds_ratio", [1.0, 0.0, -2.0, math.inf])
def test_a_useless_odds_ratio_is_rejected(odds_ratio):
    with pytest.raises(ValueError):
        bernoulli_increments(odds_ratio, 0.1)


def test_invalid_poisson_parameters_are_rejected():
    for args in [(1.0, 0.1), (2.0, 0.0), (2.0, -1.0)]:
        with pytest.raises(ValueError):
            poisson_increments(*args)
    with pytest.raises(ValueError):
        poisson_increments(2.0, 0.1, exposure=[1.0, 0.0])


def test_exposure_first_steps_split_each_poisson_score_in_two():
    phased = poisson_exposure_first_increments(2.0, 0.01, exposure=[30.0, 50.0])
    one_phase = poisson_increments(2.0, 0.01, exposure=[30.0, 50.0])
    assert phased.values.shape[1] == 2
    assert set(phased.values[:, 0].round(12)) == {-0.3, -0.5}  # −(r − 1)·λ0·E
    assert phased.probabilities.sum() == pytest.approx(1.0)
    assert phased.mean() == pytest.approx(one_phase.mean())
    assert isinstance(poisson_chart_increments(2.0, 0.01, exposure_first=True), PhasedIncrements)
    assert isinstance(poisson_chart_increments(2.0, 0.01), CusumIncrements)


def test_phase_values_and_largest_rise_cover_both_kinds():
    plain = CusumIncrements.of([-0.5, 0.25], [0.5, 0.5])
    phased = PhasedIncrements.of([[-0.5, 0.0], [-0.5, 0.75]], [0.9, 0.1])
    assert phase_values(plain).shape == (2, 1)
    assert (largest_rise(plain), largest_rise(phased)) == (0.25, 0.75)
    with pytest.raises(ValueError):
        PhasedIncrements.of([0.1, 0.2], [0.5, 0.5])  # not one row per outcome
