"""The worker's three stage functions run without a broker, as the worker runs them, over
in-memory topics and dict tables: what tests compare with replay to show both shells
compute the same thing."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.config import VigilConfig
from streams.pipeline.core import Pipeline, PipelineState
from streams.worker.entity_stage import EntityStage, monitor_state
from streams.worker.episode_stage import EpisodeStage
from streams.worker.ingest_stage import IngestStage
from streams.worker.quarantine import OnInternalError
from streams.worker.records import Record, partition_of

KEY = Pseudonymiser(b"c" * 32)
"""The pseudonymisation key of these runs."""


def records_of(config: VigilConfig, state: PipelineState) -> list[dict[str, Any]]:
    return json.loads(json.dumps(list(Pipeline(config).monitor_records(state))))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Stages:
    """Stages 1–3 over in-memory topics of ``partitions`` partitions each, and dict
    tables; every batch's outputs and writes applied as the worker applies them.
    ``write`` decides how much of a stage's table writes reach the table (a crash)."""

    def __init__(self, pipeline: Pipeline, partitions: int = 1, lateness_us: int = 0,
                 pseudonymiser: Pseudonymiser = KEY,
                 on_internal_error: OnInternalError = "quarantine") -> None:
        self.pipeline = pipeline
        self.partitions = partitions
        self.clock = Clock()
        self.ingest = IngestStage(pseudonymiser, partitions, 1.0, on_internal_error,
                                  clock=self.clock)
        self.episodes = EpisodeStage(pipeline, pseudonymiser, partitions, lateness_us,
                                     on_internal_error, clock=self.clock)
        self.entities = EntityStage(pipeline, partitions, on_internal_error)
        self.critical: list[dict[str, Any]] = []
        self.topics: dict[str, list[list[bytes]]] = {
            name: [[] for _ in range(partitions)] for name in ("episodes", "observations")}
        self.read = {name: [0] * partitions for name in self.topics}
        self.tables: dict[str, dict[str, Any]] = {"episodes": {}, "observations": {}}
        self.signals: dict[str, dict[str, Any]] = {}
        self.published = 0
        self.dead_letters: list[dict[str, Any]] = []
        self.offsets = [0] * partitions
        """Next offset of each events partition."""

    def events(self, lines: Sequence[bytes], key: Callable[[bytes], int] | None = None
               ) -> list[Record]:
        """``lines`` as events-topic records, on partition ``key(line)`` (default 0)."""
        records = []
        for line in lines:
            partition = 0 if key is None else key(line) % self.partitions
            records.append(Record(partition, self.offsets[partition], line))
            self.offsets[partition] += 1
        return records

    def feed(self, records: Sequence[Record], batch: int = 211) -> None:
        """Stage 1 over ``records``, in batches."""
        for start in range(0, len(records), batch):
            out = self.ingest.run(records[start:start + batch])
            self.dead_letters += [json.loads(v) for _, v in out.dead_letters]
            self.critical += out.critical
            for partition, value in out.bundles:
                self.topics["episodes"][partition].append(value)

    def idle(self) -> None:
        """Every events partition idle: stage 1 says so."""
        self.clock.now += 60
        for partition, value in self.ingest.idle_marks(range(self.partitions)):
            self.topics["episodes"][partition].append(value)

    def pump(self, batch: int = 97, write: Callable[[str, dict[str, Any]], dict[str, Any]]
             | None = None) -> None:
        """Stages 2 and 3 until nothing is left to read."""
        while self._step("episodes", batch, write) | self._step("observations", batch, write):
            pass

    def _step(self, topic: str, batch: int, write: Any) -> bool:
        moved = False
        for partition in range(self.partitions):
            log, start = self.topics[topic][partition], self.read[topic][partition]
            if start >= len(log):
                continue
            records = [Record(partition, o, log[o])
                       for o in range(start, min(len(log), start + batch))]
            self.read[topic][partition] = records[-1].offset + 1
            self.run(topic, records, write)
            moved = True
        return moved

    def run(self, topic: str, records: list[Record], write: Any = None) -> None:
        table = self.tables[topic]
        if topic == "episodes":
            out: Any = self.episodes.run(records, table)
            self.dead_letters += [json.loads(v) for _, v in out.dead_letters]
            for partition, value in out.bundles:
                self.topics["observations"][partition].append(value)
        else:
            out = self.entities.run(records, table)
            self.dead_letters += [json.loads(v) for _, v in out.dead_letters]
            for _, value, _, _ in out.signals:
                signal = json.loads(value)
                self.signals[signal["signal_id"]] = signal
                self.published += 1
        self.critical += out.critical
        for writes in out.writes.values():
            table.update(write(topic, writes) if write is not None else writes)

    def restart(self, topic: str, partition: int, offset: int) -> None:
        """The stage's worker died: what it held is gone and it reads again from
        ``offset`` (its committed offset)."""
        stage = self.episodes if topic == "episodes" else self.entities
        stage.forget(partition)
        self.read[topic][partition] = offset

    def committed(self, topic: str, partition: int) -> int:
        """The offset the worker would commit now."""
        stage = self.episodes if topic == "episodes" else self.entities
        held = stage.lowest_held(partition)
        return self.read[topic][partition] if held is None else held

    def monitors(self, config: VigilConfig) -> list[dict[str, Any]]:
        state = monitor_state(self.pipeline, self.tables["observations"].items(),
                              self.partitions)
        return records_of(config, state)


def route_partition(line: bytes) -> int:
    """A producer keying by episode id where it has one (else by nothing: partition 0)."""
    try:
        episode = json.loads(line).get("episode_id")
    except (ValueError, AttributeError):
        return 0
    return partition_of(str(episode), 1 << 16) if episode else 0


LONG_LATENESS = 400 * 86_400 * 1_000_000
"""An allowed lateness above any skew in the test files (µs of event time)."""


def worker_run(config: VigilConfig, lines: tuple[bytes, ...], batch: int = 211,
               partitions: int = 1, key: Callable[[bytes], int] | None = None,
               lateness_us: int = LONG_LATENESS
               ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The worker's stage functions over the whole of ``lines``, then every partition
    idle (the end of a backfill): its signals by id and its final monitors."""
    stages = Stages(Pipeline(config), partitions, lateness_us)
    stages.feed(stages.events(lines, key), batch)
    stages.pump(batch)
    stages.idle()
    stages.pump(batch)
    return stages.signals, stages.monitors(config)
