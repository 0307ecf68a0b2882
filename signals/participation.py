"""Case ascertainment: a provider that submits too few of its expected cases is an outlier."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from signals.crossing import Crossing, Direction, Level
from signals.monitor import FieldState
from signals.observations import Submission

_RANK = {None: 0, Level.ALERT: 1, Level.ALARM: 2}


@dataclass(slots=True)
class CaseAscertainment(FieldState):
    """Submitted cases against expected cases (e.g. from HES), per provider and period.

    ``ratio = submitted / expected``. A period is an *alarm* if ``ratio < alarm_below`` and an
    *alert* if ``ratio < alert_below``; the direction is always ``worse`` (non-participation
    is a negative outlier). Submissions for a period may be revised: a later update for the
    same period *replaces* the earlier one, and a crossing is raised only when the period's
    level becomes worse than the level already raised for it (alert, then alarm; never the
    same level twice, and nothing when a resubmission improves it).

    Parameters
    ----------
    alert_below
        Alert when ascertainment falls below this fraction (default 0.8).
    alarm_below
        Alarm when it falls below this fraction (default 0.6), below ``alert_below``.

    State: ``periods``, a dict ``period → {"submitted", "expected", "raised"}`` (``raised`` is
    the highest level signalled for that period, or ``None``), and ``last_ratio`` (the ratio
    of the latest update). A period with no expected cases has no ratio and never signals.

    Examples
    --------
    >>> provider = CaseAscertainment(alert_below=0.8, alarm_below=0.6)
    >>> provider.update(Submission("2024-01", submitted=95, expected=100)) is None
    True
    >>> provider.update(Submission("2024-02", submitted=70, expected=100)).level.value
    'alert'
    >>> provider.update(Submission("2024-02", 50, 100))[:3]  # resubmitted, and worse
    (<Level.ALARM: 'alarm'>, 0.5, 0.6)
    >>> provider.update(Submission("2024-02", 40, 100)) is None  # alarm already raised
    True
    >>> provider.n, provider.below_count, provider.last_ratio
    (2, 1, 0.4)
    >>> CaseAscertainment.from_state(provider.to_state()) == provider
    True
    """

    alert_below: float = 0.8
    alarm_below: float = 0.6
    periods: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_ratio: float | None = None

    observation_type: ClassVar[type] = Submission
    two_sided: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not 0 < self.alarm_below < self.alert_below:
            raise ValueError("need 0 < alarm_below < alert_below")
        # A copy, so a state dict passed in is never changed; from_state() gives plain strings.
        self.periods = {
            period: {
                "submitted": record["submitted"],
                "expected": record["expected"],
                "raised": None if record["raised"] is None else Level(record["raised"]),
            }
            for period, record in self.periods.items()
        }

    @property
    def direction(self) -> Direction:
        """Always ``worse``."""
        return Direction.WORSE

    @property
    def n(self) -> int:
        """Periods seen."""
        return len(self.periods)

    @property
    def observed(self) -> float:
        """Cases submitted over every period."""
        return sum(r["submitted"] for r in self.periods.values())

    @property
    def expected(self) -> float:
        """Cases expected over every period."""
        return sum(r["expected"] for r in self.periods.values())

    @property
    def statistic(self) -> float | None:
        """The latest period's ascertainment (submitted / expected)."""
        return self.last_ratio

    @property
    def below_count(self) -> int:
        """Periods whose current ascertainment is below ``alert_below``."""
        limit = self.alert_below
        return sum(
            1
            for record in self.periods.values()
            if record["expected"] > 0 and record["submitted"] / record["expected"] < limit
        )

    def update(self, observation: Submission) -> Crossing | None:
        """Set ``period``'s submitted and expected counts; return a crossing or None."""
        period, submitted, expected = observation
        if not isinstance(period, str):
            raise TypeError("period must be a string (it becomes a JSON key)")
        if submitted < 0 or expected < 0:
            raise ValueError("submitted and expected must not be negative")
        record = self.periods.setdefault(
            period, {"submitted": submitted, "expected": expected, "raised": None}
        )
        record["submitted"], record["expected"] = submitted, expected
        if expected == 0:
            self.last_ratio = None
            return None
        ratio = submitted / expected
        self.last_ratio = ratio
        if ratio < self.alarm_below:
            crossing = Crossing(Level.ALARM, ratio, self.alarm_below, Direction.WORSE)
        elif ratio < self.alert_below:
            crossing = Crossing(Level.ALERT, ratio, self.alert_below, Direction.WORSE)
        else:
            return None
        if _RANK[crossing.level] <= _RANK[record["raised"]]:
            return None
        record["raised"] = crossing.level
        return crossing
