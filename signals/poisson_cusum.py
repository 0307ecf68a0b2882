"""Poisson CUSUM for event rates per unit of exposure (e.g. revisions per implant-year)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from signals.crossing import Crossing, Direction
from signals.cusum_step import check_limits, step
from signals.monitor import FieldState
from signals.monitor_config import BuildContext, CusumLimits
from signals.observations import Exposure


@dataclass(slots=True)
class PoissonCusum(FieldState):
    """A one-sided CUSUM of a Poisson count against a benchmark rate per unit exposure.

    For an interval with exposure ``E`` and ``X`` events the log-likelihood ratio of rate
    ``r·λ0`` against ``λ0`` is ``W = X·ln(r) − (r − 1)·λ0·E`` (Lucas 1985), and
    ``S = max(0, S + W)``, with the alert/alarm/excursion rules of
    :func:`signals.cusum_step.step`.

    **Exposure first, then events.** ``update`` applies ``W`` in two parts: the exposure term,
    clipped at 0, and then the events. In event time that is what happened: the interval's
    exposure accrued *before* the events that close it. With at most one event per update the
    chart is then exactly the continuous-time CUSUM of a Poisson process, sampled at updates,
    and it does not depend on how exposure is split between updates (extra updates with
    ``events=0`` only add check points):

    - ``r > 1`` (worse): ``S`` only rises at events, so checking at each event is exact, and
      an event after a quiet spell counts in full (the one-step ``max(0, S + W)`` would let a
      long gap cancel it);
    - ``r < 1`` (better): ``S`` rises with exposure and drops at events; the rise is checked
      before the drop, so a crossing reached between events is raised at the next update.

    For batched counts (``X > 1`` spread over the interval) this equals the textbook
    ``max(0, S + W)`` whenever the clip does not bind, and always for ``r < 1``.

    Parameters
    ----------
    benchmark_rate
        λ0: the expected events per unit exposure (e.g. revisions per implant-year), > 0.
    rate_ratio
        r: the rate multiple to detect; ``r > 1`` looks for worse, ``r < 1`` for better.
    alarm_h
        The alarm limit; on ``S ≥ alarm_h`` an alarm is raised and ``S`` resets to 0.
    alert_h
        Optional alert limit below ``alarm_h``, raised once per excursion.

    State: ``statistic`` (S), ``n`` (updates), ``events`` (ΣX), ``exposure`` (ΣE) and
    ``alerted``; ``expected`` is ``λ0·ΣE``. One update raises at most one crossing.

    Examples
    --------
    A device expected to need 1 revision per 100 implant-years, watched for a doubling; each
    update brings the revisions and implant-years since the previous one:

    >>> chart = PoissonCusum(benchmark_rate=0.01, rate_ratio=2.0, alert_h=2.0, alarm_h=3.0)
    >>> for events, exposure in [(1, 20.0), (1, 10.0), (1, 10.0), (0, 50.0), (1, 5.0),
    ...                          (1, 5.0), (1, 5.0)]:
    ...     crossing = chart.update(Exposure(events, exposure))
    ...     if crossing:
    ...         print(crossing.level.value, round(crossing.statistic, 3))
    alert 2.023
    alarm 3.309
    >>> chart.n, chart.events, chart.exposure, round(chart.expected, 2)
    (7, 6, 105.0, 1.05)
    >>> PoissonCusum.from_state(chart.to_state()) == chart
    True

    References
    ----------
    Lucas JM. Counted data CUSUM's. Technometrics 1985;27(2):129–144.
    """

    benchmark_rate: float
    rate_ratio: float
    alarm_h: float
    alert_h: float | None = None
    statistic: float = 0.0
    n: int = 0
    events: int = 0
    exposure: float = 0.0
    alerted: bool = False
    _log_r: float = field(init=False, repr=False, compare=False)
    _drift: float = field(init=False, repr=False, compare=False)
    _direction: Direction = field(init=False, repr=False, compare=False)

    observation_type: ClassVar[type] = Exposure
    two_sided: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not self.benchmark_rate > 0 or math.isinf(self.benchmark_rate):
            raise ValueError("benchmark_rate must be positive and finite")
        if self.rate_ratio <= 0 or self.rate_ratio == 1:
            raise ValueError("rate_ratio must be positive and not 1")
        check_limits(self.alarm_h, self.alert_h)
        self._log_r = math.log(self.rate_ratio)
        self._drift = (self.rate_ratio - 1.0) * self.benchmark_rate
        self._direction = Direction.WORSE if self.rate_ratio > 1 else Direction.BETTER

    @property
    def direction(self) -> Direction:
        """``worse`` for r > 1, ``better`` for r < 1."""
        return self._direction

    @property
    def observed(self) -> int:
        """The events so far, ``ΣX``."""
        return self.events

    @property
    def expected(self) -> float:
        """The expected events so far, ``λ0·ΣE``."""
        return self.benchmark_rate * self.exposure

    def update(self, observation: Exposure) -> Crossing | None:
        """Add ``events`` observed over ``exposure`` (both ≥ 0); return a crossing or None."""
        events, exposure = observation
        if events < 0 or int(events) != events:
            raise ValueError("events must be a non-negative integer")
        if not exposure >= 0 or math.isinf(exposure):
            raise ValueError("exposure must be non-negative and finite")
        self.n += 1
        self.events += events
        self.exposure += exposure
        alert_h, alarm_h = self.alert_h, self.alarm_h
        s, alerted, by_exposure = step(
            self.statistic, -self._drift * exposure, alert_h, alarm_h, self.alerted,
            self._direction,
        )
        s, alerted, by_events = step(s, events * self._log_r, alert_h, alarm_h, alerted,
                                     self._direction)
        self.statistic, self.alerted = s, alerted
        # Only one part can cross: exposure raises S only for r < 1, events only for r > 1.
        return by_exposure or by_events


class PoissonCusumConfig(CusumLimits):
    """A Poisson CUSUM on events against exposure (revisions against implant-years at risk);
    its in-control rate is the metric's benchmark."""

    kind: Literal["poisson_cusum"]
    rate_ratio: Annotated[float, Field(gt=0)]

    def default_name(self) -> str:
        return f"poisson_cusum_rr{self.rate_ratio:g}"

    @model_validator(mode="after")
    def _check(self) -> PoissonCusumConfig:
        if self.rate_ratio == 1:
            raise ValueError("rate_ratio 1 detects no change: use > 1 (worse) or < 1 (better)")
        self.check_limits()
        return self

    def build(self, context: BuildContext) -> PoissonCusum:
        assert self.alarm_h is not None
        if context.benchmark_rate is None:
            raise ValueError(f"monitor {self.name}: needs the metric's benchmark rate")
        return PoissonCusum(context.benchmark_rate, self.rate_ratio, self.alarm_h, self.alert_h)
