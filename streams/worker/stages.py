"""The streaming worker's two stages as pure batch functions over table-like mappings.

``streams.worker.app`` feeds them Kafka batches and writes what they return to faust tables and
topics; they hold no I/O, so the effectively-once rules below are tested without a broker.

Effectively-once without transactions
-------------------------------------
Kafka redelivers everything after the last committed offset, so a stage may see an event
again whose effects are already (wholly or partly) in its table. Each stage therefore:

1. computes a batch's outputs and state changes in memory (``Pipeline.observe`` /
   ``Pipeline.apply``, the same core as ``vigil replay``);
2. the worker publishes the outputs and flushes the producer, *then* writes the state
   (each key once per batch) and flushes again, and only then acks the batch, so an offset
   is never committed before the state it covers is durable in the changelog, and state
   never records an event whose outputs were lost.

*Episode stage* (keyed like the events, by provider): its table holds ``e:<event_id>``
(seen ids) and ``p:<episode_id>`` (pending episodes) records, each ``{"v": value, "prev":
value before the batch, "b": last offset of the batch that wrote it}``, and a watermark
``w:<partition>`` = the last offset of the last batch whose writes all reached the
changelog (it is written after them, to the same changelog partition, so its presence
proves theirs). Events at or below the watermark, or at or below an offset already seen
in the batch, are skipped; a record whose batch is beyond the watermark belongs to a
batch cut short by a crash and reads as its ``prev``.
Re-emitted observations carry their source ``[partition, offset, index]``. A batch's
observations travel as a few bundles, one message per observations partition (chosen by
:func:`observation_partition` of the entity key) and at most ``BUNDLE_SIZE`` each: per
event, the worker then pays faust's per-message cost once rather than once per entity.

*Entity stage* (keyed by ``metric|entity_type|entity_id``): each entity's record holds its
monitors' state and, per source partition, the last ``[offset, index]`` applied, in one
value; observations at or below it are skipped. Signal ids are deterministic
(``streams.pipeline.core.signal_id``), so a signal published twice around a crash is one signal
to the escalation side.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streams.contract.events import InvalidEvent, parse_event
from streams.contract.pseudonym import Pseudonymiser
from streams.contract.rejections import event_id_of, rejection_record
from streams.contract.signal import Signal
from streams.pipeline.core import EntityKey, PendingEpisode, Pipeline, PipelineState
from streams.pipeline.metric_kinds.base import Observation
from streams.worker import quarantine
from streams.worker.quarantine import OnInternalError

Table = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Record:
    """A Kafka record as a stage sees it."""

    partition: int
    offset: int
    value: bytes
    timestamp_ms: int | None = None
    key: bytes | None = None


BUNDLE_SIZE = 500
"""Most observations in one observations message (keeps messages far below 1 MB)."""


def observation_partition(key: str, partitions: int) -> int:
    """The observations partition (and monitors changelog partition) of an entity key:
    stable across processes and versions, unlike Python's ``hash``.

    >>> observation_partition("death_30d|provider|RXF", 4)
    1
    """
    return zlib.crc32(key.encode()) % partitions


def entity_key(metric: str, entity_type: str, entity_id: str) -> str:
    """The observations topic's key and the monitor table's key.

    >>> entity_key("death_30d", "provider", "RXF")
    'death_30d|provider|RXF'
    """
    return f"{metric}|{entity_type}|{entity_id}"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


# -- stage 1: episodes -------------------------------------------------------------------


class _PartitionView:
    """Reads and batch-local writes of one source partition's episode-stage records."""

    __slots__ = ("batch_end", "original", "overlay", "partition", "stale", "table",
                 "watermark")

    def __init__(self, table: Table, partition: int, batch_end: int) -> None:
        self.table = table
        self.partition = partition
        self.batch_end = batch_end
        mark = table.get(f"w:{partition}")
        self.watermark: int = -1 if mark is None else int(mark["o"])
        self.overlay: dict[str, Any] = {}
        self.original: dict[str, Any] = {}
        self.stale: set[str] = set()

    def read(self, key: str) -> Any:
        if key in self.overlay:
            return self.overlay[key]
        record = self.table.get(key)
        if record is None:
            return None
        if record["b"] > self.watermark:  # written by a batch a crash cut short
            self.stale.add(key)
            return record["prev"]
        return record["v"]

    def write(self, key: str, value: Any) -> None:
        if key not in self.original:
            self.original[key] = self.read(key)
        self.overlay[key] = value

    def writes(self) -> dict[str, Any]:
        out = {
            key: {"v": value, "prev": self.original[key], "b": self.batch_end}
            for key, value in self.overlay.items()
            if value != self.original[key] or key in self.stale
        }
        # Last: its presence proves the rest durable. Never lower it: a batch replayed from
        # an older commit ends below it, and a lowered mark would make records of several
        # later batches read as "cut short" at once, when only one batch ever can be.
        if self.batch_end > self.watermark:
            out[f"w:{self.partition}"] = {"o": self.batch_end}
        return out


class _Seen:
    __slots__ = ("view",)

    def __init__(self, view: _PartitionView) -> None:
        self.view = view

    def __contains__(self, event_id: object) -> bool:
        return self.view.read(f"e:{event_id}") is not None

    def add(self, event_id: str) -> None:
        self.view.write(f"e:{event_id}", 1)


class _Pending:
    """``PipelineState.pending`` over the table: episodes are cached as objects because
    the pipeline mutates them in place, and serialised once at the end of the batch."""

    __slots__ = ("cache", "view")

    def __init__(self, view: _PartitionView) -> None:
        self.view = view
        self.cache: dict[str, PendingEpisode | None] = {}

    def get(self, episode_id: str, default: Any = None) -> PendingEpisode | None:
        if episode_id not in self.cache:
            raw = self.view.read(f"p:{episode_id}")
            self.cache[episode_id] = None if raw is None else PendingEpisode.from_state(raw)
        found = self.cache[episode_id]
        return default if found is None else found

    def __contains__(self, episode_id: object) -> bool:
        return self.get(str(episode_id)) is not None

    def __setitem__(self, episode_id: str, episode: PendingEpisode) -> None:
        self.cache[episode_id] = episode

    def __delitem__(self, episode_id: str) -> None:
        self.cache[episode_id] = None

    def flush(self) -> None:
        for episode_id, episode in self.cache.items():
            key = f"p:{episode_id}"
            value = None if episode is None else episode.to_state()
            if value != self.view.read(key) or key in self.view.stale:
                self.view.write(key, value)


@dataclass(slots=True)
class EpisodeBatch:
    """What the episode stage made of a batch."""

    bundles: list[tuple[int, bytes]] = field(default_factory=list)
    """(partition, value) messages for the observations topic: JSON lists of observation
    messages, in source order within each partition."""
    dead_letters: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    writes: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Source partition → table key → record, to write to that changelog partition."""
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    """Redelivered events whose effects were already durable."""
    quarantined: int = 0
    """Records on which the stage raised (a bug): dead-lettered as ``internal_error``."""
    log: list[dict[str, Any]] = field(default_factory=list)
    critical: list[dict[str, Any]] = field(default_factory=list)
    """Log lines of quarantined records, for the worker to log at level critical."""


class EpisodeStage:
    """Stage 1: contract validation, de-duplication and the procedure/outcome join."""

    def __init__(self, pipeline: Pipeline, pseudonymiser: Pseudonymiser,
                 partitions: int = 1, on_internal_error: OnInternalError = "quarantine"
                 ) -> None:
        self.pipeline = pipeline
        self.pseudonymiser = pseudonymiser
        self.partitions = partitions
        """Partitions of the observations topic."""
        self.on_internal_error = on_internal_error
        """``quarantine``: a record on which the stage raises is dead-lettered and the batch
        goes on; ``stop``: the exception propagates (the worker exits uncommitted)."""

    def run(self, batch: Sequence[Record], table: Table) -> EpisodeBatch:
        result = EpisodeBatch()
        outgoing: dict[int, list[dict[str, Any]]] = {}
        ends: dict[int, int] = {}
        for record in batch:
            ends[record.partition] = max(ends.get(record.partition, -1), record.offset)
        views = {p: _PartitionView(table, p, end) for p, end in ends.items()}
        states = {
            p: (PipelineState(seen_event_ids=_Seen(v), pending=_Pending(v)))  # type: ignore[arg-type]
            for p, v in views.items()
        }
        done = {p: view.watermark for p, view in views.items()}
        for record in batch:
            if record.offset <= done[record.partition]:
                # Applied durably before, or earlier in this batch: faust can deliver the
                # last record it read twice around a re-seek.
                result.skipped += 1
                continue
            done[record.partition] = record.offset
            self._one(record, states[record.partition], result, outgoing)
        for partition, messages in outgoing.items():
            for start in range(0, len(messages), BUNDLE_SIZE):
                result.bundles.append(
                    (partition, _dumps(messages[start:start + BUNDLE_SIZE])))
        for p, view in views.items():
            states[p].pending.flush()  # type: ignore[attr-defined]
            result.writes[p] = view.writes()
        return result

    def _one(self, record: Record, state: PipelineState, result: EpisodeBatch,
             outgoing: dict[int, list[dict[str, Any]]]) -> None:
        saved: tuple[str, dict[str, Any] | None] | None = None
        try:
            event = parse_event(record.value, self.pseudonymiser)
            saved = _pending_snapshot(event, state)
            observations = self.pipeline.observe(event, state)
            messages = []
            index = 0
            for observation in observations:
                for entity_type, entity_id in observation.entities:
                    key = entity_key(observation.metric, entity_type, entity_id)
                    messages.append((observation_partition(key, self.partitions),
                                     observation_message(observation, entity_type, entity_id,
                                                         record, index)))
                    index += 1
        except InvalidEvent as error:
            result.rejected[error.code] += 1
            result.dead_letters.append((record.key, _dumps(dead_letter(
                record, error, self.pseudonymiser))))
            result.log.append({"event": "event_rejected",
                               "event_id": event_id_of(record.value, self.pseudonymiser),
                               "reason_code": error.code, "partition": record.partition,
                               "offset": record.offset})
            return
        except Exception as error:
            if self.on_internal_error == "stop":
                raise
            if saved is not None:
                _restore_pending(saved, state)
            self._quarantine(record, error, result)
            return
        result.accepted += 1
        for partition, message in messages:
            outgoing.setdefault(partition, []).append(message)

    def _quarantine(self, record: Record, error: Exception, result: EpisodeBatch) -> None:
        # The line that broke the stage is still untrusted: its id and raw text come from
        # the total, bounded, redacting rejection builder.
        bounded = rejection_record(record.value, error, self.pseudonymiser)
        event_id, raw = bounded.get("event_id"), str(bounded.get("raw", ""))
        letter = quarantine.quarantine_letter("episodes", error, event_id=event_id,
                                              source=[record.partition, record.offset],
                                              raw=raw)
        result.quarantined += 1
        result.dead_letters.append((record.key, quarantine.safe_dumps(letter)))
        result.critical.append(quarantine.log_entry(letter, error))


def _pending_snapshot(event: Any, state: PipelineState
                      ) -> tuple[str, dict[str, Any] | None] | None:
    """The pending episode an event may change, as state: ``Pipeline.observe`` edits it in
    place (an outcome removes what it completes), so a record quarantined half-way must
    put it back, or the episode's other outcomes would be lost or counted twice."""
    episode_id = getattr(event, "episode_id", None)
    if not isinstance(episode_id, str):
        return None
    episode = state.pending.get(episode_id)
    return episode_id, None if episode is None else episode.to_state()


def _restore_pending(saved: tuple[str, dict[str, Any] | None], state: PipelineState) -> None:
    episode_id, before = saved
    if before is not None:
        state.pending[episode_id] = PendingEpisode.from_state(before)
    elif episode_id in state.pending:
        del state.pending[episode_id]


def dead_letter(record: Record, error: InvalidEvent, pseudonymiser: Pseudonymiser
                ) -> dict[str, Any]:
    """A dead-letter message: the reason and the line with any NHS number pseudonymised,
    cut to a size any broker takes (``streams.contract.rejections``); never raises."""
    letter = rejection_record(record.value, error, pseudonymiser)
    return {"event_id": letter.pop("event_id"), "reason_code": letter.pop("reason_code"),
            "reason": letter.pop("reason"), "source": [record.partition, record.offset],
            **letter}


def observation_message(observation: Observation, entity_type: str, entity_id: str,
                        record: Record, index: int) -> dict[str, Any]:
    """One observation for one entity, with its source for de-duplication downstream."""
    return {
        "src": [record.partition, record.offset, index],
        "ts": record.timestamp_ms,
        "metric": observation.metric,
        "values": list(observation.values),
        "entity": [entity_type, entity_id],
        "event_id": observation.event_id,
        "episode_id": observation.episode_id,
        "occurred_at": observation.occurred_at.isoformat(),
        "provider": observation.provider,
    }


def _observation(pipeline: Pipeline, message: dict[str, Any]) -> Observation:
    entity_type, entity_id = message["entity"]
    return Observation(
        message["metric"], pipeline.observation_values(message["metric"], message["values"]),
        ((entity_type, entity_id),),
        message["event_id"], message["episode_id"],
        datetime.fromisoformat(message["occurred_at"]), message["provider"],
    )


# -- stage 2: entities -------------------------------------------------------------------


@dataclass(slots=True)
class EntityBatch:
    """What the entity stage made of a batch."""

    signals: list[tuple[bytes, bytes, Signal, int | None]] = field(
        default_factory=list)
    """(key, value, signal, source event timestamp in ms) for the signals topic."""
    writes: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Observations partition → entity key → record."""
    applied: int = 0
    skipped: int = 0
    quarantined: int = 0
    """Observation messages on which the stage raised (a bug): dead-lettered as
    ``internal_error``; the entity's monitors are as if the message never came."""
    dead_letters: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    critical: list[dict[str, Any]] = field(default_factory=list)
    """Log lines of quarantined messages, for the worker to log at level critical."""


class EntityStage:
    """Stage 2: one entity's monitors, updated in the order its observations arrive."""

    def __init__(self, pipeline: Pipeline, on_internal_error: OnInternalError = "quarantine"
                 ) -> None:
        self.pipeline = pipeline
        self.on_internal_error = on_internal_error

    def run(self, batch: Sequence[Record], table: Table) -> EntityBatch:
        result = EntityBatch()
        state = PipelineState()
        applied: dict[str, dict[str, list[int]]] = {}
        home: dict[str, int] = {}
        loaded: dict[str, Any] = {}
        """Entity key → its stored monitors at the start of the batch (None: new)."""
        history: dict[str, list[Observation]] = {}
        """Entity key → the observations applied to it in this batch, to rebuild it from
        ``loaded`` when one raises half-way through updating its monitors."""
        for record, message in _messages(batch):
            if isinstance(message, Exception):
                if self.on_internal_error == "stop":
                    raise message
                self._quarantine(record, None, message, result)
                continue
            key = None
            try:
                metric = message["metric"]
                entity_type, entity_id = message["entity"]
                key = entity_key(metric, entity_type, entity_id)
                monitor_key: EntityKey = (metric, entity_type, entity_id)
                if key not in applied:
                    stored = table.get(key)
                    history[key] = []
                    if stored is None:
                        applied[key], loaded[key] = {}, None
                    else:
                        applied[key] = {p: list(v) for p, v in stored["a"].items()}
                        loaded[key] = stored["m"]
                        state.entities[monitor_key] = self.pipeline.load_entity(
                            monitor_key, stored["m"])
                source, offset, index = message["src"]
                done = applied[key].get(str(source))
                if done is not None and (offset, index) <= (done[0], done[1]):
                    result.skipped += 1
                    continue
                # Marked applied before it is: a quarantined message is not tried again.
                applied[key][str(source)] = [offset, index]
                home[key] = record.partition
                observation = _observation(self.pipeline, message)
                signals = self.pipeline.apply(observation, state)
                encoded = [(key.encode(), signal.to_json().encode(), signal, message["ts"])
                           for signal in signals]
            except Exception as error:
                if self.on_internal_error == "stop":
                    raise
                if key is not None and key in history:
                    self._rebuild(key, loaded[key], history[key], state)
                self._quarantine(record, message, error, result)
                continue
            history[key].append(observation)
            result.applied += 1
            result.signals.extend(encoded)
        for key, partition in home.items():
            metric, entity_type, entity_id = key.split("|", 2)
            entity: EntityKey = (metric, entity_type, entity_id)
            if entity not in state.entities:  # only quarantined messages, on a new entity
                continue
            result.writes.setdefault(partition, {})[key] = {
                "m": self.pipeline.dump_entity(entity, state.entities[entity]),
                "a": applied[key]}
        return result

    def _rebuild(self, key: str, stored: Any, observations: list[Observation],
                 state: PipelineState) -> None:
        """The entity as the batch left it before the message that raised: its stored
        monitors and the batch's earlier observations again (their signals were taken)."""
        metric, entity_type, entity_id = key.split("|", 2)
        monitor_key: EntityKey = (metric, entity_type, entity_id)
        state.entities.pop(monitor_key, None)
        if stored is not None:
            state.entities[monitor_key] = self.pipeline.load_entity(monitor_key, stored)
        for observation in observations:
            self.pipeline.apply(observation, state)

    def _quarantine(self, record: Record, message: Any, error: Exception,
                    result: EntityBatch) -> None:
        event_id = message.get("event_id") if isinstance(message, dict) else None
        src = message.get("src") if isinstance(message, dict) else None
        source = [record.partition, record.offset]
        if isinstance(src, list) and len(src) == 3:
            source += [src[2]]  # the observation's index within the source event
        # The message went through the contract in stage 1 (NHS numbers pseudonymised).
        try:
            raw = _dumps(message).decode() if isinstance(message, dict) else ""
        except (TypeError, ValueError, RecursionError):
            raw = ""
        letter = quarantine.quarantine_letter(
            "entities", error, event_id=event_id if isinstance(event_id, str) else None,
            source=source, raw=raw)
        result.quarantined += 1
        result.dead_letters.append((record.key, quarantine.safe_dumps(letter)))
        result.critical.append(quarantine.log_entry(letter, error))


def _messages(batch: Sequence[Record]
              ) -> Iterable[tuple[Record, dict[str, Any] | Exception]]:
    """Each observation message of the batch with its record: a record holds a bundle
    (a list) or, as written before bundles, one message; a record that does not decode
    comes as its exception, to be quarantined."""
    for record in batch:
        try:
            value = json.loads(record.value)
        except Exception as error:  # any failure to decode is the record's
            yield record, error
            continue
        for message in value if isinstance(value, list) else (value,):
            yield record, message


def monitor_state(pipeline: Pipeline, records: Iterable[tuple[str, dict[str, Any]]]
                  ) -> PipelineState:
    """A ``PipelineState`` holding the monitors of entity-table records (key, value), e.g.
    the last value per key read from the table's changelog; ``pipeline.monitor_records``
    then prints them exactly as ``vigil replay`` writes ``monitors.jsonl``."""
    state = PipelineState()
    for key, value in records:
        if value is None:
            continue
        metric, entity_type, entity_id = key.split("|", 2)
        entity: EntityKey = (metric, entity_type, entity_id)
        state.entities[entity] = pipeline.load_entity(entity, value["m"])
    return state
