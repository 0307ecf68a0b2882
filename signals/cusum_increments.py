"""The in-control distribution of a CUSUM's per-step score ``W``.

A CUSUM ``S = max(0, S + W)`` with independent, identically distributed scores is a Markov
process whose run length depends only on the distribution of ``W``. The charts Vigil runs
have discrete scores, so a distribution is a finite set of values with probabilities; the
ARL, false-signal and simulation code works on this one representation.

A chart may also apply one observation's score in phases, clipping at 0 and checking the
limit after each (Vigil's ``PoissonCusum`` adds an interval's exposure before its events).
``PhasedIncrements`` holds such steps: one row of phase scores per outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from signals.risk_mix import risk_mix


@dataclass(frozen=True, slots=True, eq=False)
class CusumIncrements:
    """Distinct score values (ascending) and their in-control probabilities (summing to 1).

    Build one with ``bernoulli_increments`` or ``poisson_increments``, or directly from any
    discrete score distribution with ``CusumIncrements.of(values, probabilities)``.

    >>> inc = CusumIncrements.of([0.5, -0.1, 0.5], [0.1, 0.8, 0.1])
    >>> inc.values.tolist(), inc.probabilities.tolist(), round(inc.mean(), 3)
    ([-0.1, 0.5], [0.8, 0.2], 0.02)
    """

    values: np.ndarray
    probabilities: np.ndarray

    @classmethod
    def of(cls, values: ArrayLike, probabilities: ArrayLike) -> CusumIncrements:
        """Merge equal values, drop impossible ones and normalise the probabilities."""
        v = np.asarray(values, dtype=float).ravel()
        q = np.asarray(probabilities, dtype=float).ravel()
        if v.shape != q.shape or v.size == 0:
            raise ValueError("need one probability per score value, and at least one value")
        if not (np.isfinite(v).all() and np.isfinite(q).all()) or np.any(q < 0):
            raise ValueError("score values and probabilities must be finite, probabilities ≥ 0")
        keep = q > 0
        distinct, inverse = np.unique(v[keep], return_inverse=True)
        merged = np.bincount(inverse, weights=q[keep], minlength=distinct.size)
        return cls(distinct, merged / merged.sum())

    def mean(self) -> float:
        """The expected score per step."""
        return float(self.values @ self.probabilities)


@dataclass(frozen=True, slots=True, eq=False)
class PhasedIncrements:
    """Steps applied in phases: row ``i`` of ``values`` holds one outcome's phase scores.

    Within a step the statistic moves by each phase score in turn, ``S = max(0, S + v)``,
    and the limit is checked after every phase. Rows are distinct; probabilities sum to 1.

    >>> inc = PhasedIncrements.of([[-0.2, 0.0], [-0.2, 0.7], [-0.2, 0.0]], [0.4, 0.2, 0.4])
    >>> inc.values.tolist(), inc.probabilities.tolist(), round(inc.mean(), 2)
    ([[-0.2, 0.0], [-0.2, 0.7]], [0.8, 0.2], -0.06)
    """

    values: np.ndarray
    probabilities: np.ndarray

    @classmethod
    def of(cls, values: ArrayLike, probabilities: ArrayLike) -> PhasedIncrements:
        """Merge equal rows, drop impossible ones and normalise the probabilities."""
        v = np.asarray(values, dtype=float)
        q = np.asarray(probabilities, dtype=float).ravel()
        if v.ndim != 2 or v.shape[0] != q.size or q.size == 0:
            raise ValueError("need a row of phase scores per probability, and at least one row")
        if not (np.isfinite(v).all() and np.isfinite(q).all()) or np.any(q < 0):
            raise ValueError("score values and probabilities must be finite, probabilities ≥ 0")
        keep = q > 0
        distinct, inverse = np.unique(v[keep], axis=0, return_inverse=True)
        merged = np.bincount(inverse.ravel(), weights=q[keep], minlength=distinct.shape[0])
        return cls(distinct, merged / merged.sum())

    def mean(self) -> float:
        """The expected total score per step."""
        return float(self.values.sum(axis=1) @ self.probabilities)


Increments = CusumIncrements | PhasedIncrements


def phase_values(increments: Increments) -> np.ndarray:
    """The scores as an ``(outcomes, phases)`` array; a plain distribution has one phase.

    >>> phase_values(CusumIncrements.of([-1.0, 1.0], [0.5, 0.5])).tolist()
    [[-1.0], [1.0]]
    """
    if isinstance(increments, PhasedIncrements):
        return increments.values
    return increments.values[:, None]


def largest_rise(increments: Increments) -> float:
    """The largest single move up the statistic can make (≤ 0: it can never signal).

    >>> largest_rise(CusumIncrements.of([-1.0, 0.5], [0.5, 0.5]))
    0.5
    """
    return float(np.max(phase_values(increments)))


def bernoulli_increments(
    odds_ratio: float, risks: ArrayLike, weights: ArrayLike | None = None
) -> CusumIncrements:
    """Scores of the risk-adjusted Bernoulli CUSUM when outcomes follow the risk model.

    ``W = y·ln R − ln(1 − p + R·p)`` with ``y ~ Bernoulli(p)`` and ``p`` drawn from the mix.
    A single risk gives the unadjusted Bernoulli CUSUM with constant ``p0``.

    Parameters
    ----------
    odds_ratio
        The odds ratio ``R`` the chart detects (``R > 1`` worse, ``R < 1`` better).
    risks, weights
        The patient-risk mix (see ``signals.risk_mix.risk_mix``).

    Examples
    --------
    Unadjusted, ``p0 = 0.1``, ``R = 2``: a survivor scores −ln 1.1, a death ln 2 − ln 1.1.

    >>> inc = bernoulli_increments(2.0, 0.1)
    >>> inc.values.round(5).tolist(), inc.probabilities.tolist()
    ([-0.09531, 0.59784], [0.9, 0.1])
    """
    if not odds_ratio > 0 or odds_ratio == 1 or not np.isfinite(odds_ratio):
        raise ValueError("odds_ratio must be positive, finite and not 1")
    mix = risk_mix(risks, weights)
    survival_score = -np.log1p((odds_ratio - 1.0) * mix.risks)
    return CusumIncrements.of(
        np.concatenate([survival_score, survival_score + np.log(odds_ratio)]),
        np.concatenate([mix.weights * (1 - mix.risks), mix.weights * mix.risks]),
    )


def poisson_increments(
    rate_ratio: float,
    benchmark_rate: float,
    exposure: ArrayLike = 1.0,
    weights: ArrayLike | None = None,
    *,
    tail: float = 1e-15,
) -> CusumIncrements:
    """Scores of the Poisson CUSUM per step when counts follow the benchmark rate.

    ``W = X·ln r − (r − 1)·λ0·E`` with ``X ~ Poisson(λ0·E)``. The exposure ``E`` of a step
    (e.g. implant-years per month) may be one value or a mix of values, each equally likely
    unless weighted. Counts whose combined upper-tail probability is below ``tail`` are
    lumped into the largest count kept.

    Parameters
    ----------
    rate_ratio
        The rate ratio ``r`` the chart detects (``r > 1`` worse, ``r < 1`` better).
    benchmark_rate
        The in-control rate ``λ0`` per unit of exposure.
    exposure, weights
        The exposure per step, or a mix of exposures and their weights.
    tail
        The upper-tail probability allowed to be lumped together.

    Examples
    --------
    >>> inc = poisson_increments(2.0, benchmark_rate=0.5)
    >>> inc.values[:3].round(4).tolist(), inc.probabilities[:3].round(4).tolist()
    ([-0.5, 0.1931, 0.8863], [0.6065, 0.3033, 0.0758])
    >>> round(inc.mean(), 5)  # λ0·E·(ln r − (r − 1)) = 0.5·(ln 2 − 1)
    -0.15343
    """
    values, probabilities = [], []
    for weight, mean_count, counts, pmf in _poisson_components(
        rate_ratio, benchmark_rate, exposure, weights, tail
    ):
        values.append(counts * np.log(rate_ratio) - (rate_ratio - 1.0) * mean_count)
        probabilities.append(weight * pmf)
    return CusumIncrements.of(np.concatenate(values), np.concatenate(probabilities))


def poisson_exposure_first_increments(
    rate_ratio: float,
    benchmark_rate: float,
    exposure: ArrayLike = 1.0,
    weights: ArrayLike | None = None,
    *,
    tail: float = 1e-15,
) -> PhasedIncrements:
    """Poisson CUSUM scores applied exposure first, then events (Vigil's ``PoissonCusum``).

    Each step is two phases: ``−(r − 1)·λ0·E``, clipped at 0 and checked, then ``X·ln r``.
    For ``r > 1`` an event after a quiet spell then counts in full, so false signals come
    sooner than with the one-phase ``poisson_increments``. Parameters as there.

    Examples
    --------
    >>> inc = poisson_exposure_first_increments(2.0, benchmark_rate=0.5)
    >>> inc.values[:2].round(4).tolist(), inc.probabilities[:2].round(4).tolist()
    ([[-0.5, 0.0], [-0.5, 0.6931]], [0.6065, 0.3033])
    """
    rows, probabilities = [], []
    for weight, mean_count, counts, pmf in _poisson_components(
        rate_ratio, benchmark_rate, exposure, weights, tail
    ):
        drift = np.full(counts.size, -(rate_ratio - 1.0) * mean_count)
        rows.append(np.column_stack([drift, counts * np.log(rate_ratio)]))
        probabilities.append(weight * pmf)
    return PhasedIncrements.of(np.concatenate(rows), np.concatenate(probabilities))


def poisson_chart_increments(
    rate_ratio: float,
    benchmark_rate: float,
    exposure: ArrayLike = 1.0,
    weights: ArrayLike | None = None,
    exposure_first: bool = False,
) -> Increments:
    """The Poisson CUSUM's steps: one phase (``W`` per interval) or exposure first.

    >>> type(poisson_chart_increments(2.0, 0.5, exposure_first=True)).__name__
    'PhasedIncrements'
    """
    if exposure_first:
        return poisson_exposure_first_increments(rate_ratio, benchmark_rate, exposure, weights)
    return poisson_increments(rate_ratio, benchmark_rate, exposure, weights)


def _poisson_components(
    rate_ratio: float,
    benchmark_rate: float,
    exposure: ArrayLike,
    weights: ArrayLike | None,
    tail: float,
) -> list[tuple[float, float, np.ndarray, np.ndarray]]:
    """Per exposure: its weight, expected count, the counts kept and their probabilities."""
    if not rate_ratio > 0 or rate_ratio == 1 or not np.isfinite(rate_ratio):
        raise ValueError("rate_ratio must be positive, finite and not 1")
    if not benchmark_rate > 0 or not np.isfinite(benchmark_rate):
        raise ValueError("benchmark_rate must be positive and finite")
    e = np.atleast_1d(np.asarray(exposure, dtype=float)).ravel()
    if not np.all(e > 0) or not np.isfinite(e).all():
        raise ValueError("exposure must be positive and finite")
    w = np.ones_like(e) if weights is None else np.asarray(weights, dtype=float).ravel()
    if w.shape != e.shape or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be non-negative, not all zero, one per exposure")
    components = []
    for mean_count, weight in zip(benchmark_rate * e, w / w.sum(), strict=True):
        counts = np.arange(int(stats.poisson.isf(tail, mean_count)) + 2)
        pmf = stats.poisson.pmf(counts, mean_count)
        pmf[-1] += stats.poisson.sf(counts[-1], mean_count)  # lump the far tail
        components.append((float(weight), float(mean_count), counts, pmf))
    return components
