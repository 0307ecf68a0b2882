"""The worker's stages without a broker: batches over dict tables equal one replay pass,
also when a crash cuts a batch's writes short and Kafka redelivers."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import structlog

from streams.bundled_samples import sample_paths
from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.config import load_config
from streams.pipeline.core import Pipeline, PipelineState
from streams.pipeline.replay import replay
from streams.worker.stages import EntityStage, EpisodeStage, Record, monitor_state

KEY = Pseudonymiser(b"k" * 32)


@pytest.fixture(autouse=True)
def _plain_logging() -> None:
    # Another test's ``vigil`` run may have bound structlog to a captured, now closed stderr.
    structlog.reset_defaults()


def _events() -> list[bytes]:
    events, _ = sample_paths()
    return [line for line in events.read_bytes().splitlines() if line.strip()]


def _pipeline() -> Pipeline:
    return Pipeline(load_config(sample_paths()[1]))


def _replay(tmp_path: Path, lines: list[bytes]) -> tuple[set[str], list[dict], int]:
    pipeline = _pipeline()
    summary = replay(lines, pipeline, tmp_path / "replay", KEY)
    signals = {json.dumps(json.loads(x), sort_keys=True)
               for x in (tmp_path / "replay" / "signals.jsonl").read_text().splitlines()}
    monitors = [json.loads(x) for x in
                (tmp_path / "replay" / "monitors.jsonl").read_text().splitlines()]
    return signals, monitors, sum(summary.rejected.values())


class _Worker:
    """Both stages over dict tables, one partition each, with injectable crashes."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.episodes, self.entities = EpisodeStage(pipeline, KEY), EntityStage(pipeline)
        self.t1: dict[str, object] = {}
        self.t2: dict[str, object] = {}
        self.observations: list[bytes] = []
        self.signals: dict[str, dict] = {}
        self.dead = 0
        self.dead_sources: set[tuple[int, int]] = set()
        self.read2 = 0

    def stage1(self, batch: list[Record], keep_writes: int | None = None) -> None:
        out = self.episodes.run(batch, self.t1)
        self.observations.extend(v for _, v in out.bundles)
        self.dead += len(out.dead_letters)
        self.dead_sources |= {tuple(json.loads(v)["source"]) for _, v in out.dead_letters}
        writes = list(out.writes[0].items())
        for key, value in writes[:keep_writes]:
            self.t1[key] = value

    def stage2(self, size: int) -> None:
        while self.read2 < len(self.observations):
            chunk = self.observations[self.read2:self.read2 + size]
            batch = [Record(0, self.read2 + i, v) for i, v in enumerate(chunk)]
            out = self.entities.run(batch, self.t2)
            for _, _, signal, _ in out.signals:
                self.signals[signal.signal_id] = signal.to_dict()
            for key, value in out.writes.get(0, {}).items():
                self.t2[key] = value
            self.read2 += len(chunk)

    def results(self, pipeline: Pipeline) -> tuple[set[str], list[dict]]:
        state = monitor_state(pipeline, self.t2.items())  # type: ignore[arg-type]
        signals = {json.dumps(s, sort_keys=True) for s in self.signals.values()}
        return signals, list(pipeline.monitor_records(state))


def test_batches_equal_replay(tmp_path: Path) -> None:
    lines = _events()
    signals, monitors, rejected = _replay(tmp_path, lines)
    pipeline = _pipeline()
    worker = _Worker(pipeline)
    records = [Record(0, i, line) for i, line in enumerate(lines)]
    for start in range(0, len(records), 300):
        worker.stage1(records[start:start + 300])
        worker.stage2(250)
    assert worker.results(pipeline) == (signals, monitors)
    assert worker.dead == rejected and signals


def test_crash_mid_batch_then_redelivery_equals_replay(tmp_path: Path) -> None:
    lines = _events()
    signals, monitors, _ = _replay(tmp_path, lines)
    pipeline = _pipeline()
    worker = _Worker(pipeline)
    records = [Record(0, i, line) for i, line in enumerate(lines)]
    rng = random.Random(7)
    position = committed = 0
    while position < len(records):
        size = rng.randint(50, 400)
        batch = records[position:position + size]
        if rng.random() < 0.3:  # crash: some writes reached the changelog, none committed
            worker.stage1(batch, keep_writes=rng.randint(0, size))
            worker.stage2(rng.randint(20, 200))
            position = max(0, committed - rng.randint(0, 200))  # redeliver from a commit
            continue
        worker.stage1(batch)
        worker.stage2(rng.randint(20, 200))
        position += len(batch)
        committed = position
    assert worker.results(pipeline) == (signals, monitors)


def test_monitor_state_reads_table_records() -> None:
    pipeline = _pipeline()
    assert list(pipeline.monitor_records(monitor_state(pipeline, []))) == []
    assert PipelineState().entities == {}


def test_redelivery_from_a_commit_several_batches_back(tmp_path: Path) -> None:
    """A commit may lag many batches behind the durable state (commits are periodic); the
    replayed batches are all skipped and none is dead-lettered as a duplicate."""
    lines = _events()
    signals, monitors, rejected = _replay(tmp_path, lines)
    pipeline = _pipeline()
    worker = _Worker(pipeline)
    records = [Record(0, i, line) for i, line in enumerate(lines)]
    for start in range(0, 1500, 100):
        worker.stage1(records[start:start + 100])
    worker.stage1(records[1500:1600], keep_writes=3)  # crash mid-batch
    for start in range(300, len(records), 100):  # restart from an old commit
        worker.stage1(records[start:start + 100])
    worker.stage2(200)
    assert worker.results(pipeline) == (signals, monitors)
    # A dead letter of the batch cut short may be published again (same source offset).
    assert len(worker.dead_sources) == rejected


def test_a_record_delivered_twice_in_one_batch_is_applied_once(tmp_path: Path) -> None:
    """Around a re-seek faust can hand the last record it read to the agent again, inside
    the same batch; it is skipped, not dead-lettered as a duplicate event id."""
    lines = _events()
    signals, monitors, rejected = _replay(tmp_path, lines)
    pipeline = _pipeline()
    worker = _Worker(pipeline)
    records = [Record(0, i, line) for i, line in enumerate(lines)]
    for start in range(0, len(records), 200):
        batch = records[start:start + 200]
        worker.stage1(batch[:50] + batch[49:50] + batch[50:])
    worker.stage2(200)
    assert worker.results(pipeline) == (signals, monitors)
    assert worker.dead == rejected
