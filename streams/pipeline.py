"""The pipeline core that ``vigil replay`` and the streaming worker share.

It turns validated events into observations and observations into signals, holding no I/O
and no clock. Two stages, so that the worker can key each by what it needs:

1. ``Pipeline.observe(event, state)`` — the episode stage. It de-duplicates ``event_id``,
   joins a procedure with its outcome (held in ``state.pending`` until it arrives) and
   computes the predicted risk. It returns the complete observations.
2. ``Pipeline.apply(observation, state)`` — the entity stage. It updates every monitor of
   every entity the observation names, in order, and returns the signals raised.

``Pipeline.process(event, state)`` runs both, as replay does. Semantic rejections
(duplicate event, outcome for an unknown episode, missing risk factor, other registry) are
``InvalidEvent`` raised before any state changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from signals.crossing import Crossing
from signals.ra_cusum import RiskAdjustedCusum
from signals.risk_model import LogisticRiskModel
from streams.contract import (
    Event,
    InvalidEvent,
    OutcomeEvent,
    ProcedureEvent,
)
from streams.metric_config import BinaryOutcomeMetric, VigilConfig

Monitor = RiskAdjustedCusum
MonitorKey = tuple[str, str, str]
"""(metric, entity_type, entity_id): the unit of monitor state."""


@dataclass(frozen=True, slots=True)
class Observation:
    """One patient's complete record for one metric: outcome ``y`` and predicted risk ``p``.

    ``entities`` lists (entity_type, entity_id) pairs to update, in configured order.
    """

    metric: str
    y: int
    p: float
    entities: tuple[tuple[str, str], ...]
    event_id: str
    episode_id: str
    occurred_at: datetime
    provider: str


@dataclass(slots=True)
class PendingEpisode:
    """A procedure waiting for outcomes: one ``Observation`` skeleton per awaited metric."""

    event_id: str
    occurred_at: datetime
    provider: str
    awaiting: dict[str, tuple[str, float, tuple[tuple[str, str], ...]]]
    """metric name → (outcome name, predicted risk, entities)."""

    def to_state(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "occurred_at": self.occurred_at.isoformat(),
            "provider": self.provider,
            "awaiting": {m: [o, p, [list(e) for e in ents]] for m, (o, p, ents) in
                         self.awaiting.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PendingEpisode:
        awaiting = {
            m: (o, p, tuple((t, i) for t, i in ents)) for m, (o, p, ents) in
            state["awaiting"].items()
        }
        occurred_at = datetime.fromisoformat(state["occurred_at"])
        return cls(state["event_id"], occurred_at, state["provider"], awaiting)


@dataclass(slots=True)
class PipelineState:
    """Everything the pipeline remembers between events. Replay holds it in memory; the
    worker keeps the same pieces in faust tables."""

    seen_event_ids: set[str] = field(default_factory=set)
    pending: dict[str, PendingEpisode] = field(default_factory=dict)
    monitors: dict[MonitorKey, list[Monitor]] = field(default_factory=dict)


def signal_id(registry: str, metric: str, monitor: str, entity_type: str, entity_id: str,
              n: int, level: str) -> str:
    """A deterministic id: the same crossing gets the same id on every rerun and worker.

    >>> signal_id("r", "death_30d", "ra_cusum_or2", "provider", "RXF", 120, "alarm")
    'c038697ef8e76d0a9f767c3085ed6d9a'
    """
    key = "\x1f".join((registry, metric, monitor, entity_type, entity_id, str(n), level))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _feature_getter(path: str) -> Callable[[ProcedureEvent], Any]:
    root, name = path.split(".", 1)
    if root == "risk_factors":
        return lambda event: event.risk_factors.get(name)

    def get(event: ProcedureEvent) -> Any:
        section = getattr(event, root, None)
        return None if section is None else getattr(section, name, None)

    return get


@dataclass(frozen=True, slots=True)
class _BinaryOutcome:
    """A binary-outcome metric compiled for speed: its risk model and feature getters."""

    config: BinaryOutcomeMetric
    model: LogisticRiskModel
    features: tuple[tuple[str, Callable[[ProcedureEvent], Any]], ...]
    monitor_names: tuple[str, ...]

    def risk(self, event: ProcedureEvent) -> float:
        values = []
        for path, get in self.features:
            value = get(event)
            if value is None:
                raise InvalidEvent(
                    "missing_risk_factor",
                    f"{path} is required by the risk model of metric {self.config.name!r}",
                )
            if isinstance(value, str):
                raise InvalidEvent(
                    "invalid_risk_factor",
                    f"{path} must be a number or boolean for metric {self.config.name!r}",
                )
            values.append(float(value))
        return self.model.predict_ordered(values)

    def entities(self, event: ProcedureEvent) -> tuple[tuple[str, str], ...]:
        found: list[tuple[str, str]] = []
        for entity_type in self.config.entities:
            if entity_type == "provider":
                found.append(("provider", event.provider.ods_code))
            elif entity_type == "clinician" and event.clinician is not None:
                found.append(("clinician", event.clinician.gmc_number))
            elif entity_type == "device":
                found.extend(("device", d.gtin) for d in event.devices)
        return tuple(found)


class Pipeline:
    """The shared core, built from a validated ``VigilConfig``."""

    def __init__(self, config: VigilConfig) -> None:
        self.config = config
        self.registry = config.registry
        self._metrics = {
            m.name: _BinaryOutcome(
                m,
                m.risk_model.build(),
                tuple((path, _feature_getter(path)) for path in m.risk_model.coefficients),
                tuple(str(mon.name) for mon in m.monitors),
            )
            for m in config.metrics
        }

    # -- stage 1: episodes ---------------------------------------------------------------
    def observe(self, event: Event, state: PipelineState) -> list[Observation]:
        """Check the event against what has been seen and return complete observations."""
        if event.registry != self.registry:
            raise InvalidEvent(
                "wrong_registry",
                f"event is for registry {event.registry!r}; this config monitors "
                f"{self.registry!r}",
            )
        if event.event_id in state.seen_event_ids:
            raise InvalidEvent(
                "duplicate_event_id", f"event_id {event.event_id!r} was already seen"
            )
        if isinstance(event, ProcedureEvent):
            observations = self._procedure(event, state)
        elif isinstance(event, OutcomeEvent):
            observations = self._outcome(event, state)
        else:
            observations = []  # revisions and submissions feed later metric kinds
        state.seen_event_ids.add(event.event_id)
        return observations

    def _procedure(self, event: ProcedureEvent, state: PipelineState) -> list[Observation]:
        if event.episode_id in state.pending:
            raise InvalidEvent(
                "duplicate_episode", f"episode {event.episode_id!r} already has a procedure"
            )
        occurred_at = event.occurred_at
        provider = event.provider.ods_code
        observations: list[Observation] = []
        awaiting: dict[str, tuple[str, float, tuple[tuple[str, str], ...]]] = {}
        for name, metric in self._metrics.items():
            p = metric.risk(event)
            entities = metric.entities(event)
            outcome = event.outcomes.get(metric.config.outcome)
            if outcome is None:
                awaiting[name] = (metric.config.outcome, p, entities)
            else:
                observations.append(Observation(
                    name, int(outcome), p, entities, event.event_id, event.episode_id,
                    occurred_at, provider,
                ))
        if awaiting:
            state.pending[event.episode_id] = PendingEpisode(
                event.event_id, occurred_at, provider, awaiting
            )
        return observations

    def _outcome(self, event: OutcomeEvent, state: PipelineState) -> list[Observation]:
        episode = state.pending.get(event.episode_id)
        if episode is None:
            raise InvalidEvent(
                "unknown_episode",
                f"outcome for episode {event.episode_id!r}, which has no procedure awaiting "
                "an outcome",
            )
        completed = [
            (name, outcome_name, p, entities)
            for name, (outcome_name, p, entities) in episode.awaiting.items()
            if outcome_name in event.outcomes
        ]
        if not completed:
            awaited = sorted({o for o, _, _ in episode.awaiting.values()})
            raise InvalidEvent(
                "unexpected_outcome",
                f"episode {event.episode_id!r} awaits {', '.join(awaited)}; "
                f"got {', '.join(sorted(event.outcomes))}",
            )
        observations = []
        for name, outcome_name, p, entities in completed:
            del episode.awaiting[name]
            observations.append(Observation(
                name, int(event.outcomes[outcome_name]), p, entities, episode.event_id,
                event.episode_id, episode.occurred_at, episode.provider,
            ))
        if not episode.awaiting:
            del state.pending[event.episode_id]
        return observations

    # -- stage 2: entities ---------------------------------------------------------------
    def apply(self, observation: Observation, state: PipelineState) -> list[dict[str, Any]]:
        """Update every monitor of every entity the observation names; return signals."""
        metric = self._metrics[observation.metric]
        signals: list[dict[str, Any]] = []
        y, p = observation.y, observation.p
        for entity_type, entity_id in observation.entities:
            key = (observation.metric, entity_type, entity_id)
            monitors = state.monitors.get(key)
            if monitors is None:
                monitors = state.monitors[key] = [m.build() for m in metric.config.monitors]
            for index, monitor in enumerate(monitors):
                crossing = monitor.update(y, p)
                if crossing is not None:
                    signals.append(self._signal(
                        observation, metric, metric.monitor_names[index], monitor,
                        entity_type, entity_id, crossing,
                    ))
        return signals

    def process(self, event: Event, state: PipelineState) -> list[dict[str, Any]]:
        """Both stages, in stream order: what replay does with each event."""
        signals: list[dict[str, Any]] = []
        for observation in self.observe(event, state):
            signals.extend(self.apply(observation, state))
        return signals

    def _signal(self, observation: Observation, metric: _BinaryOutcome, monitor_name: str,
                monitor: Monitor, entity_type: str, entity_id: str,
                crossing: Crossing) -> dict[str, Any]:
        level = crossing.level.value
        return {
            "signal_id": signal_id(self.registry, observation.metric, monitor_name,
                                   entity_type, entity_id, monitor.n, level),
            "registry": self.registry,
            "metric": observation.metric,
            "monitor": monitor_name,
            "monitor_kind": "ra_cusum",
            "entity_type": entity_type,
            "entity_id": entity_id,
            "provider": observation.provider,
            "direction": monitor.direction.value,
            "level": level,
            "statistic": crossing.statistic,
            "threshold": crossing.threshold,
            "n": monitor.n,
            "event_id": observation.event_id,
            "episode_id": observation.episode_id,
            "occurred_at": observation.occurred_at.isoformat(),
            "observed": monitor.observed,
            "expected": monitor.expected,
            "risk_model_version": metric.model.version,
        }

    def restore_monitors(self, metric: str, states: list[dict[str, Any]]) -> list[Monitor]:
        """One entity's monitors of ``metric``, rebuilt from their ``to_state()`` dicts (the
        worker keeps them in a table between batches)."""
        built = [m.build() for m in self._metrics[metric].config.monitors]
        return [type(m).from_state(s) for m, s in zip(built, states, strict=True)]

    def monitor_records(self, state: PipelineState) -> Iterator[dict[str, Any]]:
        """The final state of every monitor, in a stable order."""
        for key in sorted(state.monitors):
            metric_name, entity_type, entity_id = key
            metric = self._metrics[metric_name]
            for name, monitor in zip(metric.monitor_names, state.monitors[key], strict=True):
                yield {
                    "registry": self.registry,
                    "metric": metric_name,
                    "monitor": name,
                    "monitor_kind": "ra_cusum",
                    "entity_type": entity_type,
                    "entity_id": entity_id,
                    "direction": monitor.direction.value,
                    "statistic": monitor.statistic,
                    "n": monitor.n,
                    "observed": monitor.observed,
                    "expected": monitor.expected,
                    "state": monitor.to_state(),
                }
