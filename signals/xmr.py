"""XmR (individuals and moving range) charts with NHS "Making Data Count" special-cause rules.

The chart NHS England's *Making Data Count* programme calls "plot the dots": the process
limits are ``mean ± 2.66 × mean moving range`` and four rules, in priority order, mark points
as special cause variation:

1. ``outside_limits`` — a point strictly above the upper or below the lower process limit;
2. ``trend`` — seven points in a row strictly rising or strictly falling (six successive
   increases; a tie breaks it), every point of the run marked;
3. ``two_in_three`` — two of three consecutive points strictly beyond two-thirds of the way
   to a limit (but not outside it), all three on the same side of the mean; only the close
   points are marked;
4. ``shift`` — seven points in a row on the same side of the mean (a point exactly on the
   mean breaks the run), every point of the run marked.

The definitions follow NHSRplotthedots (``ptd_spc_standard.R``, ``ptd_calculate_point_type.R``),
including its default screening of moving ranges ``≥ 3.267 × their mean``, which are dropped
once before the mean moving range is recomputed (Nelson 1982). The mean itself uses every
point. Rebasing and fixing the baseline after n points are left to the caller: pass the
baseline's values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from signals.crossing import Direction

LIMIT_FACTOR = 2.66
SCREEN_FACTOR = 3.267
RUN_LENGTH = 7


class SpecialCause(StrEnum):
    """The Making Data Count rules, listed in priority order."""

    OUTSIDE_LIMITS = "outside_limits"
    TREND = "trend"
    TWO_IN_THREE = "two_in_three"
    SHIFT = "shift"


class Side(StrEnum):
    """Which way a special cause points: above the mean (or rising) is ``high``."""

    HIGH = "high"
    LOW = "low"


@dataclass(frozen=True, slots=True)
class XmrPoint:
    """One value on the chart and the highest-priority rule it is part of, if any.

    ``moving_range`` is ``|x_i − x_{i−1}|`` (``None`` for the first point); ``screened`` says
    it was left out of the mean moving range.
    """

    index: int
    value: float
    moving_range: float | None
    screened: bool = False
    rule: SpecialCause | None = None
    side: Side | None = None
    direction: Direction | None = None


@dataclass(frozen=True, slots=True)
class XmrChart:
    """An XmR chart: process limits and every point's special-cause classification."""

    mean: float
    mean_moving_range: float
    lower: float
    upper: float
    lower_near: float
    upper_near: float
    higher_is_worse: bool
    points: tuple[XmrPoint, ...]

    @property
    def special_causes(self) -> tuple[XmrPoint, ...]:
        """The points some rule marked."""
        return tuple(p for p in self.points if p.rule is not None)


def xmr_chart(
    values: Sequence[float], screen_outliers: bool = True, higher_is_worse: bool = True
) -> XmrChart:
    """Compute an XmR chart's limits and mark special causes.

    Parameters
    ----------
    values
        The series in time order (e.g. monthly rates), at least two finite values.
    screen_outliers
        Drop moving ranges ``≥ 3.267 × mean`` once before computing the limits
        (NHSRplotthedots' default); ``False`` reproduces the Making Data Count Excel tools.
    higher_is_worse
        Maps a ``high`` side to ``worse`` (and ``low`` to ``better``); false flips it.

    Examples
    --------
    NHSRplotthedots' ``deviations.Rmd`` series, with and without screening:

    >>> data = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]
    >>> c = xmr_chart(data)
    >>> round(c.upper, 2), round(c.mean, 2), round(c.lower, 2)
    (4.6, 1.94, -0.72)
    >>> [(p.index, p.rule.value, p.side.value, p.direction.value) for p in c.special_causes]
    [(4, 'outside_limits', 'high', 'worse')]
    >>> c = xmr_chart(data, screen_outliers=False)
    >>> round(c.upper, 2), round(c.mean, 2), round(c.lower, 2)
    (6.95, 1.94, -3.06)

    References
    ----------
    NHS England. Making Data Count (2019). Nelson LS. Control charts for individual
    measurements. J Qual Technol 1982;14:172–173. NHSRplotthedots (nhs-r-community).
    """
    y = [float(v) for v in values]
    n = len(y)
    if n < 2:
        raise ValueError("an XmR chart needs at least two values")
    if not all(math.isfinite(v) for v in y):
        raise ValueError("values must be finite")

    mean = math.fsum(y) / n
    mr: list[float | None] = [None] + [abs(y[i] - y[i - 1]) for i in range(1, n)]
    ranges = [m for m in mr if m is not None]
    amr = math.fsum(ranges) / len(ranges)
    screened = [False] * n
    if screen_outliers and amr > 0:
        cut = SCREEN_FACTOR * amr
        screened = [m is not None and m >= cut for m in mr]
        kept = [m for m, s in zip(mr, screened, strict=True) if m is not None and not s]
        amr = math.fsum(kept) / len(kept)

    upper, lower = mean + LIMIT_FACTOR * amr, mean - LIMIT_FACTOR * amr
    near = 2 * LIMIT_FACTOR / 3 * amr
    upper_near, lower_near = mean + near, mean - near

    side_of_mean = [(v > mean) - (v < mean) for v in y]
    outside = [v > upper or v < lower for v in y]
    close = [not o and (v > upper_near or v < lower_near) for v, o in zip(y, outside, strict=True)]

    rule: list[SpecialCause | None] = [None] * n
    side: list[int] = [0] * n

    def mark(i: int, cause: SpecialCause, s: int) -> None:
        # Rules are applied from lowest priority up, so a higher one overwrites.
        rule[i], side[i] = cause, s

    for i in _runs(side_of_mean, RUN_LENGTH):
        for j in range(i - RUN_LENGTH + 1, i + 1):
            mark(j, SpecialCause.SHIFT, side_of_mean[j])
    for start in range(n - 2):
        window = range(start, start + 3)
        same_side = abs(sum(side_of_mean[j] for j in window)) == 3
        if same_side and sum(close[j] for j in window) >= 2:
            for j in window:
                if close[j]:
                    mark(j, SpecialCause.TWO_IN_THREE, side_of_mean[j])
    steps = [0] + [(y[i] > y[i - 1]) - (y[i] < y[i - 1]) for i in range(1, n)]
    for i in _runs(steps, RUN_LENGTH - 1):
        # A point ending one trend and starting the next takes the later one's direction,
        # as NHSRplotthedots does.
        for j in range(i - RUN_LENGTH + 1, i + 1):
            mark(j, SpecialCause.TREND, steps[i])
    for i in range(n):
        if outside[i]:
            mark(i, SpecialCause.OUTSIDE_LIMITS, 1 if y[i] > upper else -1)

    points = []
    for i in range(n):
        s = Side.HIGH if side[i] > 0 else Side.LOW if side[i] < 0 else None
        direction = None
        if rule[i] is not None and s is not None:
            direction = Direction.WORSE if (s is Side.HIGH) == higher_is_worse else Direction.BETTER
        points.append(XmrPoint(i, y[i], mr[i], screened[i], rule[i], s, direction))
    return XmrChart(
        mean=mean,
        mean_moving_range=amr,
        lower=lower,
        upper=upper,
        lower_near=lower_near,
        upper_near=upper_near,
        higher_is_worse=higher_is_worse,
        points=tuple(points),
    )


def _runs(signs: list[int], length: int) -> list[int]:
    """Indices ``i`` where ``signs[i − length + 1 .. i]`` are all the same non-zero value."""
    hits, run = [], 0
    for i, s in enumerate(signs):
        run = run + 1 if s != 0 and i > 0 and s == signs[i - 1] else (1 if s != 0 else 0)
        if run >= length:
            hits.append(i)
    return hits
