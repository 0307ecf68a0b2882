"""Risk-adjusted Bernoulli CUSUM (Steiner, Cook, Farewell & Treasure 2000)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, PrivateAttr, model_validator

from signals.crossing import Crossing, Direction
from signals.cusum_step import check_limits, step
from signals.monitor import FieldState
from signals.monitor_config import BuildContext, CusumLimits
from signals.observations import Outcome


def llr_score(y: int, p: float, odds_ratio: float) -> float:
    """The log-likelihood-ratio weight of one patient.

    ``W = y·ln(R) − ln(1 − p + R·p)`` for outcome ``y`` (1 = event), predicted risk ``p`` and
    the odds ratio ``R`` the chart is tuned to detect.

    Reference values from cran/vlad ``test-llr_score.R``: Parsonnet 0 and 50 under
    ``logit p = −3.68 + 0.077·Parsonnet``, each survived then died:

    >>> risks = [1 / (1 + math.exp(3.68 - 0.077 * s)) for s in (0, 50)]
    >>> [round(llr_score(y, p, 2), 3) for p in risks for y in (0, 1)]
    [-0.024, 0.669, -0.433, 0.26]
    """
    return y * math.log(odds_ratio) - math.log(1.0 - p + odds_ratio * p)


@dataclass(slots=True)
class RiskAdjustedCusum(FieldState):
    """A one-sided risk-adjusted CUSUM chart with an alert and an alarm limit.

    Parameters
    ----------
    odds_ratio
        The change in odds to detect: ``R > 1`` looks for worse outcomes, ``R < 1`` for better.
    alarm_h
        The alarm limit. When ``S ≥ alarm_h`` the chart raises an alarm and resets to 0.
    alert_h
        Optional early-warning limit below ``alarm_h``. An alert is raised the first time
        ``S ≥ alert_h`` within an excursion; the excursion ends when ``S`` returns to 0.

    State: ``statistic`` (S), ``n`` (observations), ``observed`` (Σy), ``expected`` (Σp) and
    ``alerted`` (an alert was raised in the current excursion).

    Examples
    --------
    Six deaths in a row among patients of 10% predicted risk, watched for a doubling of odds:

    >>> chart = RiskAdjustedCusum(odds_ratio=2.0, alert_h=2.0, alarm_h=3.0)
    >>> for death in range(1, 8):
    ...     crossing = chart.update(Outcome(y=1, p=0.1))
    ...     if crossing:
    ...         print(death, crossing.level.value, round(crossing.statistic, 3))
    4 alert 2.391
    6 alarm 3.587
    >>> chart.n, chart.observed, round(chart.expected, 2), round(chart.statistic, 3)
    (7, 7, 0.7, 0.598)

    The state round-trips through a plain dict:

    >>> RiskAdjustedCusum.from_state(chart.to_state()) == chart
    True

    References
    ----------
    Steiner SH, Cook RJ, Farewell VT, Treasure T. Monitoring surgical performance using
    risk-adjusted cumulative sum charts. Biostatistics 2000;1(4):441–452.
    """

    odds_ratio: float
    alarm_h: float
    alert_h: float | None = None
    statistic: float = 0.0
    n: int = 0
    observed: int = 0
    expected: float = 0.0
    alerted: bool = False
    # ln R, cached because update() is on the hot path of a full replay.
    _log_r: float = field(init=False, repr=False, compare=False)
    _first_limit: float = field(init=False, repr=False, compare=False)
    _direction: Direction = field(init=False, repr=False, compare=False)

    observation_type: ClassVar[type] = Outcome
    two_sided: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.odds_ratio <= 0 or self.odds_ratio == 1:
            raise ValueError("odds_ratio must be positive and not 1")
        check_limits(self.alarm_h, self.alert_h)
        self._log_r = math.log(self.odds_ratio)
        self._first_limit = self.alarm_h if self.alert_h is None else self.alert_h
        self._direction = Direction.WORSE if self.odds_ratio > 1 else Direction.BETTER

    @property
    def direction(self) -> Direction:
        """``worse`` for R > 1, ``better`` for R < 1."""
        return self._direction

    def set_limits(self, alarm_h: float, alert_h: float | None) -> None:
        """New limits (a per-entity calibration, ``signals.entity_limits``); the statistic
        goes on from where it is."""
        check_limits(alarm_h, alert_h)
        self.alarm_h, self.alert_h = alarm_h, alert_h
        self._first_limit = alarm_h if alert_h is None else alert_h

    def update(self, observation: Outcome) -> Crossing | None:
        """Add one patient with outcome ``y`` and predicted risk ``p``; return a crossing."""
        y, p = observation
        r = self.odds_ratio
        self.n += 1
        self.observed += y
        self.expected += p
        weight = y * self._log_r - math.log(1.0 - p + r * p)
        s = self.statistic + weight
        if 0.0 < s < self._first_limit:
            # The commonest case by far, on the replay's hot path: the excursion goes on
            # below every limit. Everything else follows the shared rules in step().
            self.statistic = s
            return None
        self.statistic, self.alerted, crossing = step(
            self.statistic, weight, self.alert_h, self.alarm_h, self.alerted, self._direction
        )
        return crossing


UNCALIBRATED = 1e9
"""The limit a per-entity chart holds until its entity's baseline has been read (it is
not updated before then)."""


class RaCusumConfig(CusumLimits):
    """A risk-adjusted CUSUM in a metric config. Give ``alarm_h``; or ``target_arl0`` to have
    Vigil calibrate it from the metric's baseline patient mix; or
    ``false_alarm_probability`` (and ``alert_false_alarm_probability``) over
    ``horizon_days``, to have each entity's chart calibrated for its own volume and mix
    from the metric's baseline period (``signals.entity_limits``)."""

    kind: Literal["ra_cusum"]
    odds_ratio: Annotated[float, Field(gt=0)]
    target_arl0: Annotated[float, Field(gt=1)] | None = None
    false_alarm_probability: Annotated[float, Field(gt=0, lt=1)] | None = None
    """In control, the probability that the entity's chart alarms within the horizon."""
    alert_false_alarm_probability: Annotated[float, Field(gt=0, lt=1)] | None = None
    """The same for the alert limit (larger: the alert comes first)."""
    horizon_days: Annotated[float, Field(gt=0)] = 365.0
    """The horizon of both probabilities, in days of event time; limits are recalibrated
    at the end of each."""
    _calibration: dict[str, Any] | None = PrivateAttr(default=None)

    @property
    def calibration(self) -> dict[str, Any] | None:
        """How ``alarm_h`` was calibrated from ``target_arl0`` (set when the config loads)."""
        return self._calibration

    def default_name(self) -> str:
        return f"ra_cusum_or{self.odds_ratio:g}"

    @model_validator(mode="after")
    def _check(self) -> RaCusumConfig:
        if self.odds_ratio == 1:
            raise ValueError("odds_ratio 1 detects no change: use > 1 (worse) or < 1 (better)")
        given = [name for name, value in (("alarm_h", self.alarm_h),
                                          ("target_arl0", self.target_arl0),
                                          ("false_alarm_probability",
                                           self.false_alarm_probability)) if value is not None]
        if len(given) > 1:
            raise ValueError(f"give one of alarm_h, target_arl0, false_alarm_probability, "
                             f"not {' and '.join(given)}")
        if self.false_alarm_probability is not None:
            if self.alert_h is not None:
                raise ValueError("with false_alarm_probability give "
                                 "alert_false_alarm_probability, not alert_h")
            alert = self.alert_false_alarm_probability
            if alert is not None and alert <= self.false_alarm_probability:
                raise ValueError("alert_false_alarm_probability must be above "
                                 "false_alarm_probability (the alert comes first)")
        elif self.alert_false_alarm_probability is not None:
            raise ValueError("alert_false_alarm_probability needs false_alarm_probability")
        elif self.target_arl0 is None:
            self.check_limits()
        return self

    @property
    def per_entity(self) -> bool:
        """Whether each entity's chart gets its own limits."""
        return self.false_alarm_probability is not None

    def build(self, context: BuildContext) -> RiskAdjustedCusum:
        if self.per_entity:
            alert = UNCALIBRATED / 2 if self.alert_false_alarm_probability else None
            return RiskAdjustedCusum(self.odds_ratio, UNCALIBRATED, alert)
        if self.alarm_h is None:
            raise ValueError(f"monitor {self.name}: target_arl0 has not been calibrated")
        return RiskAdjustedCusum(self.odds_ratio, self.alarm_h, self.alert_h)
