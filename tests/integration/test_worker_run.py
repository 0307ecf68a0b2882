"""``vigil run`` as an operator starts it: it refuses to start without a cluster or a
pseudonymisation key, and ``--embedded-broker`` runs the whole worker on a local broker
that it starts and stops itself."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.bundled_samples import sample_paths
from streams.kafka.embedded_broker import free_port
from tests.support.topics import read_topic
from tests.support.workers import HMAC_KEY, ROOT, vigil

EVENTS, CONFIG = sample_paths()


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    return {**env, "PYTHONPATH": str(ROOT), "VIGIL_LOG_LEVEL": "WARNING", **settings}


def test_plain_run_without_a_cluster_says_so() -> None:
    result = vigil("run", "--config", str(CONFIG), env=_env(VIGIL_HMAC_KEY=HMAC_KEY))
    assert result.returncode == 2
    assert "no Kafka cluster configured" in result.stderr
    assert "VIGIL_BOOTSTRAP_SERVERS" in result.stderr and "--embedded-broker" in result.stderr


def test_run_without_an_hmac_key_refuses_to_start() -> None:
    result = vigil("run", "--config", str(CONFIG),
                   env=_env(VIGIL_BOOTSTRAP_SERVERS="127.0.0.1:9"))
    assert result.returncode == 2
    assert "VIGIL_HMAC_KEY is not set; refusing to start" in result.stderr


def test_run_against_a_closed_port_says_so_in_one_line() -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    result = vigil("run", "--config", str(CONFIG),
                   env=_env(VIGIL_HMAC_KEY=HMAC_KEY, VIGIL_BOOTSTRAP_SERVERS=address))
    assert result.returncode == 2
    assert result.stderr.strip() == (f"vigil run: cannot reach Kafka at {address} "
                                      "(connection refused); check VIGIL_BOOTSTRAP_SERVERS")


def _wait_for(pattern: str, log: Path, process: subprocess.Popen[bytes],
              timeout: float = 60) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text(errors="replace"))
        if found:
            return found
        assert process.poll() is None, log.read_text(errors="replace")
        time.sleep(0.2)  # poll interval
    raise AssertionError(f"no {pattern!r} within {timeout} s:\n{log.read_text()}")


def _listening(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, int(port))) == 0


@pytest.mark.integration
def test_embedded_broker_runs_the_worker_end_to_end(tmp_path: Path) -> None:
    """No cluster and no key configured: the worker starts its own broker, consumes the
    sample events published to it, publishes signals, and on SIGTERM exits 0 and stops
    the broker."""
    log = tmp_path / "run.log"
    env = _env(VIGIL_WEB_PORT=str(free_port()), VIGIL_PARTITIONS="2",
               VIGIL_SESSION_TIMEOUT="6", VIGIL_HEARTBEAT_INTERVAL="1")
    with log.open("wb") as out:
        run = subprocess.Popen([sys.executable, "-m", "streams.cli.main", "run",
                                "--embedded-broker", "--config", str(CONFIG)],
                               env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        address = _wait_for(r"embedded broker \(dev mode, in memory\) at (\S+)",
                            log, run).group(1)
        client = {**env, "VIGIL_BOOTSTRAP_SERVERS": address}
        produced = vigil("produce", str(EVENTS), env=client)
        assert produced.returncode == 0, produced.stderr
        deadline = time.monotonic() + 120
        signals: list = []
        while not signals and time.monotonic() < deadline:
            assert run.poll() is None, log.read_text()
            signals = read_topic(address, "vigil.signals")
        assert signals, "no signal published within 120 s"
    finally:
        run.send_signal(signal.SIGTERM)
        code = run.wait(timeout=30)
    assert code == 0, log.read_text()
    assert not _listening(address)
    print(f"{len(signals)} signals from the embedded-broker worker at {address}")
