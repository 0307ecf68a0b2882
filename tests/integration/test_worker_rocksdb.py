"""The worker on the production table store (``VIGIL_STORE=rocksdb://``, what the image and
the deployment use): the same signals and monitors as replay, and a restart that reopens
the local RocksDB databases and recovers them leaves them so."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.kafka.embedded_broker import EmbeddedBroker
from tests.support.worker_vs_replay import (
    CONFIG,
    replay_results,
    synthetic_file,
    worker_results,
)
from tests.support.workers import WorkerProcess, worker_env

pytest.importorskip("rocksdict", reason="the rocksdb extra is not installed")
from tests.support.worker_vs_replay import run_through

pytestmark = pytest.mark.integration


def test_rocksdb_store_equals_replay_and_reopens(broker: EmbeddedBroker, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # faust keeps the databases under ./<app id>-data
    events = synthetic_file(tmp_path / "events.jsonl", 1200, seed=8)
    expected_signals, expected_monitors, _ = replay_results(events, tmp_path / "replay")
    env = worker_env(broker, partitions=2, VIGIL_STORE="rocksdb://")
    run_through(broker, env, events, tmp_path / "worker.log")
    tables = tmp_path / f"{env['VIGIL_APP_ID']}-data" / "v1" / "tables"
    assert sorted(tables.glob("monitors-*.db")) and sorted(tables.glob("episodes-*.db"))

    worker = WorkerProcess(env, CONFIG, tmp_path / "worker.log")  # reopens the databases
    try:
        worker.wait_ready()  # databases reopened, changelogs recovered
    finally:
        assert worker.terminate() == 0
    signals, monitors, _ = worker_results(broker, env)
    assert expected_signals and signals == expected_signals
    assert monitors == expected_monitors
