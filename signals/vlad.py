"""Variable life-adjusted display (VLAD): cumulative expected minus observed events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from signals.crossing import Crossing, Direction, Level
from signals.monitor import FieldState
from signals.monitor_config import BuildContext, MonitorConfig
from signals.observations import Outcome

# Which band the value is in: above every limit, at/below the alert limit, at/below the alarm.
_CLEAR, _ALERT, _ALARM = 0, 1, 2


@dataclass(slots=True)
class Vlad(FieldState):
    """The running sum of ``p − y``: "statistical lives saved" against the risk model.

    Each case adds its predicted risk ``p`` and subtracts its outcome ``y`` (1 = death or
    other adverse event), so the line rises while outcomes are better than predicted and falls
    while they are worse. VLAD is a display first; it has no limit of its own. Limits can be
    configured (negative numbers, in events) to turn a deep fall into a signal.

    Parameters
    ----------
    alert_below
        Optional alert limit (< 0). An alert is raised when the value first reaches
        ``value ≤ alert_below`` in a run below it; the run ends when the value rises above.
    alarm_below
        Optional alarm limit (< 0, below ``alert_below`` when both are set); same rule.

    One update raises at most one crossing, the highest level newly entered. The value never
    resets: after an alarm, another is raised only after the value has climbed back above
    ``alarm_below`` and fallen to it again. Signals are always ``worse``.

    State: ``value``, ``n`` (cases), ``observed`` (Σy), ``expected`` (Σp) and ``band`` (0 above
    every limit, 1 at or below the alert limit, 2 at or below the alarm limit).

    Examples
    --------
    Reference steps from cran/vlad: Parsonnet 0 and 50 under ``logit p = −3.68 + 0.077·s``,
    each survived then died, move the VLAD by ``−(y − p)``:

    >>> import math
    >>> risks = [1 / (1 + math.exp(3.68 - 0.077 * s)) for s in (0, 50)]
    >>> steps = []
    >>> for p in risks:
    ...     for y in (0, 1):
    ...         chart = Vlad()
    ...         _ = chart.update(Outcome(y, p))
    ...         steps.append(round(chart.value, 3))
    >>> steps
    [0.025, -0.975, 0.542, -0.458]

    With limits, deaths among low-risk patients pull the line down to an alert, then an alarm:

    >>> chart = Vlad(alert_below=-2.0, alarm_below=-3.0)
    >>> for case in range(1, 5):
    ...     crossing = chart.update(Outcome(1, 0.1))
    ...     if crossing:
    ...         print(case, crossing.level.value, round(crossing.statistic, 2))
    3 alert -2.7
    4 alarm -3.6
    >>> chart.n, chart.observed, round(chart.expected, 2)
    (4, 4, 0.4)
    >>> Vlad.from_state(chart.to_state()) == chart
    True

    References
    ----------
    Lovegrove J, Valencia O, Treasure T, Sherlaw-Johnson C, Gallivan S. Monitoring the results
    of cardiac surgery by variable life-adjusted display. Lancet 1997;350:1128–1130.
    Wittenberg P, Knoth S. vlad: Variable Life Adjusted Display (R package), cran/vlad.
    """

    alert_below: float | None = None
    alarm_below: float | None = None
    value: float = 0.0
    n: int = 0
    observed: int = 0
    expected: float = 0.0
    band: int = _CLEAR

    observation_type: ClassVar[type] = Outcome
    two_sided: ClassVar[bool] = False

    def __post_init__(self) -> None:
        for name in ("alert_below", "alarm_below"):
            limit = getattr(self, name)
            if limit is not None and not limit < 0:
                raise ValueError(f"{name} must be negative")
        if (
            self.alert_below is not None
            and self.alarm_below is not None
            and not self.alarm_below < self.alert_below
        ):
            raise ValueError("alarm_below must lie below alert_below")
        if self.band not in (_CLEAR, _ALERT, _ALARM):
            raise ValueError("band must be 0, 1 or 2")

    @property
    def direction(self) -> Direction:
        """Always ``worse``: VLAD's limits sit below zero."""
        return Direction.WORSE

    @property
    def statistic(self) -> float:
        """The display's value, cumulative expected − observed."""
        return self.value

    def update(self, observation: Outcome) -> Crossing | None:
        """Add one case with outcome ``y`` and predicted risk ``p``; return a crossing or None."""
        y, p = observation
        self.n += 1
        self.observed += y
        self.expected += p
        v = self.value + p - y
        self.value = v
        alarm, alert = self.alarm_below, self.alert_below
        if alarm is not None and v <= alarm:
            band = _ALARM
        elif alert is not None and v <= alert:
            band = _ALERT
        else:
            band = _CLEAR
        entered = band > self.band
        self.band = band
        if not entered:
            return None
        if band == _ALARM:
            return Crossing(Level.ALARM, v, alarm, Direction.WORSE)  # type: ignore[arg-type]
        return Crossing(Level.ALERT, v, alert, Direction.WORSE)  # type: ignore[arg-type]


class VladConfig(MonitorConfig):
    """Variable life-adjusted display in a metric config; no limit unless one is set."""

    kind: Literal["vlad"]
    alert_below: Annotated[float, Field(lt=0)] | None = None
    alarm_below: Annotated[float, Field(lt=0)] | None = None

    @model_validator(mode="after")
    def _check(self) -> VladConfig:
        if (self.alert_below is not None and self.alarm_below is not None
                and self.alarm_below >= self.alert_below):
            raise ValueError("alarm_below must be below alert_below")
        return self

    def build(self, context: BuildContext) -> Vlad:
        return Vlad(self.alert_below, self.alarm_below)
