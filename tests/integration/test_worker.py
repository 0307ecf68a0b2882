"""The streaming worker on the embedded broker against ``vigil replay`` on the same file.

Each test has its own app id, consumer group and topics; workers are ``vigil run``
subprocesses so that ``kill -9`` is real.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import structlog

from streams.bundled_samples import sample_paths
from streams.contract.pseudonym import Pseudonymiser
from streams.kafka.embedded_broker import EmbeddedBroker
from streams.pipeline.config import load_config
from streams.pipeline.core import Pipeline
from streams.pipeline.replay import replay
from streams.synthetic import SyntheticRegistry, synthetic_events
from streams.worker.stages import monitor_state
from tests.broker import HMAC_KEY, WorkerProcess, broker, last_values, read_topic, vigil, worker_env
from tests.events import outcome, procedure, write_jsonl

pytestmark = pytest.mark.integration
__all__ = ["broker"]

CONFIG = sample_paths()[1]


@pytest.fixture(autouse=True)
def _plain_logging() -> None:
    structlog.reset_defaults()


def _synthetic(path: Path, procedures: int, seed: int = 3) -> Path:
    # No invalid lines here: the synthetic duplicates reuse ids across providers, which
    # the worker can only catch within a provider's partition (see README).
    spec = SyntheticRegistry(procedures=procedures, providers=12, seed=seed,
                             invalid_fraction=0.0, provider_odds={"R1B": 2.5})
    with path.open("w") as out:
        for line in synthetic_events(spec):
            out.write(line + "\n")
    return path


def _replay(events: Path, out: Path) -> tuple[dict[str, dict], list[dict], Any]:
    pipeline = Pipeline(load_config(CONFIG))
    with events.open("rb") as lines:
        summary = replay(lines, pipeline, out, Pseudonymiser(HMAC_KEY.encode()))
    signals = {s["signal_id"]: s for s in
               (json.loads(x) for x in (out / "signals.jsonl").read_text().splitlines())}
    monitors = [json.loads(x) for x in (out / "monitors.jsonl").read_text().splitlines()]
    return signals, monitors, summary


def _group_done(bootstrap: str, group: str, topics: list[str]) -> bool:
    return _committed(bootstrap, group, topics)[0]


def _committed(bootstrap: str, group: str, topics: list[str]) -> tuple[bool, int, int]:
    """(all caught up, committed offsets summed, end offsets summed).

    End offsets are the high watermarks of fetch responses: the embedded broker's
    ListOffsets answers below the true end (the last batch's base offset), which would call
    a worker done one batch early."""

    async def check() -> tuple[bool, int, int]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(t, p) for t in topics
                   for p in await _partitions(consumer, t)]
            if not tps:
                return False, 0, 0
            committed = {tp: (await consumer.committed(tp)) or 0 for tp in tps}
            ends = await _highwaters(consumer, tps)
            done = all(committed[tp] >= ends[tp] for tp in tps)
            return done, sum(committed.values()), sum(ends.values())
        finally:
            await consumer.stop()

    return asyncio.run(check())


async def _highwaters(consumer: Any, tps: list[Any], timeout: float = 10.0) -> dict[Any, int]:
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, 0)
    deadline = time.monotonic() + timeout
    ends: dict[Any, int] = {}
    while len(ends) < len(tps) and time.monotonic() < deadline:
        await consumer.getmany(timeout_ms=200, max_records=1)
        for tp in tps:
            highwater = consumer.highwater(tp)
            if highwater is not None:
                ends[tp] = highwater
    for tp in tps:  # no fetch answered for it: assume not done
        ends.setdefault(tp, 1 << 62)
    return ends


async def _partitions(consumer: Any, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


def _wait_done(broker: EmbeddedBroker, env: dict[str, str], stall: float = 60.0,
               limit: float = 900.0) -> None:
    """Wait until both stages have committed to the end of their topics; fail only when
    the committed offsets have not moved for ``stall`` seconds (or after ``limit``)."""
    topics = [env["VIGIL_EVENTS_TOPIC"], env["VIGIL_OBSERVATIONS_TOPIC"]]
    started = last_move = time.monotonic()
    streak, last = 0, (-1, -1)
    while True:
        done, committed, ends = _committed(broker.bootstrap_servers, env["VIGIL_APP_ID"],
                                           topics)
        now = time.monotonic()
        if (committed, ends) != last:
            last, last_move = (committed, ends), now
        streak = streak + 1 if done else 0
        if streak >= 2:
            return
        if now - last_move > stall or now - started > limit:
            raise AssertionError(f"the worker made no progress for {now - last_move:.0f} s: "
                                 f"{committed} of {ends} offsets committed")
        time.sleep(1.0)


def _wait_progress(broker: EmbeddedBroker, env: dict[str, str], committed: int,
                   timeout: float = 60.0) -> int:
    """Wait until the events committed exceed ``committed``; return the new sum."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, now, _ = _committed(broker.bootstrap_servers, env["VIGIL_APP_ID"],
                               [env["VIGIL_EVENTS_TOPIC"]])
        if now > committed:
            return now
        time.sleep(0.5)
    raise AssertionError(f"no commit beyond {committed} events within {timeout:.0f} s")


def _worker_results(broker: EmbeddedBroker, env: dict[str, str]
                    ) -> tuple[dict[str, dict], list[dict], int]:
    published = read_topic(broker.bootstrap_servers, env["VIGIL_SIGNALS_TOPIC"])
    signals: dict[str, dict] = {}
    for _, signal in published:
        assert signals.setdefault(signal["signal_id"], signal) == signal
    pipeline = Pipeline(load_config(CONFIG))
    table = last_values(broker.bootstrap_servers, f"{env['VIGIL_APP_ID']}-monitors-changelog")
    monitors = list(pipeline.monitor_records(monitor_state(pipeline, table.items())))
    return signals, monitors, len(published)


def _produce(env: dict[str, str], events: Path) -> None:
    result = vigil("produce", str(events), env=env)
    assert result.returncode == 0, result.stderr


def test_equivalence_with_replay(broker: EmbeddedBroker, tmp_path: Path) -> None:
    events = _synthetic(tmp_path / "events.jsonl", 3000)
    expected_signals, expected_monitors, _ = _replay(events, tmp_path / "replay")
    env = worker_env(broker)
    _produce(env, events)
    worker = WorkerProcess(env, CONFIG, tmp_path / "worker.log")
    try:
        _wait_done(broker, env)
    finally:
        assert worker.terminate() == 0  # graceful SIGTERM
    signals, monitors, _ = _worker_results(broker, env)
    assert expected_signals and signals == expected_signals
    assert monitors == expected_monitors


def test_crash_kill_9_three_times(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """kill -9 three times while 100,409 events stream in at 1,500 a second (67 s); the
    worker's signals and monitors still equal replay's, and nothing is dead-lettered.

    Each kill falls at a random moment after the running worker has committed progress of
    its own (a restart first waits out the killed member's session, about 9 s here), and
    all three fall while the producer is still sending."""
    events = _synthetic(tmp_path / "events.jsonl", 77_200, seed=11)  # 100,409 events
    expected_signals, expected_monitors, summary = _replay(events, tmp_path / "replay")
    env = worker_env(broker)
    producer = subprocess.Popen([sys.executable, "-m", "streams.cli.main", "produce", str(events),
                                 "--rate", "1500"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rng = random.Random(5)
    log = tmp_path / "worker.log"
    worker = WorkerProcess(env, CONFIG, log)
    committed = 0
    try:
        for _ in range(3):
            committed = _wait_progress(broker, env, committed)
            time.sleep(rng.uniform(0.5, 4.0))
            _, done, produced = _committed(broker.bootstrap_servers, env["VIGIL_APP_ID"],
                                           [env["VIGIL_EVENTS_TOPIC"]])
            print(f"kill -9 with {done} of {produced} produced events committed; "
                  f"producer {'finished' if producer.poll() is not None else 'still sending'}")
            assert producer.poll() is None, "the producer finished before this kill"
            worker.kill()
            committed = done  # the next kill waits for the restarted worker's own commits
            worker = WorkerProcess(env, CONFIG, log)
        _, errors = producer.communicate(timeout=300)
        assert producer.returncode == 0, errors
        _wait_done(broker, env)
    finally:
        if producer.poll() is None:
            producer.kill()
        worker.terminate()
    signals, monitors, published = _worker_results(broker, env)
    print(f"{summary.lines} events, {len(expected_signals)} signals in replay; "
          f"{published} published by the worker (duplicates included)")
    assert set(signals) == set(expected_signals)  # no signal missing, none extra
    assert signals == expected_signals
    assert monitors == expected_monitors
    # Redelivered events whose effects were durable are skipped, never dead-lettered.
    assert read_topic(broker.bootstrap_servers, env["VIGIL_DEAD_LETTER_TOPIC"]) == []


def test_scale_out_and_handover(broker: EmbeddedBroker, tmp_path: Path) -> None:
    events = _synthetic(tmp_path / "events.jsonl", 6000, seed=21)
    expected_signals, expected_monitors, _ = _replay(events, tmp_path / "replay")
    env = worker_env(broker, partitions=4)
    first = WorkerProcess(env, CONFIG, tmp_path / "w1.log")
    second = WorkerProcess(env, CONFIG, tmp_path / "w2.log")
    _produce(env, events)
    time.sleep(2.0)
    assert second.terminate() == 0  # its partitions go to the first worker
    try:
        _wait_done(broker, env)
    finally:
        first.terminate()
    signals, monitors, _ = _worker_results(broker, env)
    assert signals == expected_signals
    assert monitors == expected_monitors


def test_bad_input_goes_to_dead_letters(broker: EmbeddedBroker, tmp_path: Path) -> None:
    good = [procedure(f"g{i}", ods="RXF", died=i % 7 == 0, parsonnet=i % 40, day=i)
            for i in range(200)]
    bad: list[Any] = [
        "{not json",
        "[1, 2]",
        json.dumps({**procedure("b1"), "event_type": "admission"}),
        json.dumps({k: v for k, v in procedure("b2").items() if k != "event_type"}),
        json.dumps(procedure("b3", patient={"nhs_number": "9990000001"})),
        json.dumps(procedure("b4", gmc="12AB")),
        json.dumps(procedure("g5", ods="RXF", died=False)),  # duplicate event id
        json.dumps(outcome("b6", "ep-nowhere", True)),
        json.dumps(procedure("b7", registry="other-registry", died=False)),
        json.dumps({**procedure("b8", died=False), "risk_factors": {}}),
        json.dumps({**procedure("b9", died=False), "risk_factors": {"parsonnet": "high"}}),
        json.dumps(procedure("b10", episode="ep-g3", died=None)),
        json.dumps(procedure("b11", episode="ep-g3", died=None)),  # duplicate episode
        json.dumps({**procedure("b12"), "occurred_at": "2020-01-01T00:00:00"}),
        json.dumps(outcome("b13", "ep-g3", True) | {"outcomes": {"stroke": True}}),
    ]
    lines = [json.dumps(e) for e in good[:100]] + bad + [json.dumps(e) for e in good[100:]]
    events = write_jsonl(tmp_path / "events.jsonl", lines)
    _, _, summary = _replay(events, tmp_path / "replay")
    expected = [json.loads(x) for x in (tmp_path / "replay" / "rejected.jsonl").read_text()
                .splitlines()]
    env = worker_env(broker, partitions=2)
    _produce(env, events)
    worker = WorkerProcess(env, CONFIG, tmp_path / "worker.log")
    try:
        _wait_done(broker, env)
    finally:
        assert worker.terminate() == 0
    dead = [value for _, value in read_topic(broker.bootstrap_servers,
                                             env["VIGIL_DEAD_LETTER_TOPIC"])]
    assert Counter(d["reason_code"] for d in dead) == summary.rejected
    assert {(d["reason_code"], d["reason"]) for d in dead} == {
        (r["reason_code"], r["reason"]) for r in expected}
    assert len(summary.rejected) >= 10 and summary.accepted + len(dead) == len(lines)
    assert not any("9990000001" in d["raw"] for d in dead)
