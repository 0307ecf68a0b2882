"""Control limits per entity, for a false-alarm probability over a horizon.

A fixed ``h`` gives every chart the same in-control ARL in *patients*, so a large trust
expects false alarms every few years and a small clinician almost never. Here each chart's
limit is set for its own volume and case mix (as Imperial College's mortality alerts do):
``h`` such that, in control, ``P(the chart alarms within the horizon) = α``, the horizon
being the number of patients the entity is expected to treat in ``horizon_days``.

The entity's mix is kept as a histogram of predicted risks (:class:`RiskMix`: 100 bins of
width 0.01, each holding its count and the sum of its risks, so a bin stands for its mean
risk); its volume is the count in the baseline period scaled to the horizon. An entity
with fewer than ``min_cases`` baseline cases is calibrated on ``min_cases`` patients of its
own mix (a documented floor: such a chart is, if anything, conservative).

>>> mix = RiskMix()
>>> for p in (0.02, 0.05, 0.05, 0.2):
...     mix.add(p)
>>> mix.count, [round(r, 3) for r in mix.risks()[0]]
(4, [0.02, 0.05, 0.2])
>>> limit = entity_limit(0.1, 200, 2.0, mix, grid=200)
>>> round(limit.h, 2), round(limit.achieved, 3), limit.patients
(3.25, 0.1, 200)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

BINS = 100


@dataclass(slots=True)
class RiskMix:
    """A case mix: counts and summed risks in 100 bins of predicted risk."""

    counts: list[int] = field(default_factory=lambda: [0] * BINS)
    sums: list[float] = field(default_factory=lambda: [0.0] * BINS)

    @property
    def count(self) -> int:
        return sum(self.counts)

    def add(self, p: float) -> None:
        index = min(BINS - 1, int(p * BINS))
        self.counts[index] += 1
        self.sums[index] += p

    def risks(self) -> tuple[list[float], list[int]]:
        """The mix as (risk, weight) pairs: each non-empty bin's mean risk and count."""
        pairs = [(s / c, c) for c, s in zip(self.counts, self.sums, strict=True) if c]
        return [p for p, _ in pairs], [c for _, c in pairs]

    def to_state(self) -> dict[str, Any]:
        used = [i for i, c in enumerate(self.counts) if c]
        return {"bins": used, "counts": [self.counts[i] for i in used],
                "sums": [self.sums[i] for i in used]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RiskMix:
        mix = cls()
        for i, c, s in zip(state["bins"], state["counts"], state["sums"], strict=True):
            mix.counts[i], mix.sums[i] = c, s
        return mix


class EntityLimit(NamedTuple):
    """A chart's limit and what it achieves: ``achieved`` is the in-control probability
    of an alarm within ``patients`` (the horizon's expected volume) at ``h``."""

    h: float
    target: float
    achieved: float
    patients: int


def entity_limit(alpha: float, patients: int, odds_ratio: float, mix: RiskMix,
                 grid: int = 300) -> EntityLimit:
    """The limit of a risk-adjusted CUSUM tuned to ``odds_ratio`` for in-control
    false-alarm probability ``alpha`` within ``patients`` patients of ``mix``."""
    from signals.calibration import h_for_false_signal_probability
    from signals.cusum_increments import bernoulli_increments
    from signals.false_signal import signal_probability_of_increments

    risks, weights = mix.risks()
    patients = max(1, patients)
    h = h_for_false_signal_probability(alpha, patients, odds_ratio, risks, weights, grid=grid)
    achieved = signal_probability_of_increments(
        bernoulli_increments(odds_ratio, risks, weights), h, patients, grid)
    return EntityLimit(h, alpha, float(achieved), patients)
