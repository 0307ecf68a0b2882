"""The worker on the production table store (``VIGIL_STORE=rocksdb://``, what the image and
the deployment use): the same signals and monitors as replay, and a restart that reopens
the local RocksDB databases and recovers them leaves them so."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from streams.kafka.embedded_broker import EmbeddedBroker
from tests.broker import WorkerProcess, broker, worker_env
from tests.integration.test_worker import (
    CONFIG,
    _produce,
    _replay,
    _synthetic,
    _wait_done,
    _worker_results,
)

pytest.importorskip("rocksdict", reason="the rocksdb extra is not installed")
pytestmark = pytest.mark.integration
__all__ = ["broker"]


def _ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("the worker did not become ready")


def test_rocksdb_store_equals_replay_and_reopens(broker: EmbeddedBroker, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # faust keeps the databases under ./<app id>-data
    events = _synthetic(tmp_path / "events.jsonl", 1200, seed=8)
    expected_signals, expected_monitors, _ = _replay(events, tmp_path / "replay")
    env = worker_env(broker, partitions=2, VIGIL_STORE="rocksdb://")
    _produce(env, events)
    worker = WorkerProcess(env, CONFIG, tmp_path / "worker.log")
    try:
        _wait_done(broker, env)
    finally:
        assert worker.terminate() == 0
    tables = tmp_path / f"{env['VIGIL_APP_ID']}-data" / "v1" / "tables"
    assert sorted(tables.glob("monitors-*.db")) and sorted(tables.glob("episodes-*.db"))

    worker = WorkerProcess(env, CONFIG, tmp_path / "worker.log")  # reopens the databases
    try:
        _ready(worker.port)  # databases reopened, changelogs recovered
    finally:
        assert worker.terminate() == 0
    signals, monitors, _ = _worker_results(broker, env)
    assert expected_signals and signals == expected_signals
    assert monitors == expected_monitors
