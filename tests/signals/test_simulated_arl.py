"""Simulated run lengths: agreement with the Markov chain, seeding and censoring."""

import numpy as np
import pytest

from signals.cusum_increments import CusumIncrements, bernoulli_increments
from signals.markov_arl import markov_arl, poisson_markov_arl
from signals.simulated_arl import (
    ArlEstimate,
    arl_estimate,
    poisson_simulated_arl,
    simulate_run_lengths,
    simulated_arl,
)


def test_unadjusted_bernoulli_agrees_with_the_markov_chain():
    estimate = simulated_arl(1.5, 2.0, 0.1, runs=50_000, seed=20240601)
    markov = markov_arl(1.5, 2.0, 0.1)
    assert abs(estimate.arl - markov) < 4 * estimate.standard_error
    assert estimate.arl == pytest.approx(markov, rel=0.03)


def test_poisson_agrees_with_the_markov_chain():
    estimate = poisson_simulated_arl(3.0, 2.0, 0.01, exposure=[20.0, 60.0], runs=40_000, seed=5)
    markov = poisson_markov_arl(3.0, 2.0, 0.01, exposure=[20.0, 60.0])
    assert abs(estimate.arl - markov) < 4 * estimate.standard_error
    assert estimate.arl == pytest.approx(markov, rel=0.03)


def test_improvement_chart_agrees_with_the_markov_chain():
    risks = np.linspace(0.05, 0.5, 8)
    estimate = simulated_arl(2.0, 0.5, risks, runs=20_000, seed=9)
    assert abs(estimate.arl - markov_arl(2.0, 0.5, risks)) < 4 * estimate.standard_error


def test_block_simulation_agrees_with_a_plain_step_by_step_one():
    # An independent simulator: inverse-CDF draws and the recursion S = max(0, S + W).
    inc = CusumIncrements.of([-0.4, 0.3, 1.1], [0.6, 0.3, 0.1])
    fast = arl_estimate(simulate_run_lengths(inc, 1.5, runs=20_000, seed=3), 1_000_000)
    rng = np.random.default_rng(11)
    cdf = np.cumsum(inc.probabilities)
    plain = []
    for _ in range(4_000):
        statistic, n = 0.0, 0
        while statistic < 1.5:
            draw = min(int(np.searchsorted(cdf, rng.random(), side="right")), cdf.size - 1)
            statistic = max(0.0, statistic + inc.values[draw])
            n += 1
        plain.append(n)
    plain_se = np.std(plain, ddof=1) / np.sqrt(len(plain))
    assert abs(fast.arl - np.mean(plain)) < 4 * np.hypot(fast.standard_error, plain_se)


def test_the_same_seed_gives_the_same_estimate():
    first = simulated_arl(2.0, 2.0, [0.05, 0.2], runs=2_000, seed=42)
    again = simulated_arl(2.0, 2.0, [0.05, 0.2], runs=2_000, seed=42)
    other = simulated_arl(2.0, 2.0, [0.05, 0.2], runs=2_000, seed=43)
    assert first == again
    assert first != other


def test_runs_that_outlast_max_steps_are_censored():
    estimate = simulated_arl(6.0, 2.0, 0.05, runs=200, seed=1, max_steps=50)
    assert estimate.censored == 200
    assert estimate.arl == 50.0


def test_arl_estimate_summarises_lengths():
    assert arl_estimate(np.array([2, 4]), max_steps=10) == ArlEstimate(
        arl=3.0, standard_error=1.0, runs=2, censored=0
    )


def test_invalid_simulation_parameters_are_rejected():
    inc = bernoulli_increments(2.0, 0.1)
    for h, runs, max_steps in [(0.0, 10, 10), (1.0, 0, 10), (1.0, 10, 0)]:
        with pytest.raises(ValueError):
            simulate_run_lengths(inc, h, runs, max_steps=max_steps)


@pytest.mark.parametrize("rate_ratio", [2.0, 0.5])
def test_exposure_first_poisson_agrees_with_the_markov_chain(rate_ratio):
    exposures = [30.0, 50.0]
    estimate = poisson_simulated_arl(
        2.5, rate_ratio, 0.01, exposures, runs=20_000, seed=12, exposure_first=True
    )
    markov = poisson_markov_arl(2.5, rate_ratio, 0.01, exposures, exposure_first=True)
    assert abs(estimate.arl - markov) < 4 * estimate.standard_error
