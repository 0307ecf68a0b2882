"""False-signal probability within a horizon: exact enumeration and the Markov chain."""

import itertools

import numpy as np
import pytest

from signals.cusum_increments import (
    CusumIncrements,
    PhasedIncrements,
    bernoulli_increments,
    poisson_exposure_first_increments,
    poisson_increments,
)
from signals.false_signal import (
    exact_false_signal_probability,
    false_signal_probability,
    maximum_distribution,
    poisson_false_signal_probability,
    signal_probability_of_increments,
)
from signals.markov_arl import transition_matrix
from signals.simulated_arl import simulate_run_lengths


def _brute_force(inc: CusumIncrements, h: float, horizon: int) -> float:
    """Sum the probability of every score sequence whose CUSUM reaches h."""
    total = 0.0
    for path in itertools.product(range(inc.values.size), repeat=horizon):
        statistic, reached = 0.0, False
        for k in path:
            statistic = max(0.0, statistic + inc.values[k])
            reached = reached or statistic >= h - 1e-9
        if reached:
            total += float(np.prod(inc.probabilities[list(path)]))
    return total


def test_enumeration_matches_brute_force_over_every_sequence():
    inc = bernoulli_increments(2.0, [0.05, 0.3])  # four distinct scores
    levels, reach = maximum_distribution(inc, horizon=6)
    for h in (0.3, 0.9, 1.5, levels[len(levels) // 2], levels[-1]):
        expected = _brute_force(inc, h, 6)
        assert exact_false_signal_probability(h, 6, 2.0, [0.05, 0.3]) == pytest.approx(expected)
    assert np.all(np.diff(reach) <= 0)  # higher levels are reached less often


def test_cusum_packages_reference_sequence_probabilities():
    # cran/cusum: p0 = 0.1, odds multiplier 2, 10 patients. The limit 1.41227 (3 deaths net of
    # 4 survivors) is reached with probability 0.05106, the next level up with 0.04149.
    assert exact_false_signal_probability(1.41227, 10, 2.0, 0.1) == pytest.approx(0.0510589504)
    assert exact_false_signal_probability(1.45, 10, 2.0, 0.1) == pytest.approx(0.0414930124)


def test_markov_chain_matches_enumeration_away_from_the_steps():
    # The exact probability is a step function of h; the chain reproduces it except within
    # one grid cell below each step.
    for h in (0.7, 1.2, 1.45, 2.0, 3.0):
        exact = exact_false_signal_probability(h, 10, 2.0, 0.1)
        assert false_signal_probability(h, 10, 2.0, 0.1) == pytest.approx(exact, rel=1e-3)


def test_markov_chain_on_a_risk_mix_matches_enumeration():
    risks = [0.02, 0.1, 0.25]
    for h in (1.0, 2.0):
        exact = exact_false_signal_probability(h, 7, 2.0, risks)
        assert false_signal_probability(h, 7, 2.0, risks) == pytest.approx(exact, abs=0.003)


def test_long_horizons_square_the_matrix_consistently():
    # Beyond 4 × grid steps the transient distribution comes from repeated squaring.
    inc = bernoulli_increments(2.0, [0.05, 0.15])
    q = transition_matrix(inc, 2.0, grid=50)
    state = np.eye(50)[0]
    for _ in range(333):
        state = state @ q
    squared = signal_probability_of_increments(inc, 2.0, horizon=333, grid=50)
    assert squared == pytest.approx(1 - state.sum(), rel=1e-10)


def test_poisson_probability_agrees_with_simulation():
    horizon = 60
    probability = poisson_false_signal_probability(3.0, horizon, 2.0, 0.01, exposure=40.0)
    inc = poisson_increments(2.0, 0.01, exposure=40.0)
    lengths = simulate_run_lengths(inc, 3.0, runs=40_000, seed=8, max_steps=horizon)
    simulated = float(np.mean(lengths <= horizon))
    se = np.sqrt(probability * (1 - probability) / lengths.size)
    assert abs(simulated - probability) < 4 * se


def test_probability_grows_with_the_horizon_and_falls_with_h():
    risks = np.linspace(0.02, 0.3, 6)
    by_horizon = [false_signal_probability(2.0, n, 2.0, risks) for n in (10, 50, 200, 1000)]
    by_limit = [false_signal_probability(h, 100, 2.0, risks) for h in (1.0, 2.0, 3.0, 4.0)]
    assert np.all(np.diff(by_horizon) > 0)
    assert np.all(np.diff(by_limit) < 0)


def test_enumeration_refuses_to_explode():
    with pytest.raises(ValueError, match="reachable states"):
        maximum_distribution(bernoulli_increments(2.0, np.linspace(0.01, 0.5, 40)), 8, 10_000)


def test_invalid_horizon_is_rejected():
    with pytest.raises(ValueError):
        false_signal_probability(1.0, 0, 2.0, 0.1)


def test_phased_enumeration_checks_the_limit_between_phases():
    # Drift +0.6 then −1 with probability 1/2: from 0.6 after one drift, a second drift reaches
    # 1.2 ≥ h = 1 mid-step even if the event phase then pulls the statistic back down.
    inc = PhasedIncrements.of([[0.6, 0.0], [0.6, -1.0]], [0.5, 0.5])
    levels, reach = maximum_distribution(inc, horizon=2)
    assert levels.tolist() == pytest.approx([0.2, 0.6, 1.2])
    assert reach.tolist() == pytest.approx([1.0, 1.0, 0.5])
    # The chain agrees, away from the levels.
    assert signal_probability_of_increments(inc, 1.0, 2) == pytest.approx(0.5)


def test_exposure_first_poisson_probability_matches_enumeration():
    inc = poisson_exposure_first_increments(2.0, 0.01, exposure=40.0)
    levels, reach = maximum_distribution(inc, horizon=6)
    for h in (1.0, 1.9, 2.9):
        expected = reach[np.searchsorted(levels, h)]
        markov = poisson_false_signal_probability(h, 6, 2.0, 0.01, 40.0, exposure_first=True)
        assert markov == pytest.approx(expected, rel=1e-3)
