"""Lattice calibration against exact chains built independently, cran/spc and simulation.

Issue 13's example: a Poisson CUSUM for a doubling (r = 2) with λ0·E = 1.5·ln 2 events
expected per step, so every score is a multiple of ln(2)/2. The discretised chain's root
finder put the limit for ARL0 = 500 at 5.1981, inside the step whose exact ARL is 431.8; the
next attainable limit gives 617.9.
"""

import math

import numpy as np
import pytest
from scipy import stats

from signals.calibration import calibrate_arl0, calibrate_false_signal_probability, limit_for_arl0
from signals.cusum_increments import CusumIncrements, bernoulli_increments, poisson_chart_increments
from signals.false_signal import maximum_distribution
from signals.lattice_calibration import lattice_limit_for_arl0
from signals.lattice_chain import lattice_arl, lattice_of, lattice_signal_probability
from signals.simulated_arl import arl_estimate, simulate_run_lengths

LN2 = math.log(2)


def counts_chart(mu0: float, k: float) -> CusumIncrements:
    """cran/spc's Poisson CUSUM ``S = max(0, S + X − k)``, ``X ~ Poisson(mu0)``."""
    counts = np.arange(int(stats.poisson.isf(1e-15, mu0)) + 2)
    pmf = stats.poisson.pmf(counts, mu0)
    pmf[-1] += stats.poisson.sf(counts[-1], mu0)
    return CusumIncrements.of(counts - k, pmf)


def lattice_bernoulli(odds_ratio: float, j: int, m: int) -> CusumIncrements:
    """The unadjusted Bernoulli CUSUM whose survivor score is −(j/m)·ln R: p0 chosen so."""
    p0 = (odds_ratio ** (j / m) - 1) / (odds_ratio - 1)
    return bernoulli_increments(odds_ratio, p0)


def brute_force_arl(moves: dict[tuple[int, ...], float], states: int) -> float:
    """ARL from 0 of a chart on whole steps, built state by state and outcome by outcome.

    ``moves`` maps each outcome's phase moves (in steps) to its probability; the chart
    clips at 0 and signals at ``states`` or beyond after every phase.
    """
    q = np.zeros((states, states))
    for start in range(states):
        for phases, probability in moves.items():
            s = start
            for move in phases:
                s = max(0, s + move)
                if s >= states:
                    break
            else:
                q[start, s] += probability
    return float(np.linalg.solve(np.eye(states) - q, np.ones(states))[0])


def poisson_moves(rate_ratio_steps: int, drift_steps: int, mu: float, exposure_first: bool):
    counts = np.arange(int(stats.poisson.isf(1e-15, mu)) + 2)
    pmf = stats.poisson.pmf(counts, mu)
    pmf[-1] += stats.poisson.sf(counts[-1], mu)
    rises = counts.astype(int) * rate_ratio_steps
    if exposure_first:
        return {(-drift_steps, int(up)): p for up, p in zip(rises, pmf, strict=True)}
    return {(int(up) - drift_steps,): p for up, p in zip(rises, pmf, strict=True)}


def test_spc_pois_cusum_crit_reference_lucas_1985():
    # cran/spc man/pois.cusum.crit.Rd: mu0 = 0.25, k = km/m = 1/4, A = 430 → hm = 40 (h = 10),
    # as Lucas (1985, Table 2) reported.
    found = lattice_limit_for_arl0(lattice_of(counts_chart(0.25, 0.25)), 430)
    assert found.lattice_step == 0.25
    assert round(found.h / found.lattice_step + 0.5) == 40
    below = lattice_arl(lattice_of(counts_chart(0.25, 0.25)), 39)
    assert below < 430 <= found.achieved
    assert (round(below, 2), round(found.achieved, 2)) == (417.46, 438.12)


@pytest.mark.parametrize("exposure_first", [True, False])
def test_issue_example_poisson_target_500(exposure_first):
    inc = poisson_chart_increments(2.0, 1.5 * LN2, 1.0, exposure_first=exposure_first)
    found = calibrate_arl0(inc, 500)
    assert found.method == "lattice" and not found.exact
    assert found.lattice_step == pytest.approx(LN2 / 2)
    lattice = lattice_of(inc)
    states = lattice.states_below(found.h)
    assert lattice_arl(lattice, states) == found.achieved
    assert found.achieved == pytest.approx(617.85, abs=0.01)
    assert lattice_arl(lattice, states - 1) == pytest.approx(431.78, abs=0.01)
    # The discretised chain's root lies in the lower step: its true ARL is 431.8, not 500.
    smoothed = limit_for_arl0(inc, 500)
    assert lattice.states_below(smoothed) == states - 1


@pytest.mark.parametrize("target", [50, 200, 500, 1000, 5000])
@pytest.mark.parametrize("exposure_first", [True, False])
def test_poisson_lattice_calibration_matches_a_brute_force_chain(target, exposure_first):
    # r = 2, λ0·E = 1.5·ln 2: an event moves up 2 half-ln2 steps, the exposure down 3.
    inc = poisson_chart_increments(2.0, 1.5 * LN2, 1.0, exposure_first=exposure_first)
    found = calibrate_arl0(inc, target)
    moves = poisson_moves(2, 3, 1.5 * LN2, exposure_first)
    states = lattice_of(inc).states_below(found.h)
    assert brute_force_arl(moves, states) == pytest.approx(found.achieved, rel=1e-9)
    assert brute_force_arl(moves, states - 1) < target <= found.achieved


@pytest.mark.parametrize("target", [100, 370, 500, 2000])
@pytest.mark.parametrize(("odds_ratio", "j", "m"), [(2.0, 1, 10), (2.0, 1, 4), (0.5, 1, 3)])
def test_bernoulli_lattice_calibration_matches_a_brute_force_chain(target, odds_ratio, j, m):
    inc = lattice_bernoulli(odds_ratio, j, m)
    found = calibrate_arl0(inc, target)
    assert found.method == "lattice"
    assert found.lattice_step == pytest.approx(abs(math.log(odds_ratio)) / m)
    sign = 1 if odds_ratio > 1 else -1
    p0 = (odds_ratio ** (j / m) - 1) / (odds_ratio - 1)
    # R > 1: a death rises m − j steps, a survivor falls j; R < 1 the other way round.
    moves = {(sign * (m - j),): p0, (-sign * j,): 1 - p0}
    states = lattice_of(inc).states_below(found.h)
    assert brute_force_arl(moves, states) == pytest.approx(found.achieved, rel=1e-9)
    assert brute_force_arl(moves, states - 1) < target <= found.achieved


def test_lattice_arl_agrees_with_a_long_simulation():
    inc = lattice_bernoulli(2.0, 1, 10)
    found = calibrate_arl0(inc, 370)
    lengths = simulate_run_lengths(inc, found.h, runs=40_000, seed=13)
    estimate = arl_estimate(lengths, 1_000_000)
    assert estimate.censored == 0
    assert abs(estimate.arl - found.achieved) < 4 * estimate.standard_error


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2])
def test_false_signal_calibration_matches_exact_enumeration(alpha):
    inc = lattice_bernoulli(2.0, 1, 4)
    found = calibrate_false_signal_probability(inc, alpha, horizon=14)
    assert found.method == "lattice" and found.achieved <= alpha
    levels, reach = maximum_distribution(inc, 14)
    by_enumeration = reach[np.searchsorted(levels, found.h)]  # first level ≥ h
    assert by_enumeration == pytest.approx(found.achieved, rel=1e-9)
    lattice = lattice_of(inc)
    below = lattice_signal_probability(lattice, lattice.states_below(found.h) - 1, 14)
    assert below > alpha


def test_scores_off_a_lattice_use_the_discretised_chain():
    assert lattice_of(bernoulli_increments(2.0, 0.1)) is None
    assert lattice_of(bernoulli_increments(2.0, [0.05, 0.1, 0.3])) is None
    found = calibrate_arl0(bernoulli_increments(2.0, 0.1), 500)
    assert found.method == "markov" and found.exact and found.lattice_step is None


def test_the_returned_limit_is_safe_from_rounding_of_the_statistic():
    # Sums of scores land on lattice values only to rounding error; the limit sits half a
    # step from both neighbouring values.
    inc = poisson_chart_increments(2.0, 1.5 * LN2, 1.0)
    found = calibrate_arl0(inc, 500)
    offset = found.h / found.lattice_step
    assert offset - math.floor(offset) == pytest.approx(0.5)
