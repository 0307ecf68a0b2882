"""Probability that an in-control CUSUM signals within a horizon of N steps.

Imperial College's mortality alerts and Hubig's ``cusum`` package choose the control limit
for a false-signal probability over a fixed number of patients rather than for an ARL. Two
ways to compute ``P(S_n ≥ h for some n ≤ N)``:

- the Markov chain of ``signals.markov_arl``: push the start distribution through the
  transition matrix ``N`` times; what is left among the non-signalling states has not
  signalled;
- exact enumeration for small ``N``: carry every reachable (statistic, running maximum) pair
  with its probability, merging equal pairs. The distribution of the running maximum gives
  the probability for every limit at once.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

from signals.cusum_increments import (
    Increments,
    bernoulli_increments,
    phase_values,
    poisson_chart_increments,
)
from signals.markov_arl import transition_matrix

# Values closer than this are the same CUSUM value (sums of scores in a different order).
_TOLERANCE = 1e-9


def signal_probability_of_increments(
    increments: Increments, h: float, horizon: int, grid: int = 1000
) -> float:
    """``P(S_n ≥ h for some n ≤ horizon)`` from ``S_0 = 0``, by Markov chain.

    Examples
    --------
    Scores −1 or +1 with equal probability and ``h = 2.5`` (so the grid of 3 states is
    exact): the chart signals within three steps only by going up three times.

    >>> from signals.cusum_increments import CusumIncrements
    >>> inc = CusumIncrements.of([-1.0, 1.0], [0.5, 0.5])
    >>> round(signal_probability_of_increments(inc, 2.5, horizon=3, grid=3), 6)
    0.125
    """
    if horizon < 1 or int(horizon) != horizon:
        raise ValueError("horizon must be a positive integer")
    return signal_probability_of_matrix(transition_matrix(increments, h, grid), horizon)


def signal_probability_of_matrix(q: np.ndarray, horizon: int) -> float:
    """``P(signal within horizon)`` from state 0 of the chain with transition matrix ``q``.

    >>> signal_probability_of_matrix(np.array([[0.5, 0.5], [0.5, 0.0]]), 2)
    0.25
    """
    if horizon < 1 or int(horizon) != horizon:
        raise ValueError("horizon must be a positive integer")
    grid = q.shape[0]
    state = np.zeros(grid)
    state[0] = 1.0
    if horizon <= 4 * grid:
        # Scores reach only a band of states, so stepping with a sparse matrix is cheaper.
        forward = sparse.csr_array(q.T)
        for _ in range(int(horizon)):
            state = forward @ state
    else:
        # Many steps: square the matrix instead (log2(horizon) products).
        remaining, power = int(horizon), q
        while remaining:
            if remaining & 1:
                state = state @ power
            remaining >>= 1
            if remaining:
                power = power @ power
    return float(min(1.0, max(0.0, 1.0 - state.sum())))


def false_signal_probability(
    h: float,
    horizon: int,
    odds_ratio: float,
    risks: ArrayLike,
    weights: ArrayLike | None = None,
    grid: int = 1000,
) -> float:
    """Probability that an in-control Bernoulli CUSUM signals within ``horizon`` patients.

    By Markov chain; see ``signals.markov_arl.markov_arl`` for the chart and the mix.

    Examples
    --------
    >>> round(false_signal_probability(1.5, 10, 2.0, 0.1), 4)
    0.0415
    """
    increments = bernoulli_increments(odds_ratio, risks, weights)
    return signal_probability_of_increments(increments, h, horizon, grid)


def poisson_false_signal_probability(
    h: float,
    horizon: int,
    rate_ratio: float,
    benchmark_rate: float,
    exposure: ArrayLike = 1.0,
    weights: ArrayLike | None = None,
    grid: int = 1000,
    *,
    exposure_first: bool = False,
) -> float:
    """Probability that an in-control Poisson CUSUM signals within ``horizon`` steps.

    By Markov chain; see ``signals.markov_arl.poisson_markov_arl`` for the parameters.

    Examples
    --------
    Five years of monthly steps at 40 implant-years a month and 1 revision per 100:

    >>> round(poisson_false_signal_probability(3.0, 60, 2.0, 0.01, exposure=40.0), 3)
    0.192
    """
    increments = poisson_chart_increments(
        rate_ratio, benchmark_rate, exposure, weights, exposure_first
    )
    return signal_probability_of_increments(increments, h, horizon, grid)


def maximum_distribution(
    increments: Increments, horizon: int, max_states: int = 2_000_000
) -> tuple[np.ndarray, np.ndarray]:
    """Every value the CUSUM can reach within ``horizon`` steps, and the chance of reaching it.

    Returns ``(levels, probabilities)``: the distinct positive values the statistic takes on
    some path (ascending) and, for each, ``P(max_{n≤horizon} S_n ≥ level)``. This is exact,
    and so only feasible for short horizons and few distinct scores; it raises
    ``ValueError`` once more than ``max_states`` (statistic, maximum) pairs are reachable.

    Examples
    --------
    >>> from signals.cusum_increments import CusumIncrements
    >>> inc = CusumIncrements.of([-1.0, 1.0], [0.5, 0.5])
    >>> levels, reach = maximum_distribution(inc, horizon=3)
    >>> levels.tolist(), reach.tolist()
    ([1.0, 2.0, 3.0], [0.875, 0.375, 0.125])
    """
    if horizon < 1 or int(horizon) != horizon:
        raise ValueError("horizon must be a positive integer")
    phases = phase_values(increments)
    statistic, maximum, probability = np.zeros(1), np.zeros(1), np.ones(1)
    seen = [np.zeros(1)]
    for _ in range(int(horizon)):
        # Every path so far × every outcome of this step, phase by phase.
        moved = np.broadcast_to(statistic[:, None], (statistic.size, phases.shape[0]))
        highest = np.broadcast_to(maximum[:, None], moved.shape)
        for phase in phases.T:
            moved = np.maximum(0.0, moved + phase)
            highest = np.maximum(highest, moved)
            seen.append(np.unique(np.round(moved, 9)))
        probability = (probability[:, None] * increments.probabilities).ravel()
        statistic, maximum, probability = _merge(moved.ravel(), highest.ravel(), probability)
        if statistic.size > max_states:
            raise ValueError(
                f"more than {max_states} reachable states: use the Markov chain for this horizon"
            )
    levels = np.unique(np.round(np.concatenate(seen), 9))
    levels = levels[levels > 0]
    order = np.argsort(maximum)
    reach_from = np.cumsum(probability[order][::-1])[::-1]
    first = np.searchsorted(maximum[order], levels - _TOLERANCE, side="left")
    padded = np.append(reach_from, 0.0)
    return levels, np.minimum(1.0, padded[first])


def exact_false_signal_probability(
    h: float,
    horizon: int,
    odds_ratio: float,
    risks: ArrayLike,
    weights: ArrayLike | None = None,
) -> float:
    """``P(S_n ≥ h for some n ≤ horizon)`` for a Bernoulli CUSUM, by exact enumeration.

    Only for short horizons and small mixes (see ``maximum_distribution``). Values within
    1e-9 of ``h`` count as reaching it.

    Examples
    --------
    cran/cusum's example (``p0 = 0.1``, odds multiplier 2, 10 patients) at its limit 1.41227:

    >>> round(exact_false_signal_probability(1.41227, 10, 2.0, 0.1), 5)
    0.05106
    """
    levels, reach = maximum_distribution(bernoulli_increments(odds_ratio, risks, weights), horizon)
    return _reach_at(levels, reach, h)


def _reach_at(levels: np.ndarray, reach: np.ndarray, h: float) -> float:
    index = int(np.searchsorted(levels, h - _TOLERANCE, side="left"))
    return float(reach[index]) if index < levels.size else 0.0


def _merge(
    statistic: np.ndarray, maximum: np.ndarray, probability: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Combine paths that reached the same (statistic, maximum) pair."""
    keys = np.column_stack([np.round(statistic, 9), np.round(maximum, 9)])
    distinct, inverse = np.unique(keys, axis=0, return_inverse=True)
    merged = np.bincount(inverse.ravel(), weights=probability, minlength=distinct.shape[0])
    return distinct[:, 0], distinct[:, 1], merged
