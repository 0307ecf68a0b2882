"""The worker's stages without a broker: however the events are keyed and partitioned,
whatever the batch sizes, and when crashes cut batches short and Kafka redelivers, the
stages' signals and monitors equal one replay of the file in the canonical order."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import structlog

from streams.bundled_samples import sample_paths
from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.config import load_config
from streams.pipeline.core import Pipeline, PipelineState
from streams.pipeline.replay import replay
from streams.worker.entity_stage import monitor_state
from streams.worker.records import Record, partition_of
from tests.support.stage_runs import LONG_LATENESS, Stages

KEY = Pseudonymiser(b"c" * 32)


@pytest.fixture(autouse=True)
def _plain_logging() -> None:
    # Another test's ``vigil`` run may have bound structlog to a captured, now closed stderr.
    structlog.reset_defaults()


def _events() -> list[bytes]:
    events, _ = sample_paths()
    return [line for line in events.read_bytes().splitlines() if line.strip()]


def _config() -> Any:
    return load_config(sample_paths()[1])


def _replay(tmp_path: Path, lines: list[bytes]) -> tuple[dict[str, dict], list[dict], int]:
    summary = replay(lines, Pipeline(_config()), tmp_path / "replay", KEY)
    signals = [json.loads(x) for x in (tmp_path / "replay" / "signals.jsonl").read_text()
               .splitlines()]
    monitors = [json.loads(x) for x in
                (tmp_path / "replay" / "monitors.jsonl").read_text().splitlines()]
    return {s["signal_id"]: s for s in signals}, monitors, sum(summary.rejected.values())


def _provider_key(line: bytes) -> int:
    """As ``vigil produce`` keyed events: by provider (outcomes, naming none, on 0)."""
    try:
        provider = json.loads(line).get("provider") or {}
        return partition_of(str(provider.get("ods_code")), 1 << 16)
    except (ValueError, AttributeError):
        return 0


def _random_key(seed: int) -> Any:
    rng = random.Random(seed)
    return lambda line: rng.randrange(1 << 16)


def _finish(stages: Stages) -> None:
    stages.pump()
    stages.idle()
    stages.pump()


@pytest.mark.parametrize("partitions,keying", [(1, None), (3, "provider"), (4, "random")])
def test_any_keying_and_partitioning_equals_replay(tmp_path: Path, partitions: int,
                                                   keying: str | None) -> None:
    lines = _events()
    signals, monitors, rejected = _replay(tmp_path, lines)
    config = _config()
    stages = Stages(Pipeline(config), partitions, LONG_LATENESS, KEY)
    key = {"provider": _provider_key, "random": _random_key(5), None: None}[keying]
    records = stages.events(lines, key)
    rng = random.Random(partitions)
    position = 0
    while position < len(records):  # stage 1 and the others interleaved, odd batch sizes
        size = rng.randint(30, 400)
        stages.feed(records[position:position + size], size)
        stages.pump(rng.randint(5, 150))
        position += size
    _finish(stages)
    assert stages.signals == signals and signals
    assert stages.monitors(config) == monitors
    assert len(stages.dead_letters) == rejected


def _crashing_run(lines: list[bytes], seed: int, lateness_us: int = LONG_LATENESS) -> Stages:
    """Stages 2 and 3 crash at random: a batch's outputs are sent and some of its writes
    reach the table (each crash cuts the writes of one partition short), then the stage
    forgets what it held and reads again from its last commit."""
    config = _config()
    stages = Stages(Pipeline(config), 3, lateness_us, KEY)
    rng = random.Random(seed)
    stages.feed(stages.events(lines, _random_key(seed)), 29)
    committed = {topic: [0] * 3 for topic in stages.topics}
    crashes = 0

    def cut_short(topic: str, writes: dict[str, Any]) -> dict[str, Any]:
        items = list(writes.items())
        return dict(items[:rng.randint(0, len(items))])

    moving = True
    while moving:
        moving = False
        for topic in ("episodes", "observations"):
            for partition in range(3):
                log, start = stages.topics[topic][partition], stages.read[topic][partition]
                if start >= len(log):
                    continue
                moving = True
                size = rng.randint(1, 12)
                records = [Record(partition, o, log[o])
                           for o in range(start, min(len(log), start + size))]
                stages.read[topic][partition] = records[-1].offset + 1
                if rng.random() < 0.1:
                    crashes += 1
                    stages.run(topic, records, cut_short)
                    stages.restart(topic, partition, committed[topic][partition])
                else:
                    stages.run(topic, records)
                    committed[topic][partition] = stages.committed(topic, partition)
    assert crashes > 10
    _finish(stages)
    return stages


@pytest.mark.parametrize("seed,lateness_days", [(1, 400), (2, 400), (3, 7), (4, 7)])
def test_crashes_mid_batch_then_redelivery_equal_replay(tmp_path: Path, seed: int,
                                                        lateness_days: int) -> None:
    """With 400 days of lateness everything is held to the end (the idle flush); with 7,
    the watermark releases observations all along."""
    lines = _events()
    signals, monitors, rejected = _replay(tmp_path, lines)
    stages = _crashing_run(lines, seed, lateness_days * 86_400 * 1_000_000)
    assert stages.signals == signals
    assert stages.monitors(_config()) == monitors
    # A dead letter of a batch cut short may be published again (same source).
    sources = {json.dumps(d.get("source")) for d in stages.dead_letters}
    assert len(sources) == rejected


def test_stage_1_sending_a_batch_again_changes_nothing(tmp_path: Path) -> None:
    """Stage 1 keeps no state: after a crash it forwards records again, which stage 2
    knows by their source and drops."""
    lines = _events()
    signals, monitors, _rejected = _replay(tmp_path, lines)
    config = _config()
    stages = Stages(Pipeline(config), 2, LONG_LATENESS, KEY)
    records = stages.events(lines, _provider_key)
    for start in range(0, len(records), 500):
        stages.feed(records[start:start + 500])
        stages.feed(records[max(0, start - 300):start + 100])  # again, from an old commit
        stages.pump(120)
    _finish(stages)
    assert stages.signals == signals
    assert stages.monitors(config) == monitors


def test_a_record_delivered_twice_in_one_batch_is_applied_once(tmp_path: Path) -> None:
    """Around a re-seek faust can hand the last record it read to the agent again, inside
    the same batch; it is skipped, not dead-lettered as a duplicate event id."""
    lines = _events()
    signals, monitors, rejected = _replay(tmp_path, lines)
    config = _config()
    stages = Stages(Pipeline(config), 1, LONG_LATENESS, KEY)
    stages.feed(stages.events(lines))
    for topic in ("episodes", "observations"):
        log = stages.topics[topic][0]
        records = [Record(0, o, value) for o, value in enumerate(log)]
        for start in range(0, len(records), 40):
            batch = records[start:start + 40]
            stages.run(topic, batch[:10] + batch[9:10] + batch[10:])
        stages.read[topic][0] = len(log)
    _finish(stages)
    assert stages.signals == signals
    assert stages.monitors(config) == monitors
    assert len(stages.dead_letters) == rejected


def test_the_first_copy_of_an_event_id_by_canonical_order_wins(tmp_path: Path) -> None:
    """The same event sent under two providers lands on two partitions; the copy kept is
    the first in the canonical order (occurred_at, event_id, line digest), as in replay,
    whichever the worker reads first."""
    lines = _events()
    procedure = next(i for i, line in enumerate(lines) if b'"procedure"' in line
                     and b'"outcomes"' in line)
    event = json.loads(lines[procedure])
    event["provider"] = {"ods_code": "RZZ"}
    copy = json.dumps(event).encode()
    both = [*lines[:procedure], copy, *lines[procedure:]]
    signals, monitors, _ = _replay(tmp_path, both)
    config = _config()
    for first in (copy, lines[procedure]):  # either copy read first
        stages = Stages(Pipeline(config), 2, LONG_LATENESS, KEY)
        rest = [line for line in both if line not in (copy, lines[procedure])]
        second = lines[procedure] if first is copy else copy
        stages.feed([Record(1, 0, first), *stages.events(rest), Record(1, 1, second)])
        _finish(stages)
        assert stages.signals == signals
        assert stages.monitors(config) == monitors
        assert [d["reason_code"] for d in stages.dead_letters].count("duplicate_event_id") == 1


def test_an_outcome_before_its_procedure_waits_for_it(tmp_path: Path) -> None:
    """Outcomes sent first (another producer, keyed by nothing) still meet their
    procedures: the join holds an early outcome for the join window."""
    lines = _events()
    signals, monitors, rejected = _replay(tmp_path, lines)
    config = _config()
    stages = Stages(Pipeline(config), 3, LONG_LATENESS, KEY)
    outcomes = [line for line in lines if b'"outcome"' in line]
    others = [line for line in lines if b'"outcome"' not in line]
    stages.feed(stages.events(outcomes, _random_key(3)))
    stages.pump()
    stages.feed(stages.events(others, _provider_key))
    _finish(stages)
    assert stages.signals == signals
    assert stages.monitors(config) == monitors
    assert len(stages.dead_letters) == rejected


def test_late_events_are_applied_once_and_flagged(tmp_path: Path) -> None:
    """With no allowed lateness, outcomes sent after all procedures are behind the
    watermark: each is applied on arrival, once, and its signals say late."""
    lines = _events()
    _, monitors, rejected = _replay(tmp_path, lines)
    config = _config()
    stages = Stages(Pipeline(config), 2, 0, KEY)
    outcomes = [line for line in lines if b'"outcome"' in line]
    others = [line for line in lines if b'"outcome"' not in line]
    stages.feed(stages.events(others, _provider_key))
    stages.pump()
    stages.feed(stages.events(outcomes, _random_key(1)))
    _finish(stages)
    assert len(stages.dead_letters) == rejected
    counts = {(m["metric"], m["entity_type"], m["entity_id"], m["monitor"]): m["n"]
              for m in monitors}
    assert {(m["metric"], m["entity_type"], m["entity_id"], m["monitor"]): m["n"]
            for m in stages.monitors(config)} == counts
    late = [s for s in stages.signals.values() if s.get("late")]
    assert late and all(s["metric"] == "death_30d" for s in late)


def test_monitor_state_reads_table_records() -> None:
    pipeline = Pipeline(_config())
    assert list(pipeline.monitor_records(monitor_state(pipeline, [], 1))) == []
    assert PipelineState().entities == {}
