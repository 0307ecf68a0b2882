"""A look-back pack's content: the case summary and the episodes of the excursion (pure).

:func:`build_pack` takes a :class:`~streams.lookback.trace.ChartTrace` and the signal (and,
optionally, the case it belongs to) and returns a :class:`LookBackPack`; nothing here reads
or writes a file (``streams.lookback.files`` renders it).

An episode is named only by the provider's own episode reference (``episode_id``): the
provider maps it to its patient with its own records. A pack holds no NHS number and no
ingest pseudonym; :data:`EPISODE_FIELDS` are the only per-episode fields it has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streams.contract.signal import Signal
from streams.lookback.excursion import excursion_start
from streams.lookback.trace import ChartPoint, ChartTrace

SCHEMA = "vigil.lookback/1"
EPISODE_FIELDS = ("position", "n", "occurred_at", "recorded_at", "episode_id",
                  "predicted_risk", "outcome", "contribution", "statistic")
"""The columns of ``episodes.csv``, in order: the episode's place in the excursion (1 = its
first), the chart's case count, event time, the provider's episode reference, predicted risk,
outcome (1 = the event happened), its contribution to the statistic (CUSUM weight ``W``,
VLAD ``p − y``) and the running statistic after it."""

CONTRIBUTION = {"ra_cusum": "CUSUM log-likelihood-ratio weight W = y·ln R − ln(1 − p + R·p)",
                "bernoulli_cusum": "CUSUM weight W = y·ln R − ln(1 − p0 + R·p0)",
                "vlad": "VLAD step p − y (expected minus observed)"}


@dataclass(frozen=True, slots=True)
class PackEpisode:
    """One row of the episode table (see :data:`EPISODE_FIELDS`)."""

    position: int
    n: int
    occurred_at: datetime
    recorded_at: datetime
    episode_id: str | None
    predicted_risk: float
    outcome: int
    contribution: float
    statistic: float

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "n": self.n,
                "occurred_at": self.occurred_at.isoformat(),
                "recorded_at": self.recorded_at.isoformat(), "episode_id": self.episode_id,
                "predicted_risk": self.predicted_risk, "outcome": self.outcome,
                "contribution": self.contribution, "statistic": self.statistic}


@dataclass(frozen=True, slots=True)
class LookBackPack:
    """The pack: ``summary`` (JSON-ready), the excursion's ``episodes`` and the chart's
    ``points`` (its whole history up to the signal, for the figure)."""

    summary: dict[str, Any]
    episodes: tuple[PackEpisode, ...]
    points: tuple[ChartPoint, ...] = field(repr=False)
    excursion_index: int = 0
    """Index in ``points`` of the excursion's first observation."""

    @property
    def pack_id(self) -> str:
        return str(self.summary["pack_id"])

    def to_json_dict(self) -> dict[str, Any]:
        """``pack.json``: the summary and the episodes."""
        return {"schema": SCHEMA, **self.summary,
                "episodes": [e.as_dict() for e in self.episodes]}


class NoSuchSignal(LookupError):
    """The trace has no point where the signal was raised."""


def _ratio(observed: float | None, expected: float | None) -> float | None:
    if observed is None or not expected:
        return None
    return observed / expected


def build_pack(trace: ChartTrace, signal: Signal, case: dict[str, Any] | None = None
               ) -> LookBackPack:
    """The pack for ``signal`` from its chart's trace; ``case`` (``Case.to_dict()``) adds
    the case reference, level and status.

    >>> from streams.bundled_samples import sample_paths
    >>> from streams.contract.pseudonym import Pseudonymiser
    >>> from streams.pipeline.config import load_config
    >>> from streams.pipeline.core import Pipeline
    >>> from streams.pipeline.replay import canonical_events
    >>> from streams.lookback.trace import ChartKey, trace_chart
    >>> events_path, config_path = sample_paths()
    >>> pipeline = Pipeline(load_config(config_path))
    >>> with events_path.open("rb") as lines:
    ...     events = canonical_events(lines, Pseudonymiser.ephemeral())
    >>> key = ChartKey("death_30d", "provider", "R1B", "ra_cusum_or2")
    >>> trace = trace_chart(events, pipeline, key)
    >>> signal = trace.signals[1]
    >>> signal.level.value, signal.n
    ('alarm', 58)
    >>> pack = build_pack(trace, signal)
    >>> pack.episodes[-1].n == signal.n, pack.episodes[-1].statistic == signal.statistic
    (True, True)
    >>> round(sum(e.contribution for e in pack.episodes), 9) == round(signal.statistic, 9)
    True
    """
    index = next((i for i, point in enumerate(trace.points) if point.n == signal.n), None)
    if index is None:
        raise NoSuchSignal(f"chart {'/'.join(trace.key)} has no observation {signal.n}")
    start = excursion_start(trace.points, index, trace.monitor_kind)
    points = tuple(trace.points[:index + 1])
    episodes = tuple(
        PackEpisode(position, p.n, p.occurred_at, p.recorded_at, p.episode_id, p.p, p.y, p.weight,
                    p.statistic)
        for position, p in enumerate(points[start:], start=1))
    first, last = points[start], points[index]
    observed = float(sum(e.outcome for e in episodes))
    expected = float(sum(e.predicted_risk for e in episodes))
    case = case or {}
    summary: dict[str, Any] = {
        "pack_id": f"lookback-{case.get('case_id') or signal.signal_id}",
        "case_id": case.get("case_id"),
        "case_status": case.get("status"),
        "signal_id": signal.signal_id,
        "registry": signal.registry,
        "metric": signal.metric,
        "entity_type": signal.entity_type,
        "entity_id": signal.entity_id,
        "provider": signal.provider,
        "monitor": signal.monitor,
        "monitor_kind": signal.monitor_kind,
        "direction": signal.direction.value,
        "level": signal.level.value,
        "statistic": signal.statistic,
        "limit": signal.threshold,
        "n": signal.n,
        "observed": signal.observed,
        "expected": signal.expected,
        "observed_over_expected": _ratio(signal.observed, signal.expected),
        "excursion": {
            "start": first.occurred_at.isoformat(),
            "signal": last.occurred_at.isoformat(),
            "start_recorded": first.recorded_at.isoformat(),
            "signal_recorded": last.recorded_at.isoformat(),
            "episodes": len(episodes),
            "observed": observed,
            "expected": expected,
            "observed_over_expected": _ratio(observed, expected),
            "definition": ("from the observation after the chart last stood at its "
                           "running maximum (VLAD) to the signal" if trace.monitor_kind == "vlad"
                           else "from the observation after the statistic last stood at 0 "
                                "to the signal"),
        },
        "contribution": CONTRIBUTION[trace.monitor_kind],
        "risk_model_version": signal.risk_model_version or trace.risk_model_version,
        "identifiers": ("episodes are named by the provider's own episode reference "
                        "(episode_id) only; the provider maps them to its patients"),
    }
    return LookBackPack(summary, episodes, points, start)
