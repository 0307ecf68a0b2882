"""Where the excursion behind a signal began.

A look-back reads back from the signal to the start of the run that produced it
(Queensland's VLAD method reads back from the flag point to choose the cases to review).
The start is defined on the chart's own values, observation by observation:

**CUSUM** (risk-adjusted or Bernoulli; the *upper*/worse chart with ``R > 1`` and the
*lower*/better chart with ``R < 1`` alike, since in Vigil each is a one-sided chart
``S_t = max(0, S_{t−1} + W_t)`` that rises towards its own limit): with ``S_0 = 0`` and
``S_t`` the value the chart went on from after observation ``t`` (0 after an alarm's
reset), the excursion of a signal at observation ``T`` starts at observation

    t₀ = 1 + max{ t < T : S_t = 0 },

the observation after the statistic last stood at 0 before the signal. Every observation
from ``t₀`` to ``T`` has ``S > 0``, and ``S_T`` is the sum of their weights ``W``.

**VLAD** (``V_t = Σ (p − y)``, signalling downwards): the excursion is the fall from the
last peak. With ``V_0 = 0`` and ``M_t = max(V_0, …, V_t)`` it starts at

    t₀ = 1 + max{ t < T : V_t = M_t },

the observation after VLAD last stood at its running maximum. This is the CUSUM rule
applied to ``D_t = M_t − V_t = max(0, D_{t−1} + (y_t − p_t))``, so "stood at 0" means the
same thing on both charts, and ``V_T − V_{t₀−1}`` is the sum of the episodes' ``p − y``.
"""

from __future__ import annotations

from collections.abc import Sequence

from streams.lookback.trace import ChartPoint


def excursion_start(points: Sequence[ChartPoint], signal_index: int, monitor_kind: str) -> int:
    """The index in ``points`` (a chart's updates from its first) where the excursion of the
    signal at ``points[signal_index]`` begins.

    >>> from datetime import datetime, UTC
    >>> def pt(n, after):
    ...     at = datetime(2026, 1, n, tzinfo=UTC)
    ...     return ChartPoint(n, at, at, f"ep{n}", 0.1, 0, 0.0, after, after, None, None)
    >>> cusum = [pt(1, 0.4), pt(2, 0.0), pt(3, 0.7), pt(4, 1.2), pt(5, 2.0)]
    >>> excursion_start(cusum, 4, "ra_cusum")  # S stood at 0 after the 2nd observation
    2
    >>> excursion_start(cusum[2:], 2, "ra_cusum")  # never at 0 since the chart began
    0
    >>> vlad = [pt(1, 0.1), pt(2, 0.3), pt(3, -0.7), pt(4, -0.5), pt(5, -1.6)]
    >>> excursion_start(vlad, 4, "vlad")  # the peak was after the 2nd observation
    2
    """
    if not 0 <= signal_index < len(points):
        raise IndexError("signal_index is not a point of the chart")
    if monitor_kind == "vlad":
        peak, last = 0.0, -1
        for index in range(signal_index):
            value = points[index].after
            if value >= peak:
                peak, last = value, index
        return last + 1
    for index in range(signal_index - 1, -1, -1):
        if points[index].after == 0.0:
            return index + 1
    return 0
