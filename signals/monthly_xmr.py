"""Making Data Count XmR rules on an entity's monthly aggregates, as an online monitor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from signals.crossing import Crossing, Direction, Level
from signals.monitor import FieldState
from signals.monitor_config import BuildContext, MonitorConfig
from signals.observations import MonthlyOutcome
from signals.xmr import SpecialCause, xmr_chart


@dataclass(slots=True)
class MonthlyXmr(FieldState):
    """Tallies observations by month; when a month is complete (the first observation of a
    later month arrives) it charts the completed months' values on an XmR chart and signals
    if the newest month is a special cause — an *alarm* for a point outside the limits, an
    *alert* for a trend, two-in-three or shift — naming the rule in ``last_rule``.

    Parameters
    ----------
    measure
        ``oe_ratio`` (Σy / Σp per month) or ``rate`` (Σy / n).
    min_months
        Months needed before the chart is judged (limits from fewer are unreliable).
    screen_outliers, higher_is_worse
        As for ``signals.xmr.xmr_chart``.

    Examples
    --------
    Eleven quiet months of 100 patients at 10% risk with 10 deaths, then one with 30:

    >>> chart = MonthlyXmr(min_months=6)
    >>> for month in range(1, 13):
    ...     deaths = 30 if month == 12 else 9 + month % 3
    ...     for i in range(100):
    ...         crossing = chart.update(MonthlyOutcome(int(i < deaths), 0.1, f"2024-{month:02d}"))
    >>> crossing = chart.update(MonthlyOutcome(0, 0.1, "2025-01"))
    >>> crossing.level.value, chart.last_rule, crossing.direction.value
    ('alarm', 'outside_limits', 'worse')
    """

    measure: Literal["oe_ratio", "rate"] = "oe_ratio"
    min_months: int = 12
    screen_outliers: bool = True
    higher_is_worse: bool = True
    months: dict[str, list[float]] = field(default_factory=dict)
    """month (YYYY-MM) → [n, observed, expected]."""
    current: str | None = None
    n: int = 0
    observed: int = 0
    expected: float = 0.0
    last_rule: str | None = None
    last_direction: Direction | None = None

    observation_type: ClassVar[type] = MonthlyOutcome
    two_sided: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.measure not in ("oe_ratio", "rate"):
            raise ValueError("measure must be 'oe_ratio' or 'rate'")
        if self.min_months < 3:
            raise ValueError("min_months must be at least 3")

    @property
    def statistic(self) -> None:
        """None: the chart is judged on whole months, not a running value."""
        return None

    @property
    def direction(self) -> Direction | None:
        """The direction of the latest special cause (the chart watches both)."""
        return self.last_direction

    def update(self, observation: MonthlyOutcome) -> Crossing | None:
        """Add one case to its month; judge the months before it once a later one starts."""
        y, p, month = observation
        crossing = None
        if self.current is not None and month > self.current:
            crossing = self._judge()
        if self.current is None or month > self.current:
            self.current = month
        tally = self.months.get(month)
        if tally is None:
            tally = self.months[month] = [0, 0, 0.0]
        tally[0] += 1
        tally[1] += y
        tally[2] += p
        self.n += 1
        self.observed += y
        self.expected += p
        return crossing

    def monthly_values(self) -> list[tuple[str, float]]:
        """(month, value) for every month with data, in order."""
        out = []
        for month in sorted(self.months):
            n, o, e = self.months[month]
            if self.measure == "rate":
                out.append((month, o / n))
            elif e > 0:
                out.append((month, o / e))
        return out

    def _judge(self) -> Crossing | None:
        values = [v for m, v in self.monthly_values() if m <= str(self.current)]
        if len(values) < self.min_months:
            return None
        chart = xmr_chart(values, self.screen_outliers, self.higher_is_worse)
        last = chart.points[-1]
        if last.rule is None or last.direction is None:
            return None
        self.last_rule = last.rule.value
        self.last_direction = last.direction
        if last.rule is SpecialCause.OUTSIDE_LIMITS:
            limit = chart.upper if last.value > chart.upper else chart.lower
            return Crossing(Level.ALARM, last.value, limit, last.direction)
        return Crossing(Level.ALERT, last.value, chart.mean, last.direction)


class XmrConfig(MonitorConfig):
    """Making Data Count XmR rules on the entity's monthly O/E ratio (or rate)."""

    kind: Literal["xmr"]
    measure: Literal["oe_ratio", "rate"] = "oe_ratio"
    min_months: Annotated[int, Field(ge=3)] = 12
    screen_outliers: bool = True

    def default_name(self) -> str:
        return f"xmr_{self.measure}"

    def build(self, context: BuildContext) -> MonthlyXmr:
        return MonthlyXmr(self.measure, self.min_months, self.screen_outliers)
