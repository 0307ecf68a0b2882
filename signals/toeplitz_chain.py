"""A CUSUM chain that is Toeplitz apart from its reset column, and its O(N²) ARL.

When every state moves by the same distribution of offsets (one score distribution, one
phase) the transition matrix among ``N`` non-signalling states is ``Q = T + u·e0ᵀ``: the
Toeplitz matrix ``T[i, j] = P(offset = j − i)`` with its first column replaced by the reset
probabilities ``P(offset ≤ −i)``. The ARL from state 0 is ``x0`` where ``(I − Q)·x = 1``.

Writing ``A = I − T`` (Toeplitz) and ``u`` for the reset column minus ``T``'s first column,
``I − Q = A − u·e0ᵀ`` and, by Sherman–Morrison, only the first row of ``A⁻¹`` is needed:
with ``w = A⁻ᵀ·e0`` (one Levinson solve, ``scipy.linalg.solve_toeplitz``, O(N²) time and
O(N) memory, no matrix formed),

    x0 = (wᵀ·1) / (1 − wᵀ·u).

``A`` is an M-matrix (``T`` is substochastic), so its leading minors do not vanish and the
Levinson recursion needs no pivoting as long as every leading block of states can be left;
the results agree with a dense LU solve to ~1e-12 (``tests/signals/test_toeplitz_chain.py``).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg


def offset_pmf(offsets: np.ndarray, mass: np.ndarray, states: int) -> np.ndarray:
    """The distribution of whole-cell offsets ``−states … states`` (index ``offset + states``).

    Offsets beyond ``±states`` act alike from every state (a certain reset or a certain
    signal), so they are lumped at the ends.

    >>> offset_pmf(np.array([-5.0, 1.0]), np.array([0.5, 0.5]), 2).tolist()
    [0.5, 0.0, 0.0, 0.5, 0.0]
    """
    index = np.clip(offsets, -states, states).astype(np.intp) + states
    return np.bincount(index, weights=mass, minlength=2 * states + 1)


def toeplitz_with_reset(pmf: np.ndarray, states: int) -> np.ndarray:
    """The dense ``states × states`` transition matrix of ``offset_pmf``'s distribution.

    >>> toeplitz_with_reset(np.array([0.0, 0.5, 0.0, 0.5, 0.0]), 2).tolist()
    [[0.5, 0.5], [0.5, 0.0]]
    """
    q = linalg.toeplitz(pmf[states:0:-1], pmf[states : 2 * states])
    q[:, 0] = _reset_column(pmf, states)
    return q


def toeplitz_arl(pmf: np.ndarray, states: int) -> float:
    """The ARL from state 0 of the chain ``toeplitz_with_reset(pmf, states)``, in O(N²).

    Scores ±1 with equal probability and three states: 12 steps (solved by hand).

    >>> round(toeplitz_arl(np.array([0, 0, 0.5, 0, 0.5, 0, 0]), 3), 9)
    12.0
    """
    column = -pmf[states:0:-1]  # first column of A = I − T
    row = -pmf[states : 2 * states]  # first row of A
    column[0] += 1.0
    row[0] += 1.0
    u = _reset_column(pmf, states) + column
    u[0] -= 1.0  # u = reset column − T's first column
    first = np.zeros(states)
    first[0] = 1.0
    try:
        # Aᵀ is Toeplitz with A's first row as its first column.
        w = linalg.solve_toeplitz((row, column), first, check_finite=False)
    except np.linalg.LinAlgError:
        # A leading block of states the chart never leaves (e.g. every move rounds to 0):
        # let the dense solve decide (it raises when the chain can never signal).
        system = np.eye(states) - toeplitz_with_reset(pmf, states)
        return float(linalg.solve(system, np.ones(states), check_finite=False)[0])
    return float(w.sum() / (1.0 - w @ u))


def _reset_column(pmf: np.ndarray, states: int) -> np.ndarray:
    """From state ``i`` every offset ``≤ −i`` resets the chart to 0."""
    return np.cumsum(pmf)[states - np.arange(states)]
