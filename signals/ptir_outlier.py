"""An implant's NJR outlier status (Level 1 / Level 2) as a monitor that signals upgrades."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from signals.crossing import Crossing, Direction, Level
from signals.monitor import FieldState
from signals.observations import ImplantTally
from signals.ptir import PtirComparison, compare_ptir, poisson_count_interval


@dataclass(slots=True)
class PtirOutlier(FieldState):
    """Watches a device's PTIR ratio against the benchmark and signals when it first becomes a
    Level 2 (alert) or Level 1 (alarm) candidate.

    Level 1: the ratio's lower confidence limit ≥ ``level1_ratio`` with at least
    ``min_primaries`` primaries (reported to the MHRA). Level 2: ≥ ``level2_ratio_few`` with
    fewer primaries, or ≥ ``level2_ratio_many`` with at least that many. The statistic of a
    crossing is the ratio's lower confidence limit.

    Examples
    --------
    >>> watch = PtirOutlier(benchmark_rate=0.015)
    >>> watch.update(ImplantTally(revisions=3, implant_years=100.0, primaries=50)) is None
    True
    >>> crossing = watch.update(ImplantTally(revisions=30, implant_years=400.0, primaries=300))
    >>> crossing.level.value, round(crossing.statistic, 2), watch.comparison().ptir
    ('alarm', 3.37, 7.5)
    >>> watch.update(ImplantTally(31, 401.0, 300)) is None  # raised once
    True
    """

    benchmark_rate: float
    """Benchmark revisions per implant-year (PTIR benchmark / 100)."""
    level1_ratio: float = 2.0
    min_primaries: int = 100
    level2_ratio_few: float = 2.0
    level2_ratio_many: float = 1.5
    confidence: float = 0.95
    raised: int = 0
    """0 nothing raised, 2 Level 2 raised, 1 Level 1 raised."""
    revisions: int = 0
    implant_years: float = 0.0
    primaries: int = 0
    _lower_for: tuple[int, float] = field(default=(-1, 0.0), init=False, repr=False,
                                          compare=False)

    def __post_init__(self) -> None:
        if self.benchmark_rate <= 0:
            raise ValueError("benchmark_rate must be positive")

    observation_type: ClassVar[type] = ImplantTally
    two_sided: ClassVar[bool] = False
    direction: ClassVar[Direction] = Direction.WORSE

    @property
    def n(self) -> int:
        """Primary implants so far."""
        return self.primaries

    @property
    def observed(self) -> int:
        """Revisions so far."""
        return self.revisions

    @property
    def expected(self) -> float:
        """Revisions expected at the benchmark rate."""
        return self.benchmark_rate * self.implant_years

    @property
    def statistic(self) -> float | None:
        """The lower confidence limit of the PTIR ratio (None before any implant-years)."""
        c = self.comparison()
        return None if c is None else c.ratio_lower

    def comparison(self) -> PtirComparison | None:
        """The latest PTIR comparison with its exact confidence interval."""
        if self.implant_years <= 0:
            return None
        return compare_ptir(self.revisions, self.implant_years, self.primaries,
                            self.benchmark_rate, self.confidence)

    def update(self, observation: ImplantTally) -> Crossing | None:
        """Take the device's latest totals; signal a first Level 2 or Level 1 candidacy."""
        revisions, implant_years, primaries = observation
        self.revisions, self.implant_years, self.primaries = revisions, implant_years, primaries
        if implant_years <= 0 or self.raised == 1:
            return None  # Level 1 is the highest: once raised, there is nothing more to say
        # The lower confidence limit never exceeds the point ratio: skip the exact interval
        # (two chi-square quantiles) while the point ratio is below every level.
        floor = self.level1_ratio if self.raised == 2 else min(
            self.level1_ratio, self.level2_ratio_few, self.level2_ratio_many)
        if revisions < floor * self.benchmark_rate * implant_years:
            return None
        # The lower limit of the count depends on the count alone: compute it once per count.
        if self._lower_for[0] != revisions:
            lower, _ = poisson_count_interval(revisions, self.confidence)
            self._lower_for = (revisions, lower)
        ratio_lower = self._lower_for[1] / (self.benchmark_rate * implant_years)
        many = primaries >= self.min_primaries
        if many and ratio_lower >= self.level1_ratio:
            level, threshold = 1, self.level1_ratio
        elif ratio_lower >= (self.level2_ratio_many if many else self.level2_ratio_few):
            level = 2
            threshold = self.level2_ratio_many if many else self.level2_ratio_few
        else:
            return None
        if self.raised and self.raised <= level:
            return None
        self.raised = level
        return Crossing(Level.ALARM if level == 1 else Level.ALERT, ratio_lower, threshold,
                        Direction.WORSE)
