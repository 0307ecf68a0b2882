"""In-control average run length of a CUSUM by seeded simulation.

The check on the Markov chain: many independent charts run side by side. Each block of
steps draws every active chart's scores at once (Walker's alias method, exact for a discrete
distribution) and advances the charts with the closed form of the CUSUM recursion,
``S_n = C_n − min(0, min_{k≤n} C_k)`` where ``C`` is the running sum of the scores started
at ``S_0``, so no Python loop runs per step. Phased steps run as consecutive sub-steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from signals.cusum_increments import (
    Increments,
    bernoulli_increments,
    phase_values,
    poisson_chart_increments,
)

# Cells per block of (sub-steps × active runs): four work arrays of this size, about 50 MB.
_BLOCK_CELLS = 1 << 21


@dataclass(frozen=True, slots=True)
class ArlEstimate:
    """A simulated ARL with its standard error.

    ``censored`` runs had not signalled after ``max_steps`` steps and count as
    ``max_steps`` long, so the estimate is biased low when it is not 0.
    """

    arl: float
    standard_error: float
    runs: int
    censored: int = 0


def simulate_run_lengths(
    increments: Increments,
    h: float,
    runs: int,
    seed: int | np.random.Generator | None = None,
    max_steps: int = 1_000_000,
) -> np.ndarray:
    """Run lengths of ``runs`` independent in-control charts started at ``S = 0``.

    A run that has not signalled after ``max_steps`` steps is returned as ``max_steps + 1``.

    Examples
    --------
    Scores −1 or +1 with equal probability and ``h = 1``: the first ``+1`` signals, so the
    run length is geometric with mean 2.

    >>> from signals.cusum_increments import CusumIncrements
    >>> inc = CusumIncrements.of([-1.0, 1.0], [0.5, 0.5])
    >>> lengths = simulate_run_lengths(inc, 1.0, runs=10_000, seed=1)
    >>> round(float(lengths.mean()), 2), int(lengths.min())
    (2.0, 1)
    """
    if not (h > 0 and math.isfinite(h)):
        raise ValueError("the control limit h must be positive and finite")
    if runs < 1 or max_steps < 1:
        raise ValueError("runs and max_steps must be at least 1")
    rng = np.random.default_rng(seed)
    phases = phase_values(increments)
    width = phases.shape[1]  # sub-steps per step
    sampler = _AliasSampler(increments.probabilities)
    block = _Block(min(_BLOCK_CELLS, runs * max_steps * width))
    lengths = np.full(runs, max_steps + 1, dtype=np.int64)
    active = np.arange(runs)
    start = np.zeros(runs)
    done = 0
    while active.size and done < max_steps:
        steps = min(max_steps - done, max(1, block.cells // (active.size * width)))
        scores, floor, outcome, crossed = block.views(steps * width, active.size)
        sampler.draw(rng, outcome[:steps], floor[:steps], scores[:steps], crossed[:steps])
        by_phase = scores.reshape(steps, width, active.size)
        for j in range(width):
            np.take(phases[:, j], outcome[:steps], out=by_phase[:, j, :])
        # Sub-steps run along axis 0, so the running sums add contiguous rows. Starting the
        # sums at S_0 turns the recursion into S_n = C_n − min(0, min_{k≤n} C_k).
        scores[0] += start
        sums = np.cumsum(scores, axis=0, out=scores)
        np.minimum.accumulate(sums, axis=0, out=floor)
        np.minimum(floor, 0.0, out=floor)
        statistic = np.subtract(sums, floor, out=floor)
        np.greater_equal(statistic, h, out=crossed)
        signalled = crossed.any(axis=0)
        first = crossed[:, signalled].argmax(axis=0)
        lengths[active[signalled]] = done + first // width + 1
        start = statistic[-1, ~signalled]
        active = active[~signalled]
        done += steps
    return lengths


def arl_estimate(lengths: np.ndarray, max_steps: int) -> ArlEstimate:
    """Summarise simulated run lengths (censored ones counted as ``max_steps``).

    >>> arl_estimate(np.array([1, 3, 5, 11]), max_steps=10)
    ArlEstimate(arl=4.75, standard_error=1.9311050377094112, runs=4, censored=1)
    """
    censored = int(np.count_nonzero(lengths > max_steps))
    values = np.minimum(lengths, max_steps).astype(float)
    spread = float(values.std(ddof=1)) if values.size > 1 else math.nan
    return ArlEstimate(
        arl=float(values.mean()),
        standard_error=spread / math.sqrt(values.size),
        runs=int(values.size),
        censored=censored,
    )


def simulated_arl(
    h: float,
    odds_ratio: float,
    risks: ArrayLike,
    weights: ArrayLike | None = None,
    runs: int = 10_000,
    seed: int | np.random.Generator | None = None,
    max_steps: int = 1_000_000,
) -> ArlEstimate:
    """In-control ARL of the (risk-adjusted) Bernoulli CUSUM by simulation.

    Each patient's risk is drawn from the mix and the outcome from the risk; see
    ``signals.markov_arl.markov_arl`` for the chart and the mix.

    Parameters
    ----------
    h
        The control limit.
    odds_ratio
        The odds ratio ``R`` the chart detects.
    risks, weights
        The patient-risk mix (a single risk: the unadjusted chart).
    runs
        How many charts to run; the standard error falls as ``ARL/√runs``.
    seed
        Seed or ``numpy.random.Generator`` for a reproducible estimate.
    max_steps
        Stop each chart after this many patients (the run is then censored).

    Examples
    --------
    >>> est = simulated_arl(1.5, 2.0, 0.1, runs=20_000, seed=7)
    >>> round(est.arl, 1), round(est.standard_error, 1), est.censored
    (113.2, 0.8, 0)
    """
    increments = bernoulli_increments(odds_ratio, risks, weights)
    return arl_estimate(simulate_run_lengths(increments, h, runs, seed, max_steps), max_steps)


def poisson_simulated_arl(
    h: float,
    rate_ratio: float,
    benchmark_rate: float,
    exposure: ArrayLike = 1.0,
    weights: ArrayLike | None = None,
    runs: int = 10_000,
    seed: int | np.random.Generator | None = None,
    max_steps: int = 1_000_000,
    *,
    exposure_first: bool = False,
) -> ArlEstimate:
    """In-control ARL (in steps) of the Poisson CUSUM by simulation.

    See ``signals.markov_arl.poisson_markov_arl`` for the chart and its parameters
    (including ``exposure_first``), and ``simulated_arl`` for ``runs``, ``seed`` and
    ``max_steps``.

    Examples
    --------
    >>> est = poisson_simulated_arl(3.0, 2.0, 0.01, exposure=40.0, runs=20_000, seed=7)
    >>> round(est.arl), round(est.standard_error, 1)
    (257, 1.8)
    """
    increments = poisson_chart_increments(
        rate_ratio, benchmark_rate, exposure, weights, exposure_first
    )
    return arl_estimate(simulate_run_lengths(increments, h, runs, seed, max_steps), max_steps)


class _AliasSampler:
    """Walker's alias method (Vose's construction): one uniform draw per outcome."""

    def __init__(self, probabilities: np.ndarray) -> None:
        size = probabilities.size
        scaled = probabilities * size
        keep = np.ones(size)
        alias = np.arange(size)
        small = [i for i in range(size) if scaled[i] < 1.0]
        large = [i for i in range(size) if scaled[i] >= 1.0]
        while small and large:
            lo, hi = small.pop(), large.pop()
            keep[lo], alias[lo] = scaled[lo], hi
            scaled[hi] -= 1.0 - scaled[lo]
            (small if scaled[hi] < 1.0 else large).append(hi)
        # Entry 2i is outcome i itself, 2i + 1 its alias; the extra entry guards u·size == size.
        self._size = size
        self._keep = np.append(keep, 1.0)
        self._outcome = np.append(np.column_stack([np.arange(size), alias]).ravel(), size - 1)

    def draw(
        self,
        rng: np.random.Generator,
        out: np.ndarray,
        uniform: np.ndarray,
        threshold: np.ndarray,
        aliased: np.ndarray,
    ) -> None:
        """Fill the integer array ``out`` with outcome indices, using same-shaped scratch."""
        rng.random(out=uniform)
        uniform *= self._size
        np.copyto(out, uniform, casting="unsafe")  # truncation = floor, as uniform ≥ 0
        uniform -= out
        np.take(self._keep, out, out=threshold)
        np.greater_equal(uniform, threshold, out=aliased)
        out *= 2
        out += aliased
        np.take(self._outcome, out, out=out)


class _Block:
    """Reusable work arrays for one block of steps, so large blocks are not reallocated."""

    def __init__(self, cells: int) -> None:
        self.cells = cells
        self._scores = np.empty(cells)
        self._floor = np.empty(cells)
        self._column = np.empty(cells, dtype=np.intp)
        self._crossed = np.empty(cells, dtype=bool)

    def views(self, steps: int, width: int) -> tuple[np.ndarray, ...]:
        size = steps * width
        return tuple(
            a[:size].reshape(steps, width)
            for a in (self._scores, self._floor, self._column, self._crossed)
        )
