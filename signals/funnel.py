"""Funnel plots: observed/expected ratios against exact Poisson limits (Spiegelhalter 2005).

A funnel plot is a cross-sectional snapshot of one metric: every entity (provider, clinician,
device) is a point at its expected count ``E`` with its standardised ratio ``O/E``, and the
control limits narrow as ``E`` grows. Vigil uses two limits: the 95% limit raises an *alert*,
the 99.8% limit an *alarm*, in either direction.

The unadjusted limits are FunnelPlotR's exact Poisson limits, a function of the expected count
``E`` alone (continuous in ``E``, so they draw as smooth curves)::

    lower(E) = qchisq(α/2, 2E) / 2E
    upper(E) = qchisq(1 − α/2, 2(E + 1)) / 2E

With ``overdispersion=True`` the between-entity variance τ² is estimated from the entities'
z-scores after 10% winsorisation at each tail (Spiegelhalter 2005, DerSimonian–Laird style),
and when τ² > 0 the limits are widened on the transformed scale: for the square-root
transform ``(1 ± z·√(1/(4E) + τ²))²``, for the log transform ``exp(± z·√(1/E + τ²))``.
When no overdispersion is found (τ² = 0) the exact Poisson limits are kept, as FunnelPlotR does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import chi2, norm

from signals.crossing import Crossing, Direction, Level

Transform = Literal["sqrt", "log"]
DEFAULT_LEVELS: tuple[float, float] = (0.95, 0.998)


@dataclass(frozen=True, slots=True)
class FunnelInput:
    """One entity's observed count ``observed`` (O) and expected count ``expected`` (E)."""

    entity_id: str
    observed: float
    expected: float


@dataclass(frozen=True, slots=True, eq=False)
class FunnelLimits:
    """Lower and upper limits of the ratio O/E at each expected count, one row per level.

    ``lower[k]`` and ``upper[k]`` hold the limits for ``levels[k]``. ``tau2`` is ``None`` for
    exact Poisson limits and the between-entity variance for overdispersion-adjusted ones.
    """

    expected: NDArray[np.float64]
    levels: tuple[float, ...]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    target: float = 1.0
    tau2: float | None = None
    transform: Transform = "sqrt"

    def band(self, level: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The (lower, upper) limit arrays for ``level``."""
        k = self.levels.index(level)
        return self.lower[k], self.upper[k]


@dataclass(frozen=True, slots=True)
class Overdispersion:
    """Spiegelhalter's overdispersion estimate from winsorised z-scores.

    ``z`` are the unadjusted z-scores, ``z_winsorised`` the same after clipping to the
    ``trim`` and ``1 − trim`` quantiles, ``phi`` = mean of ``z_winsorised²`` and ``tau2`` the
    additive between-entity variance on the transformed scale (0 when ``n·φ ≤ n − 1``).
    """

    n: int
    phi: float
    tau2: float
    z: tuple[float, ...]
    z_winsorised: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class FunnelPoint:
    """One entity on the funnel plot, with the limits at its expected count.

    ``level`` is the outermost limit the ratio lies strictly beyond (``alarm`` beats
    ``alert``) and ``direction`` says whether that is ``worse`` or ``better``; both are
    ``None`` for an entity within its 95% limits.
    """

    entity_id: str
    observed: float
    expected: float
    ratio: float
    alert_lower: float
    alert_upper: float
    alarm_lower: float
    alarm_upper: float
    level: Level | None = None
    direction: Direction | None = None

    def crossing(self) -> Crossing | None:
        """The limit crossed as a :class:`Crossing` (statistic = O/E), or ``None``."""
        if self.level is None or self.direction is None:
            return None
        high = self.ratio > self.alert_upper
        if self.level is Level.ALARM:
            threshold = self.alarm_upper if high else self.alarm_lower
        else:
            threshold = self.alert_upper if high else self.alert_lower
        return Crossing(self.level, self.ratio, threshold, self.direction)


@dataclass(frozen=True, slots=True)
class FunnelSnapshot:
    """A funnel plot of one metric: every entity's point and how the limits were made.

    ``adjusted`` is true when overdispersion-widened limits were used (requested and τ² > 0);
    ``overdispersion`` holds the estimate when it was requested. Points with
    ``expected < min_expected`` were left unclassified.
    """

    points: tuple[FunnelPoint, ...]
    levels: tuple[float, float]
    target: float
    transform: Transform
    higher_is_worse: bool
    adjusted: bool
    overdispersion: Overdispersion | None = None
    min_expected: float = 0.0

    @property
    def tau2(self) -> float | None:
        """The τ² the limits use, or ``None`` for exact Poisson limits."""
        return self.overdispersion.tau2 if self.adjusted and self.overdispersion else None

    @property
    def outliers(self) -> tuple[FunnelPoint, ...]:
        """The points beyond at least the alert limit."""
        return tuple(p for p in self.points if p.level is not None)


def poisson_limits(
    expected: ArrayLike, level: float, target: float = 1.0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Exact Poisson limits of O/E at expected count(s) ``expected`` for a two-sided ``level``.

    The null is ``O ~ Poisson(target·E)``; the limits are FunnelPlotR's, evaluated at
    ``μ = target·E`` and scaled by ``target`` (identical to FunnelPlotR when target is 1).

    FunnelPlotR reference (``test-poisson_limits.R``), target 1, E = 15, 20, 30:

    >>> lo, hi = poisson_limits([15, 20, 30], 0.95)
    >>> lo.round(7).tolist(), hi.round(6).tolist()
    ([0.5596924, 0.610826, 0.6746958], [1.649348, 1.544419, 1.427562])
    """
    _check_level(level)
    mu = target * _positive(expected, "expected")
    alpha = 1.0 - level
    lower = chi2.ppf(alpha / 2, 2 * mu) / (2 * mu)
    upper = chi2.ppf(1 - alpha / 2, 2 * (mu + 1)) / (2 * mu)
    return target * lower, target * upper


def adjusted_limits(
    expected: ArrayLike,
    level: float,
    tau2: float,
    target: float = 1.0,
    transform: Transform = "sqrt",
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Overdispersion-adjusted limits of O/E: normal limits on the transformed scale with
    variance ``s² + τ²``, mapped back.

    At E = 25 with τ² = 0.01 the square-root scale sd is √(1/100 + 0.01) = 0.1414, so the 95%
    limits are (1 ∓ 1.96 × 0.1414)²:

    >>> lo, hi = adjusted_limits([25.0], 0.95, tau2=0.01)
    >>> round(float(lo[0]), 4), round(float(hi[0]), 4)
    (0.5225, 1.6312)
    """
    _check_level(level)
    if tau2 < 0:
        raise ValueError("tau2 must be non-negative")
    mu = target * _positive(expected, "expected")
    z = norm.ppf(1 - (1 - level) / 2)
    if transform == "sqrt":
        sd = np.sqrt(1 / (4 * mu) + tau2)
        lower = np.clip(1 - z * sd, 0.0, None) ** 2
        upper = (1 + z * sd) ** 2
    elif transform == "log":
        sd = np.sqrt(1 / mu + tau2)
        lower, upper = np.exp(-z * sd), np.exp(z * sd)
    else:
        raise ValueError(f"unknown transform {transform!r}")
    return target * lower, target * upper


def funnel_limits(
    expected: ArrayLike,
    levels: Sequence[float] = DEFAULT_LEVELS,
    target: float = 1.0,
    tau2: float | None = None,
    transform: Transform = "sqrt",
) -> FunnelLimits:
    """Limits at each expected count for each level: exact Poisson when ``tau2`` is ``None``,
    overdispersion-adjusted otherwise.

    FunnelPlotR reference for the 99.8% limits, target 1, E = 15, 20, 30:

    >>> lim = funnel_limits([15, 20, 30])
    >>> lo, hi = lim.band(0.998)
    >>> lo.round(7).tolist(), hi.round(6).tolist()
    ([0.386265, 0.4479107, 0.5289724], [2.082907, 1.902094, 1.702771])
    """
    e = _positive(expected, "expected")
    bands = [
        poisson_limits(e, lv, target)
        if tau2 is None
        else adjusted_limits(e, lv, tau2, target, transform)
        for lv in levels
    ]
    return FunnelLimits(
        expected=e,
        levels=tuple(float(lv) for lv in levels),
        lower=np.array([b[0] for b in bands]),
        upper=np.array([b[1] for b in bands]),
        target=target,
        tau2=tau2,
        transform=transform,
    )


def funnel_curves(
    expected_min: float,
    expected_max: float,
    levels: Sequence[float] = DEFAULT_LEVELS,
    target: float = 1.0,
    tau2: float | None = None,
    transform: Transform = "sqrt",
    n_points: int = 200,
) -> FunnelLimits:
    """Limit curves on a grid of expected counts, for drawing.

    The grid is geometric because the funnel changes fastest at small E.

    >>> c = funnel_curves(1, 100, n_points=3)
    >>> c.expected.tolist(), c.band(0.95)[1].round(3).tolist()
    ([1.0, 10.0, 100.0], [5.572, 1.839, 1.216])
    """
    if not 0 < expected_min < expected_max:
        raise ValueError("need 0 < expected_min < expected_max")
    if n_points < 2:
        raise ValueError("n_points must be at least 2")
    grid = np.geomspace(expected_min, expected_max, n_points)
    return funnel_limits(grid, levels, target, tau2, transform)


def snapshot_curves(snapshot: FunnelSnapshot, n_points: int = 200) -> FunnelLimits:
    """The limit curves matching ``snapshot``'s limits, spanning its expected counts."""
    e = [p.expected for p in snapshot.points]
    lo, hi = min(e), max(e)
    if lo == hi:
        lo, hi = lo / 2, hi * 2
    return funnel_curves(
        lo * 0.9, hi * 1.1, snapshot.levels, snapshot.target, snapshot.tau2,
        snapshot.transform, n_points,
    )  # fmt: skip


def estimate_overdispersion(
    observed: ArrayLike,
    expected: ArrayLike,
    trim: float = 0.1,
    target: float = 1.0,
    transform: Transform = "sqrt",
) -> Overdispersion:
    """Estimate φ and τ² from z-scores winsorised at ``trim`` in each tail.

    z-scores: square-root ``z = 2(√O − √(tE))`` (s = 1/(2√(tE))), or log
    ``z = √(tE)·ln(O/(tE))`` (s = 1/√(tE)). Quantiles are R's default (type 7), as in
    FunnelPlotR. Then ``φ = Σz²/n`` and, with ``w = 1/s²``,
    ``τ² = max(0, (nφ − (n − 1)) / (Σw − Σw²/Σw))``.

    Ten entities each with E = 25 and O = 9 … 64, so z = 2(√O − 5) is a whole number:

    >>> od = estimate_overdispersion([16, 36, 25, 49, 9, 25, 64, 25, 36, 16], [25] * 10)
    >>> od.z
    (-2.0, 2.0, 0.0, 4.0, -4.0, 0.0, 6.0, 0.0, 2.0, -2.0)
    >>> round(od.phi, 4), round(od.tau2, 6)
    (5.448, 0.050533)
    """
    o = np.asarray(observed, dtype=float)
    mu = target * _positive(expected, "expected")
    if o.shape != mu.shape:
        raise ValueError("observed and expected differ in length")
    if np.any(o < 0) or not np.all(np.isfinite(o)):
        raise ValueError("observed must be finite and non-negative")
    if not 0 <= trim < 0.5:
        raise ValueError("trim must lie in [0, 0.5)")
    n = o.size
    if n < 2:
        raise ValueError("overdispersion needs at least two entities")
    if transform == "sqrt":
        z = 2 * (np.sqrt(o) - np.sqrt(mu))
        w = 4 * mu
    elif transform == "log":
        if np.any(o == 0):
            raise ValueError("the log transform cannot take O = 0; use transform='sqrt'")
        z = np.sqrt(mu) * np.log(o / mu)
        w = mu
    else:
        raise ValueError(f"unknown transform {transform!r}")
    lz, uz = np.quantile(z, [trim, 1 - trim])
    zw = np.clip(z, lz, uz)
    phi = float(np.sum(zw**2) / n)
    tau2 = max(0.0, (n * phi - (n - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    return Overdispersion(n, phi, float(tau2), tuple(z.tolist()), tuple(zw.tolist()))


def funnel_snapshot(
    rows: Sequence[FunnelInput],
    overdispersion: bool = False,
    levels: tuple[float, float] = DEFAULT_LEVELS,
    target: float = 1.0,
    trim: float = 0.1,
    transform: Transform = "sqrt",
    higher_is_worse: bool = True,
    min_expected: float = 0.0,
) -> FunnelSnapshot:
    """Place every entity on the funnel and classify it against the alert and alarm limits.

    Parameters
    ----------
    rows
        One :class:`FunnelInput` per entity; ``expected`` must be positive.
    overdispersion
        Estimate τ² (Spiegelhalter 2005, ``trim`` winsorisation) and, if positive, widen the
        limits by it. Needs at least two entities.
    levels
        The alert and alarm levels, smaller first.
    target
        The ratio expected in control (1 for indirectly standardised ratios).
    transform
        The scale for the overdispersion z-scores: ``"sqrt"`` (copes with O = 0) or ``"log"``.
    higher_is_worse
        A ratio above the limits is ``worse`` (e.g. mortality); set false for metrics where
        more is better.
    min_expected
        Entities with ``E`` below this are placed on the plot but never classified. The
        exact Poisson lower limit is positive at every E, so an entity with O = 0 always
        lies below it, even at E = 0.1 where P(O = 0) = 0.90: a floor such as 5 keeps such
        entities from raising spurious ``better`` signals. The default 0 classifies every
        entity, as FunnelPlotR does. Overdispersion is still estimated from all entities.

    Examples
    --------
    >>> rows = [FunnelInput("RXF", 30, 15.0), FunnelInput("RR8", 20, 20.0),
    ...         FunnelInput("RAE", 14, 30.0)]
    >>> snap = funnel_snapshot(rows)
    >>> for p in snap.points:
    ...     print(p.entity_id, round(p.ratio, 3), p.level, p.direction)
    RXF 2.0 alert worse
    RR8 1.0 None None
    RAE 0.467 alarm better
    >>> snap.points[0].crossing()  # doctest: +ELLIPSIS
    Crossing(level=<Level.ALERT: 'alert'>, statistic=2.0, threshold=1.6493479..., direction=...)

    References
    ----------
    Spiegelhalter DJ. Funnel plots for comparing institutional performance.
    Stat Med 2005;24:1185–1202. Spiegelhalter DJ. Handling over-dispersion of performance
    indicators. Qual Saf Health Care 2005;14:347–351. FunnelPlotR (nhs-r-community).
    """
    if not rows:
        raise ValueError("a funnel needs at least one entity")
    alert_level, alarm_level = levels
    if not alert_level < alarm_level:
        raise ValueError("levels must be (alert, alarm) with alert < alarm")
    o = np.array([r.observed for r in rows], dtype=float)
    e = _positive([r.expected for r in rows], "expected")
    if np.any(o < 0) or not np.all(np.isfinite(o)):
        raise ValueError("observed must be finite and non-negative")

    od = estimate_overdispersion(o, e, trim, target, transform) if overdispersion else None
    tau2 = od.tau2 if od is not None and od.tau2 > 0 else None
    lim = funnel_limits(e, levels, target, tau2, transform)
    ratio = o / e
    points = []
    for i, row in enumerate(rows):
        alert_lo, alert_hi = float(lim.lower[0, i]), float(lim.upper[0, i])
        alarm_lo, alarm_hi = float(lim.lower[1, i]), float(lim.upper[1, i])
        r = float(ratio[i])
        # Strictly beyond, as FunnelPlotR's outlier test: a ratio on a limit is within it.
        level = (
            None if row.expected < min_expected
            else Level.ALARM if r > alarm_hi or r < alarm_lo
            else Level.ALERT if r > alert_hi or r < alert_lo
            else None
        )  # fmt: skip
        direction = None
        if level is not None:
            high = r > alert_hi
            direction = Direction.WORSE if high == higher_is_worse else Direction.BETTER
        points.append(
            FunnelPoint(row.entity_id, float(o[i]), float(e[i]), r, alert_lo, alert_hi,
                        alarm_lo, alarm_hi, level, direction)
        )  # fmt: skip
    return FunnelSnapshot(
        points=tuple(points),
        levels=(float(alert_level), float(alarm_level)),
        target=target,
        transform=transform,
        higher_is_worse=higher_is_worse,
        adjusted=tau2 is not None,
        overdispersion=od,
        min_expected=min_expected,
    )


def _positive(values: ArrayLike, name: str) -> NDArray[np.float64]:
    a = np.atleast_1d(np.asarray(values, dtype=float))
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"{name} must be finite and positive")
    return a


def _check_level(level: float) -> None:
    if not 0 < level < 1 or math.isnan(level):
        raise ValueError("level must lie strictly between 0 and 1")
