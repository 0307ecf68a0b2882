"""Control limits for CUSUM charts: the ``h`` that meets an in-control target.

Two targets, both for charts that are in control:

- an average run length ``ARL0`` (the expected number of patients or steps to a false
  signal), found by root finding on ``log ARL(h)`` with the Markov chain of
  ``signals.markov_arl`` (its ARL is continuous and increasing in ``h``);
- a false-signal probability ``α`` within a horizon of ``N`` patients (Imperial College,
  Hubig's ``cusum``), by root finding on the Markov chain's ``P(signal by N)`` or, for short
  horizons, exactly as cran/cusum's ``cusum_limit_exact`` defines it: the value the chart
  can reach whose probability of being reached within ``N`` is closest to ``α``.

``calibrate_arl0`` and ``calibrate_false_signal_probability`` return a ``Calibration``: the
limit with the value it really achieves. On lattice charts (``signals.lattice_chain``) they
use the exact chain and return the attainable limit on the safe side of the target
(``signals.lattice_calibration``); the functions returning a bare ``h`` always use the
discretised chain, whose ARL is continuous in ``h``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize

from signals.calibration_result import Calibration, attains
from signals.cusum_increments import (
    Increments,
    bernoulli_increments,
    largest_rise,
    poisson_chart_increments,
)
from signals.false_signal import (
    _reach_at,
    maximum_distribution,
    signal_probability_of_increments,
)
from signals.lattice_calibration import (
    lattice_limit_for_arl0,
    lattice_limit_for_false_signal_probability,
)
from signals.lattice_chain import lattice_of
from signals.markov_arl import arl_of_increments

Method = Literal["markov", "exact"]

# Root-finding tolerance on h: far inside the ±0.005 that published limits are quoted to.
_XTOL = 1e-7
# States of the chain that first locates a limit for a finer one.
_COARSE_GRID = 250


def limit_for_arl0(increments: Increments, target_arl0: float, grid: int = 1000) -> float:
    """The limit ``h`` whose in-control ARL (Markov chain) equals ``target_arl0``.

    Examples
    --------
    >>> inc = bernoulli_increments(2.0, 0.1)
    >>> h = limit_for_arl0(inc, 500.0)
    >>> round(h, 4), round(arl_of_increments(inc, h))
    (2.5622, 500)
    """
    if not (target_arl0 > 1 and math.isfinite(target_arl0)):
        raise ValueError("target_arl0 must be finite and greater than 1")
    if largest_rise(increments) <= 0:
        raise ValueError("no score is positive: the chart can never signal")
    log_target = math.log(target_arl0)

    def excess(h: float) -> float:
        return math.log(arl_of_increments(increments, h, grid)) - log_target

    if grid >= 4 * _COARSE_GRID:
        # Locate h on a coarse chain (~1/16 of the cost per solve), then bracket it closely
        # on the requested one: a third fewer solves at full size than bracketing from scratch.
        near = limit_for_arl0(increments, target_arl0, _COARSE_GRID)
        low, high = _bracket_near(excess, near)
    else:
        low, high = _bracket(excess, scale=largest_rise(increments))
    return float(optimize.brentq(excess, low, high, xtol=_XTOL))


def limit_for_false_signal_probability(
    increments: Increments,
    alpha: float,
    horizon: int,
    method: Method = "markov",
    grid: int = 1000,
) -> float:
    """The limit ``h`` with false-signal probability ``alpha`` within ``horizon`` steps.

    ``method="markov"`` solves ``P(signal within horizon | h) = alpha`` on the Markov chain.
    ``method="exact"`` enumerates every path (short horizons only) and returns, as cran/cusum
    does, the reachable value whose probability of being reached is closest to ``alpha``
    (the smaller value on a tie). The exact probability is a step function of ``h``, so the
    two methods agree only up to the step the exact limit sits on.

    Examples
    --------
    >>> inc = bernoulli_increments(2.0, 0.1)
    >>> round(limit_for_false_signal_probability(inc, 0.05, 10, method="exact"), 5)
    1.41227
    """
    if not 0 < alpha < 1:
        raise ValueError("alpha must lie strictly between 0 and 1")
    if largest_rise(increments) <= 0:
        raise ValueError("no score is positive: the chart can never signal")
    if method == "exact":
        levels, reach = maximum_distribution(increments, horizon)
        return float(levels[np.argmin(np.abs(reach - alpha))])
    if method != "markov":
        raise ValueError(f"unknown method {method!r}: use 'markov' or 'exact'")

    log_odds = _log_odds(alpha)

    def excess(h: float) -> float:
        # On the log-odds scale the probability falls almost linearly in h (its tail is
        # exponential), so Brent's interpolation converges in a few steps: the same root.
        return log_odds - _log_odds(signal_probability_of_increments(increments, h, horizon,
                                                                     grid))

    low, high = _bracket(excess, scale=largest_rise(increments))
    return float(optimize.brentq(excess, low, high, xtol=_XTOL))


def _log_odds(p: float) -> float:
    """``log(p / (1 − p))``, finite at 0 and 1 (where a chain's probability can round)."""
    p = min(max(p, 1e-300), 1.0 - 1e-16)
    return math.log(p) - math.log1p(-p)


def calibrate_arl0(
    increments: Increments, target_arl0: float, grid: int = 1000, max_lattice_states: int = 20_000
) -> Calibration:
    """The limit for ``target_arl0`` with the ARL it achieves: exact on a lattice chart.

    Examples
    --------
    Issue 13's Poisson CUSUM: rate ratio 2 and ``λ0·E = 1.5·ln 2`` events expected per step,
    so every score is a multiple of ``ln(2)/2``. No limit has ARL 500: the limits in
    ``(6·ln 2, 6.5·ln 2]`` give 617.9 (those just below give only 431.8):

    >>> inc = poisson_chart_increments(2.0, 1.5 * math.log(2), 1.0)
    >>> c = calibrate_arl0(inc, 500)
    >>> round(c.h / math.log(2), 4), round(c.achieved, 1), c.exact, c.method
    (6.25, 617.9, False, 'lattice')

    Scores off any lattice are calibrated on the discretised chain, which meets the target:

    >>> c = calibrate_arl0(bernoulli_increments(2.0, 0.1), 500)
    >>> round(c.h, 4), round(c.achieved, 3), c.exact, c.method
    (2.5622, 500.0, True, 'markov')
    """
    lattice = lattice_of(increments)
    if lattice is not None and _lattice_is_small(lattice.step, increments, max_lattice_states):
        return lattice_limit_for_arl0(lattice, target_arl0, max_lattice_states)
    h = limit_for_arl0(increments, target_arl0, grid)
    achieved = arl_of_increments(increments, h, grid)
    return Calibration(h, achieved, target_arl0, attains(achieved, target_arl0), "markov")


def calibrate_false_signal_probability(
    increments: Increments,
    alpha: float,
    horizon: int,
    method: Method = "markov",
    grid: int = 1000,
    max_lattice_states: int = 20_000,
) -> Calibration:
    """The limit for a false-signal probability ``alpha`` within ``horizon``, with the
    probability it achieves: exact on a lattice chart (whatever ``method``), else by
    ``method`` as in ``limit_for_false_signal_probability``.

    Examples
    --------
    cran/cusum's exact limit is the level whose probability is closest to α, here above it:

    >>> c = calibrate_false_signal_probability(bernoulli_increments(2.0, 0.1), 0.05, 10, "exact")
    >>> round(c.h, 5), round(c.achieved, 5), c.exact, c.method
    (1.41227, 0.05106, False, 'exact')
    """
    lattice = lattice_of(increments)
    if lattice is not None and _lattice_is_small(lattice.step, increments, max_lattice_states):
        return lattice_limit_for_false_signal_probability(
            lattice, alpha, horizon, max_lattice_states)
    h = limit_for_false_signal_probability(increments, alpha, horizon, method, grid)
    if method == "exact":
        levels, reach = maximum_distribution(increments, horizon)
        achieved = _reach_at(levels, reach, h)
    else:
        achieved = signal_probability_of_increments(increments, h, horizon, grid)
    return Calibration(h, achieved, alpha, attains(achieved, alpha), method)


def _lattice_is_small(step: float, increments: Increments, max_states: int) -> bool:
    """Whether the lattice is coarse enough for its exact chain to be worth solving.

    The limit is unknown before the search, so this guesses it from the largest rise: a
    limit of a few hundred rises is far beyond any practical target.
    """
    return largest_rise(increments) / step <= max_states / 50


def h_for_arl0(
    target_arl0: float,
    odds_ratio: float,
    risks: ArrayLike,
    weights: ArrayLike | None = None,
    grid: int = 1000,
) -> float:
    """The limit ``h`` of a (risk-adjusted) Bernoulli CUSUM with in-control ARL ``target_arl0``.

    Parameters
    ----------
    target_arl0
        The wanted expected number of in-control patients to a false signal.
    odds_ratio
        The odds ratio ``R`` the chart detects (``R > 1`` worse, ``R < 1`` better).
    risks, weights
        The patient-risk mix (a single risk: the unadjusted chart).
    grid
        The number of Markov states.

    Examples
    --------
    vlad's Beta-distributed Parsonnet mix, ``ARL0 = 500``, ``R = 2`` (vlad: 2.5178):

    >>> from signals.risk_mix import beta_parsonnet_mix
    >>> mix = beta_parsonnet_mix()
    >>> round(h_for_arl0(500, 2.0, mix.risks, mix.weights), 4)
    2.5175
    """
    increments = bernoulli_increments(odds_ratio, risks, weights)
    return limit_for_arl0(increments, target_arl0, grid)


def h_for_false_signal_probability(
    alpha: float,
    horizon: int,
    odds_ratio: float,
    risks: ArrayLike,
    weights: ArrayLike | None = None,
    method: Method = "markov",
    grid: int = 1000,
) -> float:
    """The limit ``h`` of a Bernoulli CUSUM that falsely signals within ``horizon`` patients
    with probability ``alpha``.

    Parameters
    ----------
    alpha
        The wanted false-signal probability.
    horizon
        The number of patients it applies to.
    odds_ratio, risks, weights
        As for ``h_for_arl0``.
    method
        ``"markov"`` (any horizon) or ``"exact"`` (cran/cusum's ``cusum_limit_exact``;
        short horizons and small mixes). See ``limit_for_false_signal_probability``.
    grid
        The number of Markov states.

    Examples
    --------
    cran/cusum's ``test_cusum_limit_exact.R``: ``α = 0.05``, 10 patients, failure
    probability 0.1, odds multiplier 2:

    >>> round(h_for_false_signal_probability(0.05, 10, 2.0, 0.1, method="exact"), 5)
    1.41227

    The Markov chain's probability follows the same step function, except for a ramp one
    grid cell wide below each step, where it crosses ``α``:

    >>> round(h_for_false_signal_probability(0.05, 10, 2.0, 0.1), 3)
    1.41
    """
    increments = bernoulli_increments(odds_ratio, risks, weights)
    return limit_for_false_signal_probability(increments, alpha, horizon, method, grid)


def poisson_h_for_arl0(
    target_arl0: float,
    rate_ratio: float,
    benchmark_rate: float,
    exposure: ArrayLike = 1.0,
    weights: ArrayLike | None = None,
    grid: int = 1000,
    *,
    exposure_first: bool = False,
) -> float:
    """The limit ``h`` of a Poisson CUSUM with in-control ARL ``target_arl0`` steps.

    See ``signals.markov_arl.poisson_markov_arl`` for the chart and its parameters
    (``exposure_first=True`` for Vigil's ``PoissonCusum``).

    Examples
    --------
    Ten years of monthly steps between false signals, 40 implant-years a month, benchmark
    1 revision per 100 implant-years, watching for a doubling:

    >>> round(poisson_h_for_arl0(120, 2.0, 0.01, exposure=40.0), 3)
    2.343
    """
    increments = poisson_chart_increments(
        rate_ratio, benchmark_rate, exposure, weights, exposure_first
    )
    return limit_for_arl0(increments, target_arl0, grid)


def poisson_h_for_false_signal_probability(
    alpha: float,
    horizon: int,
    rate_ratio: float,
    benchmark_rate: float,
    exposure: ArrayLike = 1.0,
    weights: ArrayLike | None = None,
    method: Method = "markov",
    grid: int = 1000,
    *,
    exposure_first: bool = False,
) -> float:
    """The limit ``h`` of a Poisson CUSUM that falsely signals within ``horizon`` steps with
    probability ``alpha``.

    See ``poisson_h_for_arl0`` and ``h_for_false_signal_probability`` for the parameters.

    Examples
    --------
    A 5% chance of a false signal in five years of monthly steps:

    >>> round(poisson_h_for_false_signal_probability(0.05, 60, 2.0, 0.01, exposure=40.0), 3)
    4.214
    """
    increments = poisson_chart_increments(
        rate_ratio, benchmark_rate, exposure, weights, exposure_first
    )
    return limit_for_false_signal_probability(increments, alpha, horizon, method, grid)


def _bracket_near(excess: Callable[[float], float], near: float) -> tuple[float, float]:
    """Two limits around the root of an increasing ``excess(h)`` close to ``near``."""
    width = 0.005 * near
    low, high = near - width, near + width
    while excess(low) > 0:
        low, high, width = low - 2 * width, low, 2 * width
        if low <= 0:
            return _bracket(excess, scale=near)
    while excess(high) < 0:
        low, high, width = high, high + 2 * width, 2 * width
    return low, high


def _bracket(excess: Callable[[float], float], scale: float) -> tuple[float, float]:
    """Two limits around the root of an increasing ``excess(h)``, by doubling and halving."""
    low = high = scale
    for _ in range(60):
        if excess(high) >= 0:
            break
        low, high = high, 2 * high
    else:
        raise ValueError("no control limit reaches the target (searched up to 2^60 × score)")
    if low == high:
        for _ in range(40):
            low /= 2
            if excess(low) < 0:
                break
            high = low
        else:
            raise ValueError("the target is met by every positive control limit")
    return low, high
