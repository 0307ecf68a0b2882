"""The O(N²) Toeplitz + Sherman–Morrison ARL equals the dense LU solve of the same chain."""

import numpy as np
import pytest

from signals.cusum_increments import CusumIncrements, bernoulli_increments, poisson_increments
from signals.markov_arl import arl_of_increments
from signals.risk_mix import beta_parsonnet_mix

CHARTS = {
    "beta mix, R = 2": (bernoulli_increments(2.0, *beta_parsonnet_mix()), 4.5),
    "beta mix, R = 1/2": (bernoulli_increments(0.5, *beta_parsonnet_mix()), 4.5),
    "p0 = 0.1, R = 2": (bernoulli_increments(2.0, 0.1), 2.5),
    "spread mix, R = 3": (bernoulli_increments(3.0, np.linspace(0.01, 0.6, 40)), 3.0),
    "Poisson, r = 2": (poisson_increments(2.0, 0.4, [1.0, 2.5]), 3.0),
    "Poisson, r = 1/2": (poisson_increments(0.5, 3.0), 2.0),
    "±1 walk": (CusumIncrements.of([-1.0, 1.0], [0.5, 0.5]), 2.5),
}


@pytest.mark.parametrize("chart", sorted(CHARTS))
@pytest.mark.parametrize("grid", [3, 200, 1500])
@pytest.mark.parametrize("rounding", ["paired", "nearest"])
def test_toeplitz_solve_equals_the_dense_solve(chart, grid, rounding):
    increments, h = CHARTS[chart]
    fast = arl_of_increments(increments, h, grid, rounding)
    dense = arl_of_increments(increments, h, grid, rounding, solver="dense")
    assert fast == pytest.approx(dense, rel=1e-9)


@pytest.mark.parametrize("h", [0.3, 1.0, 2.0, 6.0])
def test_toeplitz_solve_equals_the_dense_solve_across_limits(h):
    increments = bernoulli_increments(2.0, *beta_parsonnet_mix(points=500))
    fast = arl_of_increments(increments, h, 2500)
    dense = arl_of_increments(increments, h, 2500, solver="dense")
    assert fast == pytest.approx(dense, rel=1e-9)


def test_unknown_solver_is_rejected():
    with pytest.raises(ValueError, match="unknown solver"):
        arl_of_increments(bernoulli_increments(2.0, 0.1), 2.0, solver="sparse")  # type: ignore[arg-type]


def test_a_grid_on_which_the_chart_cannot_move_fails_as_the_dense_solve_does():
    # Every ±1 move rounds to 0 cells on a 3-state grid for h = 7.3: no signal is possible.
    increments = CusumIncrements.of([-1.0, 1.0], [0.5, 0.5])
    for solver in ("toeplitz", "dense"):
        with pytest.raises(np.linalg.LinAlgError):
            arl_of_increments(increments, 7.3, 3, "nearest", solver=solver)
