"""The streaming worker runs every registered monitor kind and metric kind — the
``bernoulli_cusum`` that once crash-looped it included — and gives ``vigil replay``'s
signals and monitors.

One events partition, so that devices fed by several providers see the file's order in
both shells (the canonical event-time order across partitions is issue 12's).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.kafka.embedded_broker import EmbeddedBroker
from streams.pipeline.registry.monitors import MONITORS
from tests.support.every_kind import write_every_kind
from tests.support.worker_vs_replay import replay_results, run_through, worker_results
from tests.support.workers import worker_env

pytestmark = pytest.mark.integration


def test_worker_runs_every_kind_as_replay_does(broker: EmbeddedBroker, tmp_path: Path) -> None:
    events, config = write_every_kind(tmp_path)
    expected_signals, expected_monitors, _ = replay_results(events, tmp_path / "replay", config)
    assert set(MONITORS) <= {s["monitor_kind"] for s in expected_signals.values()}
    env = worker_env(broker, partitions=1)
    run_through(broker, env, events, tmp_path / "worker.log", config)
    signals, monitors, _ = worker_results(broker, env, config)
    assert signals == expected_signals
    assert monitors == expected_monitors
    bernoulli = [s for s in signals.values() if s["monitor_kind"] == "bernoulli_cusum"]
    assert bernoulli, "the worker raised no bernoulli_cusum signal"
