"""Control limits for lattice charts: the attainable limit on the safe side of the target.

On a lattice chart (see ``signals.lattice_chain``) the in-control ARL is a step function of
``h``, so most targets cannot be met exactly: a root finder on a smoothed chain lands inside
a step and reports the target as achieved when the chart's true ARL is the step's. Here the
limit is the smallest lattice limit whose exact ARL is at least the target (or whose exact
false-signal probability is at most the target), as cran/spc's ``pois.cusum.crit`` returns,
with the value it really achieves.

Any limit in ``((n − 1)·d, n·d]`` behaves like ``n·d``; the limit returned is the middle of
that interval, ``(n − ½)·d``, so that the chart's floating-point sums, which land on the
lattice values only to rounding error, cannot move it to a neighbouring step.
"""

from __future__ import annotations

from collections.abc import Callable

from signals.calibration_result import Calibration, attains
from signals.lattice_chain import Lattice, lattice_arl, lattice_signal_probability


def lattice_limit_for_arl0(
    lattice: Lattice, target_arl0: float, max_states: int = 20_000
) -> Calibration:
    """The smallest lattice limit whose exact in-control ARL is at least ``target_arl0``.

    Examples
    --------
    cran/spc's ``pois.cusum.crit`` example (Lucas 1985): counts with mean 0.25, reference
    value 1/4, target ARL 430 → ``h = 10`` (``hm = 40`` quarter-steps). Its exact ARL is
    438.1; the next limit down, 9.75, gives only 417.5:

    >>> import numpy as np
    >>> from scipy import stats
    >>> from signals.cusum_increments import CusumIncrements
    >>> from signals.lattice_chain import lattice_of
    >>> counts = np.arange(30)
    >>> lat = lattice_of(CusumIncrements.of(counts - 0.25, stats.poisson.pmf(counts, 0.25)))
    >>> c = lattice_limit_for_arl0(lat, 430)
    >>> c.lattice_step, round(c.h / c.lattice_step + 0.5), round(c.achieved, 1), c.exact
    (0.25, 40, 438.1, False)
    """
    if not target_arl0 > 1:
        raise ValueError("target_arl0 must be greater than 1")
    states = _smallest(lambda n: lattice_arl(lattice, n) >= target_arl0, max_states)
    achieved = lattice_arl(lattice, states)
    return _result(lattice, states, achieved, target_arl0)


def lattice_limit_for_false_signal_probability(
    lattice: Lattice, alpha: float, horizon: int, max_states: int = 20_000
) -> Calibration:
    """The smallest lattice limit whose exact ``P(signal within horizon)`` is at most ``alpha``.

    >>> from signals.cusum_increments import CusumIncrements
    >>> from signals.lattice_chain import lattice_of
    >>> lat = lattice_of(CusumIncrements.of([-1.0, 1.0], [0.5, 0.5]))
    >>> c = lattice_limit_for_false_signal_probability(lat, 0.2, horizon=3)
    >>> c.h, c.achieved, c.exact  # P(three rises in three steps) = 1/8
    (2.5, 0.125, False)
    """
    if not 0 < alpha < 1:
        raise ValueError("alpha must lie strictly between 0 and 1")
    states = _smallest(
        lambda n: lattice_signal_probability(lattice, n, horizon) <= alpha, max_states
    )
    achieved = lattice_signal_probability(lattice, states, horizon)
    return _result(lattice, states, achieved, alpha)


def _result(lattice: Lattice, states: int, achieved: float, target: float) -> Calibration:
    return Calibration((states - 0.5) * lattice.step, achieved, target,
                       attains(achieved, target), "lattice", lattice.step)


def _smallest(safe: Callable[[int], bool], max_states: int) -> int:
    """The smallest ``n ≥ 1`` with ``safe(n)``, for ``safe`` monotone in ``n``."""
    high = 1
    while not safe(high):
        if high >= max_states:
            raise ValueError(f"no lattice limit within {max_states} states meets the target")
        high = min(2 * high, max_states)
    low = high // 2  # not safe (or 0)
    while high - low > 1:
        middle = (low + high) // 2
        if safe(middle):
            high = middle
        else:
            low = middle
    return high
