"""Control-limit calibration against published limits, and simulation on real patient mixes."""

import csv
from pathlib import Path

import numpy as np
import pytest

from signals.calibration import (
    h_for_arl0,
    h_for_false_signal_probability,
    limit_for_false_signal_probability,
    poisson_h_for_arl0,
    poisson_h_for_false_signal_probability,
)
from signals.cusum_increments import bernoulli_increments
from signals.false_signal import (
    exact_false_signal_probability,
    false_signal_probability,
    poisson_false_signal_probability,
)
from signals.markov_arl import markov_arl, poisson_markov_arl
from signals.risk_mix import beta_parsonnet_mix, logistic_risks, risk_mix
from signals.simulated_arl import simulated_arl

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"


@pytest.fixture(scope="module")
def phase_one_risks() -> np.ndarray:
    """Predicted risks of cardiacsurgery.csv's Phase I patients (date < 730).

    The model is the one fitted on Phase I (statistics.md, as in cran/vlad's
    test-racusum_crit_mc.R): logit p = −3.790488 + 0.0798444·Parsonnet.
    """
    path = SHARED / "data" / "cardiacsurgery.csv"
    if not path.is_file():
        pytest.skip("../shared/data not present (a user's clone has no shared folder)")
    with path.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if int(row["date"]) < 730]
    deaths = sum(int(r["status"]) == 1 and int(r["time"]) <= 30 for r in rows)
    assert (len(rows), deaths) == (1766, 108)  # the published Phase I
    parsonnet = np.array([float(r["Parsonnet"]) for r in rows])
    return logistic_risks(parsonnet, -3.790488, 0.0798444)


def test_beta_mix_limit_for_arl0_500():
    # cran/vlad tests/testthat/test-racusum_beta_crit_mc.R: 2.5178.
    mix = beta_parsonnet_mix()
    h = h_for_arl0(500, 2.0, mix.risks, mix.weights)
    assert h == pytest.approx(2.5178, abs=0.005)
    assert markov_arl(h, 2.0, mix.risks, mix.weights) == pytest.approx(500, rel=1e-5)


@pytest.mark.shared_data
def test_cardiac_surgery_limit_for_arl0_370(phase_one_risks):
    # cran/vlad tests/testthat/test-racusum_crit_mc.R: 1.8592 (its own 600-per-unit chain).
    h = h_for_arl0(370, 2.0, phase_one_risks)
    assert h == pytest.approx(1.8592, abs=0.005)


@pytest.mark.shared_data
def test_deduplicating_the_mix_changes_nothing(phase_one_risks):
    mix = risk_mix(phase_one_risks)
    assert mix.risks.size < 100  # Parsonnet scores repeat: a few dozen distinct risks
    assert markov_arl(3.0, 2.0, *mix) == pytest.approx(markov_arl(3.0, 2.0, phase_one_risks))


@pytest.mark.shared_data
@pytest.mark.parametrize(("h", "seed"), [(2.0, 101), (3.0, 102), (4.5, 103)])
def test_simulation_agrees_with_the_markov_chain_on_real_patients(phase_one_risks, h, seed):
    # 10,000 runs put the standard error near 1%, so 3% is a three-sigma band.
    estimate = simulated_arl(h, 2.0, phase_one_risks, runs=10_000, seed=seed)
    markov = markov_arl(h, 2.0, phase_one_risks)
    assert estimate.censored == 0
    assert estimate.standard_error < 0.011 * markov
    assert estimate.arl == pytest.approx(markov, rel=0.03)


def test_cusum_package_exact_limit():
    # cran/cusum tests/testthat/test_cusum_limit_exact.R: α = 0.05, 10 patients, failure
    # probability 0.1, odds multiplier 2 → 1.41227 (all 2^10 outcome sequences).
    h = h_for_false_signal_probability(0.05, 10, 2.0, 0.1, method="exact")
    assert h == pytest.approx(1.41227, abs=5e-6)


def test_markov_limit_for_false_signal_probability_sits_on_the_exact_step():
    exact = h_for_false_signal_probability(0.05, 10, 2.0, 0.1, method="exact")
    markov = h_for_false_signal_probability(0.05, 10, 2.0, 0.1)
    assert markov == pytest.approx(exact, abs=0.005)
    assert false_signal_probability(markov, 10, 2.0, 0.1) == pytest.approx(0.05, abs=1e-6)


def test_exact_limit_is_the_level_whose_probability_is_closest_to_alpha():
    risks = [0.05, 0.2]
    h = h_for_false_signal_probability(0.1, 8, 2.0, risks, method="exact")
    chosen = exact_false_signal_probability(h, 8, 2.0, risks)
    for other in np.linspace(0.05, 4.0, 80):
        assert abs(chosen - 0.1) <= abs(exact_false_signal_probability(other, 8, 2.0, risks) - 0.1)


@pytest.mark.shared_data
def test_false_signal_limit_over_half_a_year_of_real_patients(phase_one_risks):
    h = h_for_false_signal_probability(0.05, 450, 2.0, phase_one_risks)
    assert false_signal_probability(h, 450, 2.0, phase_one_risks) == pytest.approx(0.05, abs=1e-6)
    # A 5% chance of a false signal over 450 patients needs a wider limit than ARL0 = 370.
    assert h > h_for_arl0(370, 2.0, phase_one_risks)


def test_improvement_chart_calibrates_too():
    mix = beta_parsonnet_mix()
    h = h_for_arl0(1000, 0.5, mix.risks, mix.weights)
    assert markov_arl(h, 0.5, mix.risks, mix.weights) == pytest.approx(1000, rel=1e-5)


def test_poisson_limit_for_arl0_round_trips():
    h = poisson_h_for_arl0(120, 2.0, 0.01, exposure=[30.0, 50.0])
    assert poisson_markov_arl(h, 2.0, 0.01, exposure=[30.0, 50.0]) == pytest.approx(120, rel=1e-5)
    assert poisson_h_for_arl0(240, 2.0, 0.01, exposure=[30.0, 50.0]) > h


def test_poisson_limit_for_false_signal_probability_round_trips():
    h = poisson_h_for_false_signal_probability(0.05, 60, 1.5, 0.02, exposure=25.0)
    probability = poisson_false_signal_probability(h, 60, 1.5, 0.02, exposure=25.0)
    assert probability == pytest.approx(0.05, abs=1e-6)


def test_unreachable_targets_are_rejected():
    # Even the smallest limit takes 1/P(death) ≈ 10 patients to signal on average.
    with pytest.raises(ValueError, match="every positive control limit"):
        h_for_arl0(5, 2.0, 0.1)
    with pytest.raises(ValueError):
        h_for_arl0(1.0, 2.0, 0.1)
    # P(any death in 3 patients) = 0.271 is the most any limit can give.
    with pytest.raises(ValueError, match="every positive control limit"):
        h_for_false_signal_probability(0.5, 3, 2.0, 0.1)
    with pytest.raises(ValueError):
        h_for_false_signal_probability(0.0, 10, 2.0, 0.1)


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="unknown method"):
        limit_for_false_signal_probability(bernoulli_increments(2.0, 0.1), 0.05, 10, "guess")


def test_exposure_first_poisson_needs_a_wider_limit_for_the_same_arl0():
    # Vigil's PoissonCusum (exposure first) signals sooner than W-per-interval for r > 1.
    kwargs = {"rate_ratio": 2.0, "benchmark_rate": 0.01, "exposure": [30.0, 50.0]}
    h = poisson_h_for_arl0(120, **kwargs, exposure_first=True)
    assert poisson_markov_arl(h, **kwargs, exposure_first=True) == pytest.approx(120, rel=1e-5)
    assert h > poisson_h_for_arl0(120, **kwargs)
    alpha_h = poisson_h_for_false_signal_probability(0.05, 60, **kwargs, exposure_first=True)
    probability = poisson_false_signal_probability(alpha_h, 60, **kwargs, exposure_first=True)
    assert probability == pytest.approx(0.05, abs=1e-6)
