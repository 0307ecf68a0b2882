"""Unadjusted Bernoulli CUSUM: every case has the same benchmark event probability."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from signals.crossing import Crossing, Direction
from signals.cusum_step import check_limits, step
from signals.monitor import FieldState
from signals.monitor_config import BuildContext, CusumLimits
from signals.observations import Outcome


@dataclass(slots=True)
class BernoulliCusum(FieldState):
    """A one-sided Bernoulli CUSUM against a constant event probability ``p0``.

    The risk-adjusted chart (:class:`signals.ra_cusum.RiskAdjustedCusum`) with every patient's
    risk equal to ``p0``: the weight of a case with outcome ``y`` is
    ``W = y·ln(R) − ln(1 − p0 + R·p0)`` and ``S = max(0, S + W)``. Use it where there is no
    risk model (process measures, complication rates without case-mix data).

    Parameters
    ----------
    p0
        The benchmark probability of the event, strictly between 0 and 1.
    odds_ratio
        The change in odds to detect: ``R > 1`` looks for worse outcomes, ``R < 1`` for better.
    alarm_h
        The alarm limit. When ``S ≥ alarm_h`` the chart raises an alarm and resets to 0.
    alert_h
        Optional early-warning limit below ``alarm_h``. An alert is raised the first time
        ``S ≥ alert_h`` within an excursion; the excursion ends when ``S`` returns to 0.

    State: ``statistic`` (S), ``n`` (cases), ``observed`` (Σy) and ``alerted`` (an alert was
    raised in the current excursion); ``expected`` is ``n·p0``.

    Examples
    --------
    A 10% complication rate watched for a doubling of odds; seven complications in a row:

    >>> chart = BernoulliCusum(p0=0.1, odds_ratio=2.0, alert_h=2.0, alarm_h=3.0)
    >>> for case in range(1, 8):
    ...     crossing = chart.update(Outcome(y=1, p=0.1))
    ...     if crossing:
    ...         print(case, crossing.level.value, round(crossing.statistic, 3))
    4 alert 2.391
    6 alarm 3.587
    >>> chart.n, chart.observed, round(chart.expected, 2), round(chart.statistic, 3)
    (7, 7, 0.7, 0.598)

    An uneventful case only lowers ``S`` by ``ln(1 − p0 + R·p0)``; a case's own predicted
    risk is ignored (every case is benchmarked against ``p0``):

    >>> chart.update(Outcome(y=0, p=0.9)) is None, round(chart.statistic, 3)
    (True, 0.503)
    >>> BernoulliCusum.from_state(chart.to_state()) == chart
    True

    References
    ----------
    Steiner SH, Cook RJ, Farewell VT, Treasure T. Monitoring surgical performance using
    risk-adjusted cumulative sum charts. Biostatistics 2000;1(4):441–452.
    """

    p0: float
    odds_ratio: float
    alarm_h: float
    alert_h: float | None = None
    statistic: float = 0.0
    n: int = 0
    observed: int = 0
    alerted: bool = False
    # The two possible weights, fixed by the parameters; kept out of the state.
    _w0: float = field(init=False, repr=False, compare=False)
    _w1: float = field(init=False, repr=False, compare=False)
    _direction: Direction = field(init=False, repr=False, compare=False)

    observation_type: ClassVar[type] = Outcome
    two_sided: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not 0 < self.p0 < 1:
            raise ValueError("p0 must lie strictly between 0 and 1")
        if self.odds_ratio <= 0 or self.odds_ratio == 1:
            raise ValueError("odds_ratio must be positive and not 1")
        check_limits(self.alarm_h, self.alert_h)
        self._w0 = -math.log(1.0 - self.p0 + self.odds_ratio * self.p0)
        self._w1 = math.log(self.odds_ratio) + self._w0
        self._direction = Direction.WORSE if self.odds_ratio > 1 else Direction.BETTER

    @property
    def direction(self) -> Direction:
        """``worse`` for R > 1, ``better`` for R < 1."""
        return self._direction

    @property
    def expected(self) -> float:
        """The expected number of events so far, ``n·p0``."""
        return self.n * self.p0

    def update(self, observation: Outcome) -> Crossing | None:
        """Add one case with outcome ``y`` (1 = event, 0 = none); return a crossing or None.
        The case's predicted risk plays no part: the benchmark is ``p0``."""
        y = observation.y
        self.n += 1
        self.observed += y
        self.statistic, self.alerted, crossing = step(
            self.statistic,
            self._w1 if y else self._w0,
            self.alert_h,
            self.alarm_h,
            self.alerted,
            self._direction,
        )
        return crossing


class BernoulliCusumConfig(CusumLimits):
    """An unadjusted Bernoulli CUSUM against a constant rate ``p0`` in a metric config."""

    kind: Literal["bernoulli_cusum"]
    p0: Annotated[float, Field(gt=0, lt=1)]
    odds_ratio: Annotated[float, Field(gt=0)]

    def default_name(self) -> str:
        return f"bernoulli_cusum_or{self.odds_ratio:g}"

    @model_validator(mode="after")
    def _check(self) -> BernoulliCusumConfig:
        if self.odds_ratio == 1:
            raise ValueError("odds_ratio 1 detects no change: use > 1 (worse) or < 1 (better)")
        self.check_limits()
        return self

    def build(self, context: BuildContext) -> BernoulliCusum:
        assert self.alarm_h is not None
        return BernoulliCusum(self.p0, self.odds_ratio, self.alarm_h, self.alert_h)
