"""The pipeline core that ``vigil replay`` and the streaming worker share.

It turns validated events into observations and observations into signals, holding no I/O
and no clock. Two stages, so that the worker can key each by what it needs:

1. ``Pipeline.observe(event, state)`` — the episode stage. It de-duplicates ``event_id``
   within the event's route (its episode; ``streams.pipeline.order.route_of``), joins a
   procedure with its outcomes whichever comes first (a procedure waits in
   ``state.pending``; an outcome that comes first waits in ``state.orphans`` for
   ``join_window`` of event time, then ``Pipeline.expire`` rejects it as
   ``unknown_episode``), computes predicted risks, and turns implants, revisions and
   submissions into observations.
2. ``Pipeline.apply(observation, state)`` — the entity stage. It updates the state of every
   entity the observation names (``state.entities``, keyed by metric, entity type and id),
   in order, through the metric kind's monitors, and returns the signals raised.

``Pipeline.process(event, state)`` runs both, as replay does. Semantic rejections
(duplicate event, outcome for an unknown episode, missing risk factor, other registry) are
``InvalidEvent`` raised before any state changes; an orphaned outcome rejected later is
put in ``state.rejected`` for the shell to report. Both shells feed events in the canonical
order (``streams.pipeline.order``), so both give the same answer. What each metric kind
does lives in ``streams.pipeline.metric_kinds`` (the contract:
``metric_kinds.base.MetricKind``; the list: ``streams.pipeline.registry.metrics``); the
statistics in ``signals``.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from signals.observations import Outcome
from streams.contract.events import Event, InvalidEvent, OutcomeEvent, ProcedureEvent
from streams.contract.signal import Signal
from streams.pipeline.config import VigilConfig
from streams.pipeline.metric_kinds.base import Awaiting, Finding, MetricKind, Observation
from streams.pipeline.metric_kinds.binary_outcome import BinaryOutcome
from streams.pipeline.order import route_of, to_us
from streams.pipeline.registry.metrics import METRICS

JOIN_WINDOW = timedelta(days=30)
"""How long (in event time) an outcome that comes before its procedure waits for it, by
default (setting ``VIGIL_JOIN_WINDOW_DAYS``)."""

EntityKey = tuple[str, str, str]
"""(metric, entity_type, entity_id): the unit of entity state."""


@dataclass(slots=True)
class PendingEpisode:
    """A procedure waiting for outcomes: per awaited metric, what its observation needs."""

    event_id: str
    occurred_at: datetime
    provider: str
    awaiting: dict[str, Awaiting]
    """metric name → the observation waiting for its outcome."""

    def to_state(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "occurred_at": self.occurred_at.isoformat(),
            "provider": self.provider,
            "awaiting": {m: [a.outcome, a.risk, [list(e) for e in a.entities]]
                         for m, a in self.awaiting.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PendingEpisode:
        awaiting = {m: Awaiting(m, o, p, tuple((t, i) for t, i in ents))
                    for m, (o, p, ents) in state["awaiting"].items()}
        occurred_at = datetime.fromisoformat(state["occurred_at"])
        return cls(state["event_id"], occurred_at, state["provider"], awaiting)


class Orphan(NamedTuple):
    """An outcome that came before its procedure, waiting for it; ``ref`` is where the
    shell read it (a line number, a Kafka source), for the rejection if it never comes."""

    event_id: str
    occurred_at: datetime
    outcomes: dict[str, Any]
    ref: Any = None

    def to_state(self) -> list[Any]:
        return [self.event_id, self.occurred_at.isoformat(), self.outcomes, self.ref]

    @classmethod
    def from_state(cls, state: list[Any]) -> Orphan:
        event_id, occurred_at, outcomes, ref = state
        return cls(event_id, datetime.fromisoformat(occurred_at), outcomes, ref)


@dataclass(slots=True)
class PipelineState:
    """Everything the pipeline remembers between events. Replay holds it in memory; the
    worker keeps the same pieces in faust tables."""

    seen_event_ids: set[str] = field(default_factory=set)
    """``seen_key(event)`` of every event accepted: its route and its id."""
    pending: dict[str, PendingEpisode] = field(default_factory=dict)
    entities: dict[EntityKey, Any] = field(default_factory=dict)
    """Each entity's state, of its metric kind's own type."""
    orphans: dict[str, list[Orphan]] = field(default_factory=dict)
    """episode id → outcomes waiting for its procedure, in the order they came."""
    orphan_expiry: list[tuple[int, str, str]] = field(default_factory=list)
    """A heap of (microseconds of event time past which it is rejected, episode id,
    event id) per orphan."""
    rejected: list[tuple[Orphan, InvalidEvent]] = field(default_factory=list)
    """Orphans rejected since the shell last looked (it empties the list)."""


def seen_key(event: Event) -> str:
    """What de-duplication remembers of an event: an ``event_id`` is unique within its
    route (an episode), so both shells catch a copy wherever the worker reads it.

    >>> class Outcome: event_id, episode_id = "o1", "ep1"
    >>> seen_key(Outcome())
    'episode:ep1\\x1fo1'
    """
    return f"{route_of(event)}\x1f{event.event_id}"


def signal_id(registry: str, metric: str, monitor: str, entity_type: str, entity_id: str,
              n: int, level: str) -> str:
    """A deterministic id: the same crossing gets the same id on every rerun and worker.

    >>> signal_id("r", "death_30d", "ra_cusum_or2", "provider", "RXF", 120, "alarm")
    'c038697ef8e76d0a9f767c3085ed6d9a'
    """
    key = "\x1f".join((registry, metric, monitor, entity_type, entity_id, str(n), level))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class Pipeline:
    """The shared core, built from a validated ``VigilConfig``."""

    def __init__(self, config: VigilConfig, join_window: timedelta = JOIN_WINDOW) -> None:
        self.config = config
        self.registry = config.registry
        self.join_window_us = join_window // timedelta(microseconds=1)
        self.kinds: dict[str, MetricKind] = {
            m.name: METRICS[m.kind].compile(m) for m in config.metrics
        }
        self._consumers: dict[str, list[MetricKind]] = {}
        for kind in self.kinds.values():
            for event_type in kind.consumes:
                self._consumers.setdefault(event_type, []).append(kind)

    def feature_values(self, metric: str, event: ProcedureEvent) -> dict[str, Any]:
        """A procedure's values of the features of ``metric``'s risk model, by dotted path,
        as the pipeline reads them (``InvalidEvent`` if one is missing)."""
        kind = self.kinds[metric]
        if not isinstance(kind, BinaryOutcome):
            raise TypeError(f"metric {metric!r} has no risk model")
        return dict(zip(kind.model.feature_paths(), kind.feature_values(event), strict=True))

    # -- stage 1: episodes ---------------------------------------------------------------
    def observe(self, event: Event, state: PipelineState, ref: Any = None
                ) -> list[Observation]:
        """Check the event against what has been seen and return complete observations;
        ``ref`` says where the shell read it (kept with an outcome that waits)."""
        if event.registry != self.registry:
            raise InvalidEvent(
                "wrong_registry",
                f"event is for registry {event.registry!r}; this config monitors "
                f"{self.registry!r}",
            )
        seen = seen_key(event)
        if seen in state.seen_event_ids:
            raise InvalidEvent(
                "duplicate_event_id", f"event_id {event.event_id!r} was already seen"
            )
        if isinstance(event, OutcomeEvent):
            observations = self._outcome(event, state, ref)
        else:
            observations = self._observe(event, state)
        state.seen_event_ids.add(seen)
        return observations

    def expire(self, now_us: int, state: PipelineState) -> None:
        """Reject (into ``state.rejected``) each waiting outcome whose procedure did not
        come within ``join_window`` of event time before ``now_us``."""
        expiry = state.orphan_expiry
        while expiry and expiry[0][0] < now_us:
            _, episode_id, event_id = heapq.heappop(expiry)
            waiting = state.orphans.get(episode_id)
            if not waiting:
                continue
            kept = [o for o in waiting if o.event_id != event_id]
            for orphan in waiting:
                if orphan.event_id == event_id:
                    state.rejected.append((orphan, InvalidEvent(
                        "unknown_episode",
                        f"outcome for episode {episode_id!r}, which has no procedure "
                        "awaiting an outcome",
                    )))
            if kept:
                state.orphans[episode_id] = kept
            else:
                del state.orphans[episode_id]

    def _observe(self, event: Event, state: PipelineState) -> list[Observation]:
        """Every consuming metric kind's observations of a procedure, revision or submission;
        a procedure's awaited outcomes are held in ``state.pending``, and the outcomes
        that came before it complete them now."""
        if isinstance(event, ProcedureEvent) and event.episode_id in state.pending:
            raise InvalidEvent(
                "duplicate_episode", f"episode {event.episode_id!r} already has a procedure"
            )
        observations: list[Observation] = []
        awaiting: dict[str, Awaiting] = {}
        for kind in self._consumers.get(event.event_type, ()):
            for item in kind.observe(event):
                if isinstance(item, Awaiting):
                    awaiting[item.metric] = item
                else:
                    observations.append(item)
        if awaiting:
            assert isinstance(event, ProcedureEvent)
            episode = state.pending[event.episode_id] = PendingEpisode(
                event.event_id, event.occurred_at, event.provider.ods_code, awaiting
            )
            waiting = state.orphans.get(event.episode_id)
            if waiting:
                del state.orphans[event.episode_id]
                for orphan in waiting:
                    try:
                        observations += self._complete(event.episode_id, episode,
                                                       orphan.outcomes, state)
                    except InvalidEvent as error:
                        state.rejected.append((orphan, error))
        return observations

    def _outcome(self, event: OutcomeEvent, state: PipelineState, ref: Any
                 ) -> list[Observation]:
        episode = state.pending.get(event.episode_id)
        if episode is None:
            orphan = Orphan(event.event_id, event.occurred_at, dict(event.outcomes), ref)
            state.orphans.setdefault(event.episode_id, []).append(orphan)
            heapq.heappush(state.orphan_expiry, (to_us(event.occurred_at) + self.join_window_us,
                                                 event.episode_id, event.event_id))
            return []
        return self._complete(event.episode_id, episode, event.outcomes, state)

    def _complete(self, episode_id: str, episode: PendingEpisode, outcomes: Any,
                  state: PipelineState) -> list[Observation]:
        completed = [a for a in episode.awaiting.values() if a.outcome in outcomes]
        if not completed:
            awaited = sorted({a.outcome for a in episode.awaiting.values()})
            raise InvalidEvent(
                "unexpected_outcome",
                f"episode {episode_id!r} awaits {', '.join(awaited)}; "
                f"got {', '.join(sorted(outcomes))}",
            )
        observations = []
        for done in completed:
            del episode.awaiting[done.metric]
            observations.append(Observation(
                done.metric, Outcome(int(outcomes[done.outcome]), done.risk),
                done.entities, episode.event_id, episode_id, episode.occurred_at,
                episode.provider,
            ))
        if not episode.awaiting:
            del state.pending[episode_id]
        return observations

    # -- stage 2: entities ---------------------------------------------------------------
    def apply(self, observation: Observation, state: PipelineState) -> list[Signal]:
        """Update every entity the observation names; return the signals raised."""
        kind = self.kinds[observation.metric]
        signals: list[Signal] = []
        for entity_type, entity_id in observation.entities:
            key = (observation.metric, entity_type, entity_id)
            entity = state.entities.get(key)
            if entity is None:
                entity = state.entities[key] = kind.new_entity(entity_type)
            for finding in kind.apply(observation, entity_type, entity):
                signals.append(self._signal(observation, kind, entity_type, entity_id,
                                            finding))
        return signals

    def process(self, event: Event, state: PipelineState, ref: Any = None,
                observed: Callable[[Observation], None] | None = None) -> list[Signal]:
        """Both stages, for the next event in the canonical order: what replay does with
        each event (outcomes that waited too long for their procedure go to
        ``state.rejected`` first). ``observed`` sees each observation as it is applied."""
        self.expire(to_us(event.occurred_at), state)
        signals: list[Signal] = []
        for observation in self.observe(event, state, ref):
            if observed is not None:
                observed(observation)
            signals.extend(self.apply(observation, state))
        return signals

    def _signal(self, observation: Observation, kind: MetricKind, entity_type: str,
                entity_id: str, finding: Finding) -> Signal:
        level = finding.crossing.level.value
        optional: dict[str, Any] = kind.signal_fields(finding)
        if finding.details:
            optional["details"] = finding.details
        return Signal(
            signal_id=signal_id(self.registry, observation.metric, finding.monitor,
                                entity_type, entity_id, finding.n, level),
            registry=self.registry,
            metric=observation.metric,
            monitor=finding.monitor,
            monitor_kind=finding.monitor_kind,
            entity_type=entity_type,
            entity_id=entity_id,
            provider=observation.provider,
            direction=finding.direction,
            level=level,
            statistic=finding.crossing.statistic,
            threshold=finding.crossing.threshold,
            n=finding.n,
            event_id=observation.event_id,
            episode_id=observation.episode_id,
            occurred_at=observation.occurred_at,
            observed=finding.observed,
            expected=finding.expected,
            late=observation.late or None,
            **optional,
        )

    # -- state in and out ----------------------------------------------------------------
    def observation_values(self, metric: str, values: list[Any]) -> Any:
        """An observation's values as they travel between the stages (a JSON list), typed
        again as the metric kind's ``value_type``."""
        return self.kinds[metric].value_type(*values)

    def dump_entity(self, key: EntityKey, entity: Any) -> list[dict[str, Any]]:
        """One entity's state as JSON-ready data (for a faust table or a checkpoint)."""
        return self.kinds[key[0]].dump(entity)

    def load_entity(self, key: EntityKey, data: list[dict[str, Any]]) -> Any:
        """The inverse of ``dump_entity``."""
        return self.kinds[key[0]].load(key[1], data)

    def monitor_records(self, state: PipelineState) -> Iterator[dict[str, Any]]:
        """The final state of every monitor, in a stable order."""
        for key in sorted(state.entities):
            metric, entity_type, entity_id = key
            for record in self.kinds[metric].records(entity_type, state.entities[key]):
                yield {
                    "registry": self.registry,
                    "metric": metric,
                    "entity_type": entity_type,
                    "entity_id": entity_id,
                    **record,
                }
