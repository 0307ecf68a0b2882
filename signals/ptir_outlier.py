"""An implant's NJR outlier status (Level 1 / Level 2) as a monitor that signals upgrades."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from signals.crossing import Crossing, Direction, Level
from signals.ptir import PtirComparison, compare_ptir, level1_candidate, level2_candidate


@dataclass(slots=True)
class PtirOutlier:
    """Watches a device's PTIR ratio against the benchmark and signals when it first becomes a
    Level 2 (alert) or Level 1 (alarm) candidate.

    Level 1: the ratio's lower confidence limit ≥ ``level1_ratio`` with at least
    ``min_primaries`` primaries (reported to the MHRA). Level 2: ≥ ``level2_ratio_few`` with
    fewer primaries, or ≥ ``level2_ratio_many`` with at least that many. The statistic of a
    crossing is the ratio's lower confidence limit.

    Examples
    --------
    >>> watch = PtirOutlier(benchmark_rate=0.015)
    >>> watch.update(revisions=3, implant_years=100.0, primaries=50) is None
    True
    >>> crossing = watch.update(revisions=30, implant_years=400.0, primaries=300)
    >>> crossing.level.value, round(crossing.statistic, 2), watch.last.ptir
    ('alarm', 3.37, 7.5)
    >>> watch.update(revisions=31, implant_years=401.0, primaries=300) is None  # raised once
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
    last: PtirComparison | None = None

    def __post_init__(self) -> None:
        if self.benchmark_rate <= 0:
            raise ValueError("benchmark_rate must be positive")
        if isinstance(self.last, dict):
            self.last = PtirComparison(**self.last)

    direction = Direction.WORSE

    def update(self, revisions: int, implant_years: float, primaries: int) -> Crossing | None:
        if implant_years <= 0:
            return None
        c = compare_ptir(revisions, implant_years, primaries, self.benchmark_rate,
                         self.confidence)
        self.last = c
        if level1_candidate(c, self.level1_ratio, self.min_primaries):
            level = 1
        elif level2_candidate(c, self.level2_ratio_few, self.level2_ratio_many,
                              self.min_primaries):
            level = 2
        else:
            return None
        if self.raised and self.raised <= level:
            return None
        self.raised = level
        if level == 1:
            return Crossing(Level.ALARM, c.ratio_lower, self.level1_ratio)
        few = primaries < self.min_primaries
        return Crossing(Level.ALERT, c.ratio_lower,
                        self.level2_ratio_few if few else self.level2_ratio_many)

    def to_state(self) -> dict[str, Any]:
        return {
            "benchmark_rate": self.benchmark_rate,
            "level1_ratio": self.level1_ratio,
            "min_primaries": self.min_primaries,
            "level2_ratio_few": self.level2_ratio_few,
            "level2_ratio_many": self.level2_ratio_many,
            "confidence": self.confidence,
            "raised": self.raised,
            "last": None if self.last is None else {
                f: getattr(self.last, f) for f in PtirComparison.__dataclass_fields__},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PtirOutlier:
        return cls(**state)
