"""The exact Markov chain of a CUSUM whose scores all sit on one lattice.

When every score is an integer multiple of a common step ``d`` (a Poisson CUSUM of counts
with a rational reference value, as cran/spc's ``pois.cusum.*`` functions assume; a Bernoulli
CUSUM whose constant ``p0`` makes both scores commensurate) the statistic only ever takes
the values ``k·d``. A chart with limit ``h`` then has the finitely many states ``k·d < h``
and its run length is exactly that of the chain on them: no discretisation error. The ARL is
a step function of ``h``: every limit in ``((n − 1)·d, n·d]`` behaves alike.

``lattice_of`` finds the step (or says there is none); ``lattice_transition_matrix`` builds
the chain with ``n`` states, i.e. for the limits ``h ∈ ((n − 1)·d, n·d]``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from signals.cusum_increments import Increments, PhasedIncrements, phase_values
from signals.false_signal import signal_probability_of_matrix
from signals.markov_arl import _phased_matrix, arl_from_matrix
from signals.toeplitz_chain import offset_pmf, toeplitz_arl, toeplitz_with_reset


class Lattice(NamedTuple):
    """The chart's step ``d`` and every outcome's phase scores in whole steps."""

    step: float
    cells: np.ndarray  # (outcomes, phases) integers, as floats
    probabilities: np.ndarray
    phased: bool

    def states_below(self, h: float) -> int:
        """How many lattice values ``k·d`` lie below ``h``: the states of the chain."""
        return max(1, math.ceil(h / self.step - 1e-9))


def lattice_of(
    increments: Increments, max_denominator: int = 10_000, tolerance: float = 1e-9
) -> Lattice | None:
    """The common step of all the scores, or None when they share none.

    Scores are taken to share a step when each is, to ``tolerance`` relative, a rational
    multiple with denominator at most ``max_denominator`` of the smallest non-zero score.

    Examples
    --------
    A Poisson count chart ``S = max(0, S + X − 1/4)`` lives on the quarter-steps:

    >>> from signals.cusum_increments import CusumIncrements
    >>> inc = CusumIncrements.of([-0.25, 0.75, 1.75], [0.78, 0.19, 0.03])
    >>> lattice_of(inc).step, lattice_of(inc).cells.ravel().tolist()
    (0.25, [-1.0, 3.0, 7.0])

    The unadjusted Bernoulli CUSUM with ``p0 = 0.1``, ``R = 2`` has incommensurate scores:

    >>> from signals.cusum_increments import bernoulli_increments
    >>> lattice_of(bernoulli_increments(2.0, 0.1)) is None
    True
    """
    values = phase_values(increments)
    magnitudes = np.abs(values[values != 0])
    if magnitudes.size == 0:
        return None
    reference = float(magnitudes.min())
    ratios = [Fraction(float(x)).limit_denominator(max_denominator)
              for x in np.unique(values / reference)]
    for ratio, x in zip(ratios, np.unique(values / reference), strict=True):
        if abs(float(ratio) - x) > tolerance * max(1.0, abs(x)):
            return None
    common = math.lcm(*(r.denominator for r in ratios))
    whole = math.gcd(*(int(r * common) for r in ratios))
    step = reference * whole / common
    cells = np.round(values / step)
    if np.any(np.abs(cells * step - values) > tolerance * max(1.0, float(np.abs(values).max()))):
        return None
    return Lattice(step, cells, increments.probabilities,
                   isinstance(increments, PhasedIncrements))


def lattice_transition_matrix(lattice: Lattice, states: int) -> np.ndarray:
    """The exact ``states × states`` chain on ``0, d, …, (states − 1)·d``.

    Examples
    --------
    Scores ±1 with equal probability, states 0, 1, 2 (a limit in (2, 3]):

    >>> from signals.cusum_increments import CusumIncrements
    >>> lat = lattice_of(CusumIncrements.of([-1.0, 1.0], [0.5, 0.5]))
    >>> lattice_transition_matrix(lat, 3).tolist()
    [[0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.0]]
    """
    if states < 1:
        raise ValueError("a chain needs at least one state")
    if lattice.phased:
        return _phased_matrix(lattice.cells, lattice.probabilities, states, "nearest")
    return toeplitz_with_reset(offset_pmf(lattice.cells[:, 0], lattice.probabilities, states),
                               states)


def lattice_arl(lattice: Lattice, states: int) -> float:
    """The exact in-control ARL from ``S = 0`` for any limit in ``((states − 1)·d, states·d]``.

    Examples
    --------
    Scores ±1 with equal probability, ``h = 3``: 12 steps on average (solved by hand).

    >>> from signals.cusum_increments import CusumIncrements
    >>> round(lattice_arl(lattice_of(CusumIncrements.of([-1.0, 1.0], [0.5, 0.5])), 3), 9)
    12.0
    """
    if lattice.phased:
        return arl_from_matrix(lattice_transition_matrix(lattice, states))
    return toeplitz_arl(offset_pmf(lattice.cells[:, 0], lattice.probabilities, states), states)


def lattice_signal_probability(lattice: Lattice, states: int, horizon: int) -> float:
    """The exact ``P(signal within horizon)`` from ``S = 0`` on the chain of ``states``.

    >>> from signals.cusum_increments import CusumIncrements
    >>> lat = lattice_of(CusumIncrements.of([-1.0, 1.0], [0.5, 0.5]))
    >>> lattice_signal_probability(lat, 3, horizon=3)
    0.125
    """
    return signal_probability_of_matrix(lattice_transition_matrix(lattice, states), horizon)

