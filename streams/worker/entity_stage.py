"""Stage 3 of the worker: each entity's monitors, updated in the canonical order.

Input: the observations topic, partitioned by entity (``metric|entity_type|entity_id``),
fed by every episodes partition. Each input partition holds the observations it reads and
applies them in the canonical order (``streams.pipeline.order.ObservationKey``) as its
watermark passes them: the minimum of the watermarks the episodes partitions announce
after their observations (idle ones left out; all idle: a flush). An observation arriving
behind that watermark, or behind what its entity has already applied, is late: applied on
arrival, and its signals say so (``Signal.late``). Otherwise every entity's monitors see
exactly the sequence ``vigil replay`` gives them, whatever the producers, keys, partitions
or worker count.

Held observations are not written to the table (the worker commits no offset past the
earliest still held). The table holds each entity's record ``{"m": monitors, "k": key of
the last observation applied}`` and per partition the mark (``streams.worker.records``) with
the upstream marks, the released watermark ``W`` and ``seqs``: per episodes partition, the
highest sequence number received, below which an observation is a copy sent again by a
stage 2 that crashed. A record read again at or below the mark's offset was applied before
if its key is at or below its entity's ``k``, and held otherwise.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streams.contract.signal import Signal
from streams.pipeline.core import EntityKey, Pipeline, PipelineState
from streams.pipeline.metric_kinds.base import Observation
from streams.pipeline.order import Marks, ObservationKey, ReorderBuffer
from streams.worker import quarantine
from streams.worker.quarantine import OnInternalError
from streams.worker.records import (
    MARK,
    PartitionView,
    Record,
    Table,
    current_values,
    dumps,
    loads,
    partition_views,
)


@dataclass(slots=True)
class EntityBatch:
    """What stage 3 made of a batch."""

    signals: list[tuple[bytes, bytes, Signal, int | None]] = field(default_factory=list)
    """(key, value, signal, source event timestamp in ms) for the signals topic."""
    writes: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Observations partition → table key → record."""
    applied: int = 0
    skipped: int = 0
    """Observations read again after a restart that were applied before."""
    copies: int = 0
    """Observations sent again by an episodes stage that crashed (by sequence number)."""
    late: int = 0
    held: int = 0
    flushed: int = 0
    """Observations released by a flush (every episodes partition idle)."""
    quarantined: int = 0
    """Observations on which the stage raised (a bug): dead-lettered as
    ``internal_error``; the entity's monitors are as if the observation never came."""
    dead_letters: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    critical: list[dict[str, Any]] = field(default_factory=list)


def _key(message: dict[str, Any]) -> ObservationKey:
    time_us, event_id, tie, index = message["k"]
    return ObservationKey(time_us, event_id, tie, index)


class _Partition:
    __slots__ = ("marks", "released", "seqs", "view")

    def __init__(self, view: PartitionView, upstream: int) -> None:
        self.view = view
        self.marks = Marks.from_state(upstream, view.mark.get("marks"))
        self.released: int | None = view.mark.get("W")
        self.seqs: dict[str, int] = dict(view.mark.get("seqs", {}))

    def save(self) -> None:
        self.view.mark.update(marks=self.marks.to_state(), W=self.released, seqs=self.seqs)


class _Entities:
    """The batch's entities: loaded once, applied in memory, written once."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.state = PipelineState()
        self.last: dict[str, ObservationKey | None] = {}
        self.views: dict[str, PartitionView] = {}
        self.loaded: dict[str, Any] = {}
        """Entity key → its stored monitors at the start of the batch (None: new)."""
        self.history: dict[str, list[Observation]] = {}
        """Entity key → the observations applied to it in this batch, to rebuild it when
        one raises half-way through its monitors."""

    def last_key(self, key: str, view: PartitionView) -> ObservationKey | None:
        if key not in self.last:
            stored = view.read(key)
            self.views[key] = view
            self.history[key] = []
            if stored is None:
                self.last[key], self.loaded[key] = None, None
            else:
                self.last[key] = ObservationKey(*stored["k"]) if stored.get("k") else None
                # Loaded from a copy: a monitor may keep (and change) what it is loaded
                # from, and the stored value is the table's, the changelog's ``prev`` until
                # written. Kept as it is (nothing changes it) for a rebuild, which copies.
                self.loaded[key] = stored["m"]
                self.state.entities[_entity(key)] = self.pipeline.load_entity(
                    _entity(key), copy.deepcopy(stored["m"]))
        return self.last[key]

    def rebuild(self, key: str) -> None:
        entity = _entity(key)
        self.state.entities.pop(entity, None)
        if self.loaded[key] is not None:
            self.state.entities[entity] = self.pipeline.load_entity(
                entity, copy.deepcopy(self.loaded[key]))
        for observation in self.history[key]:
            self.pipeline.apply(observation, self.state)

    def records(self) -> Iterable[tuple[str, PartitionView, dict[str, Any]]]:
        for key, view in self.views.items():
            entity = _entity(key)
            if entity not in self.state.entities:  # only quarantined messages, new entity
                continue
            last = self.last[key]
            yield key, view, {"m": self.pipeline.dump_entity(entity, self.state.entities[entity]),
                              "k": None if last is None else list(last)}


def _entity(key: str) -> EntityKey:
    metric, entity_type, entity_id = key.split("|", 2)
    return metric, entity_type, entity_id


class EntityStage:
    """Stage 3: one entity's monitors, in the canonical order."""

    def __init__(self, pipeline: Pipeline, partitions: int,
                 on_internal_error: OnInternalError = "quarantine") -> None:
        self.pipeline = pipeline
        self.partitions = partitions
        """Partitions of the episodes topic upstream."""
        self.on_internal_error = on_internal_error
        self.buffers: dict[int, ReorderBuffer] = {}

    def forget(self, partition: int) -> None:
        self.buffers.pop(partition, None)

    def lowest_held(self, partition: int) -> int | None:
        buffer = self.buffers.get(partition)
        return None if buffer is None else buffer.lowest_offset()

    def run(self, batch: Sequence[Record], table: Table) -> EntityBatch:
        result = EntityBatch()
        parts = {p: _Partition(view, self.partitions)
                 for p, view in partition_views(batch, table).items()}
        entities = _Entities(self.pipeline)
        for record in batch:
            part = parts[record.partition]
            buffer = self.buffers.setdefault(record.partition, ReorderBuffer())
            try:
                value = loads(record.value)
                if not isinstance(value, dict) or not isinstance(value.get("i", []), list):
                    raise TypeError("an observations message is {i: [...], m: mark}")
                again = record.offset <= part.view.watermark
                for message in value.get("i", ()):  # each quarantined on its own if bad
                    self._arrive(message, record, part, buffer, entities, again, result)
                mark = value.get("m")
                if mark and not again:
                    part.marks.update(*mark)  # TypeError, nothing kept, if malformed
                    self._release(part, buffer, entities, result)
            except Exception as error:
                if self.on_internal_error == "stop":
                    raise
                self._quarantine(record, None, error, result)
        for p, part in parts.items():
            part.save()
            result.held += len(self.buffers[p])
        for key, view, stored in entities.records():
            view.write(key, stored)
        for p, part in parts.items():
            result.writes[p] = part.view.writes()
        return result

    def _arrive(self, message: dict[str, Any], record: Record, part: _Partition,
                buffer: ReorderBuffer, entities: _Entities, again: bool,
                result: EntityBatch) -> None:
        try:
            key = _key(message)
            metric, (entity_type, entity_id) = message["metric"], message["entity"]
            entity = f"{metric}|{entity_type}|{entity_id}"
            last = entities.last_key(entity, part.view)
            if again:  # read before a restart: applied then if at or below the entity's
                if last is not None and key <= last:
                    result.skipped += 1
                else:
                    buffer.hold(key, record.offset, (record, message))
                return
            upstream, seq = str(message["q"]), int(message["s"])
            if seq <= part.seqs.get(upstream, -1):
                result.copies += 1  # sent again by an episodes stage that crashed
                return
            part.seqs[upstream] = seq
            behind = part.released is not None and key.time_us < part.released
        except Exception as error:
            if self.on_internal_error == "stop":
                raise
            self._quarantine(record, message, error, result)
            return
        if behind or (last is not None and key < last):
            self._apply(record, message, part, entities, result, late=True)
        else:
            buffer.hold(key, record.offset, (record, message))

    def _release(self, part: _Partition, buffer: ReorderBuffer, entities: _Entities,
                 result: EntityBatch) -> None:
        watermark = part.marks.watermark(0)
        if watermark is not None and (part.released is None or watermark > part.released):
            part.released = watermark
            for record, message in buffer.release(watermark):
                self._apply(record, message, part, entities, result, late=False)
        if part.marks.all_idle() and len(buffer):
            for record, message in buffer.flush():
                result.flushed += 1
                self._apply(record, message, part, entities, result, late=False)

    def _apply(self, record: Record, message: dict[str, Any], part: _Partition,
               entities: _Entities, result: EntityBatch, late: bool) -> None:
        key = None
        try:
            late = late or bool(message.get("late"))
            metric, (entity_type, entity_id) = message["metric"], message["entity"]
            key = f"{metric}|{entity_type}|{entity_id}"
            entities.last_key(key, part.view)
            observation = Observation(
                metric, self.pipeline.observation_values(metric, message["values"]),
                ((entity_type, entity_id),), message["event_id"], message["episode_id"],
                datetime.fromisoformat(message["occurred_at"]), message["provider"], late)
            signals = self.pipeline.apply(observation, entities.state)
            encoded = [(key.encode(), signal.to_json().encode(), signal, message.get("ts"))
                       for signal in signals]
        except Exception as error:
            if self.on_internal_error == "stop":
                raise
            if key is not None and key in entities.history:
                entities.rebuild(key)
            self._quarantine(record, message, error, result)
            return
        ordered = _key(message)
        last = entities.last[key]
        if last is None or ordered > last:
            entities.last[key] = ordered
        entities.history[key].append(observation)
        result.applied += 1
        result.late += late
        result.signals.extend(encoded)

    def _quarantine(self, record: Record, message: Any, error: Exception,
                    result: EntityBatch) -> None:
        event_id = message.get("event_id") if isinstance(message, dict) else None
        source = [record.partition, record.offset]
        try:
            raw = dumps(message).decode() if isinstance(message, dict) else ""
        except (TypeError, ValueError, RecursionError):
            raw = ""
        letter = quarantine.quarantine_letter(
            "entities", error, event_id=event_id if isinstance(event_id, str) else None,
            source=source, raw=raw)
        result.quarantined += 1
        result.dead_letters.append((record.key, quarantine.safe_dumps(letter)))
        result.critical.append(quarantine.log_entry(letter, error))


def monitor_state(pipeline: Pipeline, records: Iterable[tuple[str, Any]], partitions: int
                  ) -> PipelineState:
    """A ``PipelineState`` holding the monitors of entity-table records (key, record),
    e.g. the last value per key read from the table's changelog; ``pipeline.monitor_records``
    then prints them exactly as ``vigil replay`` writes ``monitors.jsonl``."""
    state = PipelineState()
    for key, value in current_values(dict(records), partitions).items():
        if key.startswith(MARK):
            continue
        state.entities[_entity(key)] = pipeline.load_entity(_entity(key), value["m"])
    return state
