"""Risk-adjusted EWMA of observed minus expected outcomes, with exact-variance limits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from signals.crossing import Crossing, Direction, Level
from signals.monitor import FieldState
from signals.monitor_config import BuildContext, MonitorConfig
from signals.observations import Outcome


@dataclass(slots=True)
class RiskAdjustedEwma(FieldState):
    """A two-sided EWMA chart of ``y − p`` with limits from its exact variance.

    ``Z_t = (1 − λ)·Z_{t−1} + λ·(y_t − p_t)`` with ``Z_0 = 0``. Under the risk model the
    outcomes are independent Bernoulli(p_i), so
    ``Var(Z_t) = Σ λ²(1 − λ)^{2(t−i)} p_i(1 − p_i)``, accumulated recursively as
    ``V_t = (1 − λ)²·V_{t−1} + λ²·p_t(1 − p_t)``. The limits ``±L·√V_t`` therefore follow
    the actual case mix, and the variance is exact from the first case (it does not use the
    asymptotic ``λ/(2 − λ)·p̄(1 − p̄)``).

    Parameters
    ----------
    smoothing
        λ in (0, 1]: the weight of the newest case. Small λ remembers longer.
    alarm_width
        L, the alarm limit in standard deviations (3 is usual).
    alert_width
        Optional alert limit in standard deviations, below ``alarm_width`` (2 is usual).
    burn_in
        Cases to take in before the chart may signal (default 0).

    One chart watches both sides: ``Z > L·√V`` is *worse* than expected (more events), and
    ``Z < −L·√V`` is *better*. An excursion is a run of ``Z`` on one side of zero. Within an
    excursion each level is raised once, on entering the region beyond its limit, never on
    every case spent there; the excursion ends (and the limits re-arm) when ``Z`` returns to
    zero or crosses it. This mirrors the CUSUMs' excursions: re-arming as soon as ``Z`` dips
    back inside a limit would make a saw-tooth series (deaths every few cases) signal at
    almost every death. One update raises at most one crossing, the highest level newly
    entered, so an alert may be followed by an alarm in the same excursion but not repeated.

    **Reading the direction.** :class:`~signals.crossing.Crossing` has no direction field, so
    this chart signs it: ``statistic`` is ``Z`` and ``threshold`` is the signed limit crossed
    (``+L·√V`` worse, ``−L·√V`` better). The same direction is kept in ``last_direction``.

    **Choosing λ.** The limits are a normal approximation to a sum of Bernoulli outcomes. It
    is poor when the chart's memory (about ``2/λ`` cases) holds few expected events: the very
    first case, if an event, already stands ``√((1 − p)/p)`` standard deviations out (about 7
    for p = 0.02), and with λ = 0.1 and p = 0.02 a single death after a long run of survivors
    reaches 2.5 (an alert at width 2). Take λ small enough that ``p̄·(2 − λ)/λ`` is several
    events (λ ≈ 0.01 for 2% mortality) and a ``burn_in`` of about ``1/λ`` cases.

    State: ``value`` (Z), ``variance`` (V), ``n``, ``observed`` (Σy), ``expected`` (Σp),
    ``raised`` (the side's sign times the highest level raised in the current excursion:
    0 none, 1 alert, 2 alarm) and ``last_direction`` (of the latest crossing, or ``None``).

    Examples
    --------
    Patients of 10% predicted risk, but every third one dies (33%):

    >>> chart = RiskAdjustedEwma(smoothing=0.05, alarm_width=3.0, alert_width=2.0)
    >>> for case in range(1, 61):
    ...     crossing = chart.update(Outcome(1 if case % 3 == 0 else 0, 0.1))
    ...     if crossing:
    ...         print(case, crossing.level.value, chart.last_direction.value,
    ...               round(crossing.statistic, 4), round(crossing.threshold, 4))
    6 alert worse 0.0664 0.0651
    15 alarm worse 0.1345 0.1277

    Z dips back inside the alert limit after each survivor, but stays above zero, so the
    excursion (and its signals) continue without repeats. Survivors among patients of 40%
    risk pull Z through the lower limits instead:

    >>> chart = RiskAdjustedEwma(smoothing=0.05, alarm_width=3.0, alert_width=2.0)
    >>> for case in range(1, 61):
    ...     crossing = chart.update(Outcome(0, 0.4))
    ...     if crossing:
    ...         print(case, crossing.level.value, chart.last_direction.value,
    ...               round(crossing.statistic, 4), round(crossing.threshold, 4))
    7 alert better -0.1207 -0.1123
    15 alarm better -0.2147 -0.2086
    >>> chart.n, chart.observed, round(chart.expected, 1), chart.raised
    (60, 0, 24.0, -2)
    >>> RiskAdjustedEwma.from_state(chart.to_state()) == chart
    True

    References
    ----------
    Cook DA, Coory M, Webster RA. Exponentially weighted moving average charts to compare
    observed and expected values for monitoring risk-adjusted hospital indicators. BMJ Qual
    Saf 2011;20:469–474. Grigg OA, Spiegelhalter DJ. A simple risk-adjusted exponentially
    weighted moving average. J Am Stat Assoc 2007;102:140–152.
    """

    smoothing: float
    alarm_width: float = 3.0
    alert_width: float | None = None
    burn_in: int = 0
    value: float = 0.0
    variance: float = 0.0
    n: int = 0
    observed: int = 0
    expected: float = 0.0
    raised: int = 0
    last_direction: Direction | None = None

    observation_type: ClassVar[type] = Outcome
    two_sided: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not 0 < self.smoothing <= 1:
            raise ValueError("smoothing must lie in (0, 1]")
        if self.alarm_width <= 0:
            raise ValueError("alarm_width must be positive")
        if self.alert_width is not None and not 0 < self.alert_width < self.alarm_width:
            raise ValueError("alert_width must lie between 0 and alarm_width")
        if self.burn_in < 0:
            raise ValueError("burn_in must not be negative")
        if self.raised not in (-2, -1, 0, 1, 2):
            raise ValueError("raised must be an integer from -2 to 2")
        if self.last_direction is not None:
            # from_state() hands back the plain string.
            self.last_direction = Direction(self.last_direction)

    @property
    def statistic(self) -> float:
        """The EWMA of y − p."""
        return self.value

    @property
    def direction(self) -> Direction | None:
        """The direction of the latest crossing (the chart watches both)."""
        return self.last_direction

    def update(self, observation: Outcome) -> Crossing | None:
        """Add one case with outcome ``y`` and predicted risk ``p``; return a crossing or None.

        The crossing's direction is the sign of its ``statistic`` (also ``last_direction``).
        """
        y, p = observation
        lam = self.smoothing
        keep = 1.0 - lam
        z = keep * self.value + lam * (y - p)
        v = keep * keep * self.variance + lam * lam * p * (1.0 - p)
        self.value, self.variance = z, v
        self.n += 1
        self.observed += y
        self.expected += p

        if z == 0.0:
            self.raised = 0
            return None
        side = 1 if z > 0 else -1
        if self.raised * side < 0:
            self.raised = 0  # Z crossed zero: a new excursion
        if self.n <= self.burn_in:
            return None
        sd = math.sqrt(v)
        distance = abs(z)
        if distance > self.alarm_width * sd:
            band, level, width = 2, Level.ALARM, self.alarm_width
        elif self.alert_width is not None and distance > self.alert_width * sd:
            band, level, width = 1, Level.ALERT, self.alert_width
        else:
            return None
        if band <= abs(self.raised):
            return None
        self.raised = side * band
        self.last_direction = Direction.WORSE if side > 0 else Direction.BETTER
        return Crossing(level, z, side * width * sd, self.last_direction)


class RaEwmaConfig(MonitorConfig):
    """Risk-adjusted EWMA of y − p with exact-variance limits (both directions)."""

    kind: Literal["ra_ewma"]
    smoothing: Annotated[float, Field(gt=0, le=1)] = 0.01
    alarm_width: Annotated[float, Field(gt=0)] = 3.0
    alert_width: Annotated[float, Field(gt=0)] | None = None
    burn_in: Annotated[int, Field(ge=0)] = 0

    def default_name(self) -> str:
        return f"ra_ewma_l{self.smoothing:g}"

    @model_validator(mode="after")
    def _check(self) -> RaEwmaConfig:
        if self.alert_width is not None and self.alert_width >= self.alarm_width:
            raise ValueError("alert_width must be below alarm_width")
        return self

    def build(self, context: BuildContext) -> RiskAdjustedEwma:
        return RiskAdjustedEwma(self.smoothing, self.alarm_width, self.alert_width, self.burn_in)
