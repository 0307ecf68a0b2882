"""In-control average run length of a CUSUM by a Markov-chain approximation.

Brook & Evans (1972), as applied to the risk-adjusted CUSUM by Steiner et al. (2000): the
statistic ``S ∈ [0, h)`` is discretised onto ``grid`` states ``k·w``, ``k = 0 … grid − 1``,
with ``w = h / (grid − ½)``, so that state ``k`` stands for the cell ``[(k − ½)w, (k + ½)w)``
and the cells tile ``[0, h)`` exactly (state 0 covers ``[0, w/2)``). A score ``W`` moves a
state by ``W/w`` cells; moves below 0 reset to state 0 and moves to the last cell's upper
edge or beyond signal. With ``Q`` the transition matrix among the non-signalling states the
ARLs from every state solve ``(I − Q)·ARL = 1``; the chart starts at ``S = 0``.

Rounding. ``W`` is discrete, and rounding each move to the nearest state (Steiner's "simple"
rounding) makes the ARL jump erratically with ``h``. The default "paired" rounding of Knoth,
Wittenberg & Gan (2019) splits each move's probability between the two states around it so
that the mean move is kept: it converges much faster and makes the ARL continuous in ``h``,
so root finders can calibrate ``h``. When the scores sit on a lattice (one risk, or one
exposure) the exact ARL is itself a step function of ``h``, jumping at the values the chart
can reach; the chain blurs each jump over one grid cell, so near such a value the answer is
only as good as the grid (check it with a finer one).

Cost. The transition matrix is Toeplitz apart from its first column (the reset), so it is
built from one histogram of the scores on the grid, never by looping over patients and
states, and solved in O(N²) without forming it (``signals.toeplitz_chain``). Steps applied
in phases (``PhasedIncrements``) are rounded to the grid after every phase; their matrix is
scattered together from every (outcome, state) pair and solved densely.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg

from signals.cusum_increments import (
    CusumIncrements,
    Increments,
    PhasedIncrements,
    bernoulli_increments,
    largest_rise,
    poisson_chart_increments,
)
from signals.toeplitz_chain import offset_pmf, toeplitz_arl, toeplitz_with_reset

Rounding = Literal["paired", "nearest"]
Solver = Literal["toeplitz", "dense"]


def transition_matrix(
    increments: Increments, h: float, grid: int = 1000, rounding: Rounding = "paired"
) -> np.ndarray:
    """The ``grid × grid`` transition matrix among the chart's non-signalling states.

    Row ``i`` holds the probabilities of moving from state ``i`` to each state; what a row
    lacks from 1 is the probability of signalling in that step.

    Parameters
    ----------
    increments
        The in-control score distribution.
    h
        The control limit (> 0).
    grid
        The number of states discretising ``[0, h)``.
    rounding
        ``"paired"`` (Knoth et al. 2019; the default) or ``"nearest"`` (Steiner et al. 2000).

    Examples
    --------
    Scores −1 or +1 with equal probability and ``h = 2.5`` on a 3-state grid (``w = 1``):

    >>> from signals.cusum_increments import CusumIncrements
    >>> inc = CusumIncrements.of([-1.0, 1.0], [0.5, 0.5])
    >>> transition_matrix(inc, 2.5, grid=3).tolist()
    [[0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.0]]
    """
    _check_limit(h, grid)
    if rounding not in ("paired", "nearest"):
        raise ValueError(f"unknown rounding {rounding!r}: use 'paired' or 'nearest'")
    step = h / (grid - 0.5)
    if isinstance(increments, PhasedIncrements):
        return _phased_matrix(increments.values / step, increments.probabilities, grid, rounding)
    return toeplitz_with_reset(_offset_distribution(increments, step, grid, rounding), grid)


def _offset_distribution(
    increments: CusumIncrements, step: float, grid: int, rounding: Rounding
) -> np.ndarray:
    """The scores as a distribution of whole-cell moves (``offset_pmf``), rounded."""
    cells = increments.values / step
    if rounding == "paired":
        below = np.floor(cells)
        upper_share = cells - below
        offsets = np.concatenate([below, below + 1])
        mass = np.concatenate(
            [increments.probabilities * (1 - upper_share), increments.probabilities * upper_share]
        )
    else:
        offsets = np.floor(cells + 0.5)
        mass = increments.probabilities
    return offset_pmf(offsets, mass, grid)


def arl_of_increments(
    increments: Increments,
    h: float,
    grid: int = 1000,
    rounding: Rounding = "paired",
    solver: Solver = "toeplitz",
) -> float:
    """The in-control ARL, from ``S = 0``, of a CUSUM with the given score distribution.

    Parameters are those of ``transition_matrix``. Returns ``inf`` when no score is
    positive (the chart can never signal). One-phase scores are solved in O(N²) by
    ``signals.toeplitz_chain.toeplitz_arl`` (``solver="dense"``: LU of the full matrix, the
    O(N³) check); phased steps, whose matrix is not Toeplitz, always densely.

    Examples
    --------
    A one-point Bernoulli mix, ``p0 = 0.1``, ``R = 2``, ``h = 1.5``: a death scores +0.598
    and a survivor only −0.095, so three deaths among a handful of patients signal:

    >>> round(arl_of_increments(bernoulli_increments(2.0, 0.1), 1.5))
    113
    """
    _check_limit(h, grid)
    if largest_rise(increments) <= 0:
        return math.inf
    if solver not in ("toeplitz", "dense"):
        raise ValueError(f"unknown solver {solver!r}: use 'toeplitz' or 'dense'")
    if solver == "dense" or isinstance(increments, PhasedIncrements):
        return arl_from_matrix(transition_matrix(increments, h, grid, rounding))
    if rounding not in ("paired", "nearest"):
        raise ValueError(f"unknown rounding {rounding!r}: use 'paired' or 'nearest'")
    pmf = _offset_distribution(increments, h / (grid - 0.5), grid, rounding)
    return toeplitz_arl(pmf, grid)


def arl_from_matrix(q: np.ndarray) -> float:
    """The ARL from state 0 of the chain with transition matrix ``q``: ``(I − Q)·x = 1``.

    >>> round(arl_from_matrix(np.array([[0.5, 0.5], [0.5, 0.0]])), 9)
    6.0
    """
    system = -q
    system[np.diag_indices(q.shape[0])] += 1.0
    return float(linalg.solve(system, np.ones(q.shape[0]), check_finite=False)[0])


def markov_arl(
    h: float,
    odds_ratio: float,
    risks: ArrayLike,
    weights: ArrayLike | None = None,
    grid: int = 1000,
) -> float:
    """In-control ARL of the (risk-adjusted) Bernoulli CUSUM by Markov chain.

    ``W = y·ln R − ln(1 − p + R·p)``, ``S = max(0, S + W)``, signal when ``S ≥ h``; each
    patient's risk ``p`` is drawn from the mix and ``y ~ Bernoulli(p)``.

    Parameters
    ----------
    h
        The control limit.
    odds_ratio
        The odds ratio ``R`` the chart detects (``R > 1`` worse, ``R < 1`` better).
    risks, weights
        The patient-risk mix: risks each equally likely, or weighted. One risk ``p0`` gives
        the unadjusted Bernoulli CUSUM.
    grid
        The number of Markov states; 1,000 is accurate to about 0.1%.

    Examples
    --------
    vlad's Beta-distributed Parsonnet mix at ``h = 4.5`` (its integral-equation value is
    4485.2):

    >>> from signals.risk_mix import beta_parsonnet_mix
    >>> mix = beta_parsonnet_mix()
    >>> round(markov_arl(4.5, 2.0, mix.risks, mix.weights))
    4485

    References
    ----------
    Brook D, Evans DA. An approach to the probability distribution of CUSUM run length.
    Biometrika 1972;59(3):539–549.
    Steiner SH, Cook RJ, Farewell VT, Treasure T. Monitoring surgical performance using
    risk-adjusted cumulative sum charts. Biostatistics 2000;1(4):441–452.
    Knoth S, Wittenberg P, Gan FF. Risk-adjusted CUSUM charts under model error.
    Statistics in Medicine 2019;38(12):2206–2218.
    """
    return arl_of_increments(bernoulli_increments(odds_ratio, risks, weights), h, grid)


def poisson_markov_arl(
    h: float,
    rate_ratio: float,
    benchmark_rate: float,
    exposure: ArrayLike = 1.0,
    weights: ArrayLike | None = None,
    grid: int = 1000,
    *,
    exposure_first: bool = False,
) -> float:
    """In-control ARL (in steps) of the Poisson CUSUM by Markov chain.

    ``W = X·ln r − (r − 1)·λ0·E`` per step with ``X ~ Poisson(λ0·E)``; ``exposure`` is the
    exposure ``E`` per step, or a mix of exposures (each equally likely unless weighted).
    With ``exposure_first`` each step applies the exposure term, clipped at 0 and checked,
    before the events, as Vigil's ``PoissonCusum.update`` does.

    Parameters
    ----------
    h
        The control limit.
    rate_ratio
        The rate ratio ``r`` the chart detects (``r > 1`` worse, ``r < 1`` better).
    benchmark_rate
        The in-control rate ``λ0`` per unit of exposure.
    exposure, weights
        The exposure per step, or a mix of exposures and their weights.
    grid
        The number of Markov states.
    exposure_first
        Apply each step's exposure before its events (two phases) rather than as one ``W``.

    Examples
    --------
    Revisions at 1 per 100 implant-years, 40 implant-years accrued per month, watching
    for a doubling: the expected months to a false signal at ``h = 3``.

    >>> round(poisson_markov_arl(3.0, 2.0, benchmark_rate=0.01, exposure=40.0))
    257

    Exposure first, a revision after a quiet month counts in full, so false signals come
    sooner:

    >>> round(poisson_markov_arl(3.0, 2.0, 0.01, exposure=40.0, exposure_first=True))
    164
    """
    increments = poisson_chart_increments(
        rate_ratio, benchmark_rate, exposure, weights, exposure_first
    )
    return arl_of_increments(increments, h, grid)


def _phased_matrix(
    cells: np.ndarray, probabilities: np.ndarray, grid: int, rounding: Rounding
) -> np.ndarray:
    """Scatter every (outcome, state) pair's phase-by-phase moves into the matrix.

    ``cells`` holds each outcome's phase scores in grid cells. After each phase the position
    is rounded to the grid (paired: split in two), moves below 0 reset to state 0 and moves
    to the last cell or beyond signal, so their mass leaves the matrix.
    """
    outcomes = cells.shape[0]
    position = np.broadcast_to(np.arange(grid, dtype=float)[None, :, None], (outcomes, grid, 1))
    mass = np.broadcast_to(probabilities[:, None, None], (outcomes, grid, 1))
    for phase in cells.T:
        target = position + phase[:, None, None]
        if rounding == "paired":
            below = np.floor(target)
            upper_share = target - below
            position = np.concatenate([below, below + 1], axis=2)
            mass = np.concatenate([mass * (1 - upper_share), mass * upper_share], axis=2)
        else:
            position = np.floor(target + 0.5)
        mass = np.where(position >= grid, 0.0, mass)
        position = np.clip(position, 0, grid - 1)
    origin = np.broadcast_to(np.arange(grid)[None, :, None], position.shape)
    flat = (origin * grid + position.astype(np.intp)).ravel()
    return np.bincount(flat, weights=mass.ravel(), minlength=grid * grid).reshape(grid, grid)


def _check_limit(h: float, grid: int) -> None:
    if not (h > 0 and math.isfinite(h)):
        raise ValueError("the control limit h must be positive and finite")
    if grid < 2 or int(grid) != grid:
        raise ValueError("grid must be an integer of at least 2")
