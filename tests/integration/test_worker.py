"""The streaming worker on the embedded broker against ``vigil replay`` on the same file.

Each test has its own app id, consumer group and topics; workers are ``vigil run``
subprocesses so that ``kill -9`` is real.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from streams.kafka.embedded_broker import EmbeddedBroker
from tests.support.events import outcome, procedure, write_jsonl
from tests.support.topics import committed, read_topic, wait_done, wait_progress
from tests.support.worker_vs_replay import (
    CONFIG,
    produce,
    replay_results,
    run_through,
    synthetic_file,
    worker_results,
)
from tests.support.workers import WorkerProcess, wait_ready, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("plain_logging")]


def test_equivalence_with_replay(broker: EmbeddedBroker, tmp_path: Path) -> None:
    events = synthetic_file(tmp_path / "events.jsonl", 3000)
    expected_signals, expected_monitors, _ = replay_results(events, tmp_path / "replay")
    env = worker_env(broker)
    produce(env, events)
    worker = WorkerProcess(env, CONFIG, tmp_path / "worker.log")
    try:
        wait_done(broker, env)
    finally:
        assert worker.terminate() == 0  # graceful SIGTERM
    signals, monitors, _ = worker_results(broker, env)
    assert expected_signals and signals == expected_signals
    assert monitors == expected_monitors


def test_crash_kill_9_three_times(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """kill -9 three times while 100,409 events stream in at 1,500 a second (67 s); the
    worker's signals and monitors still equal replay's, and nothing is dead-lettered.

    Each kill falls at a random moment after the running worker has committed progress of
    its own (a restart first waits out the killed member's session, about 9 s here), and
    all three fall while the producer is still sending."""
    events = synthetic_file(tmp_path / "events.jsonl", 77_200, seed=11)  # 100,409 events
    expected_signals, expected_monitors, summary = replay_results(events, tmp_path / "replay")
    env = worker_env(broker)
    producer = subprocess.Popen([sys.executable, "-m", "streams.cli.main", "produce", str(events),
                                 "--rate", "1500"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rng = random.Random(5)
    log = tmp_path / "worker.log"
    worker = WorkerProcess(env, CONFIG, log)
    progress = 0
    try:
        for _ in range(3):
            progress = wait_progress(broker, env, progress)
            # The test's subject: a kill at a random moment, not a wait for readiness.
            time.sleep(rng.uniform(0.5, 4.0))
            _, done, produced = committed(broker.bootstrap_servers, env["VIGIL_APP_ID"],
                                           [env["VIGIL_EVENTS_TOPIC"]])
            print(f"kill -9 with {done} of {produced} produced events committed; "
                  f"producer {'finished' if producer.poll() is not None else 'still sending'}")
            assert producer.poll() is None, "the producer finished before this kill"
            worker.kill()
            progress = done  # the next kill waits for the restarted worker's own commits
            worker = WorkerProcess(env, CONFIG, log)
        _, errors = producer.communicate(timeout=300)
        assert producer.returncode == 0, errors
        wait_done(broker, env)
    finally:
        if producer.poll() is None:
            producer.kill()
        worker.terminate()
    signals, monitors, published = worker_results(broker, env)
    print(f"{summary.lines} events, {len(expected_signals)} signals in replay; "
          f"{published} published by the worker (duplicates included)")
    assert set(signals) == set(expected_signals)  # no signal missing, none extra
    assert signals == expected_signals
    assert monitors == expected_monitors
    # Redelivered events whose effects were durable are skipped, never dead-lettered.
    assert read_topic(broker.bootstrap_servers, env["VIGIL_DEAD_LETTER_TOPIC"]) == []


def test_scale_out_and_handover(broker: EmbeddedBroker, tmp_path: Path) -> None:
    events = synthetic_file(tmp_path / "events.jsonl", 6000, seed=21)
    expected_signals, expected_monitors, _ = replay_results(events, tmp_path / "replay")
    env = worker_env(broker, partitions=4)
    first = WorkerProcess(env, CONFIG, tmp_path / "w1.log")
    second = WorkerProcess(env, CONFIG, tmp_path / "w2.log")
    try:
        # Both in the group with partitions of their own (a SIGTERM before the second is
        # ready kills it with -15), and both working, before the second leaves.
        wait_ready([first, second])
        produce(env, events)
        wait_progress(broker, env, 0)
        assert second.terminate() == 0  # its partitions go to the first worker
        wait_done(broker, env)
    finally:
        if second.process.poll() is None:
            second.kill()
        first.terminate()
    signals, monitors, _ = worker_results(broker, env)
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
    _, _, summary = replay_results(events, tmp_path / "replay")
    expected = [json.loads(x) for x in (tmp_path / "replay" / "rejected.jsonl").read_text()
                .splitlines()]
    env = worker_env(broker, partitions=2)
    run_through(broker, env, events, tmp_path / "worker.log")
    dead = [value for _, value in read_topic(broker.bootstrap_servers,
                                             env["VIGIL_DEAD_LETTER_TOPIC"])]
    assert Counter(d["reason_code"] for d in dead) == summary.rejected
    assert {(d["reason_code"], d["reason"]) for d in dead} == {
        (r["reason_code"], r["reason"]) for r in expected}
    assert len(summary.rejected) >= 10 and summary.accepted + len(dead) == len(lines)
    assert not any("9990000001" in d["raw"] for d in dead)
