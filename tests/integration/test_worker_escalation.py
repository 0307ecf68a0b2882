"""``vigil run --rules``: the worker's escalation side on the embedded broker."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from notifiers.log.escalation_log import open_log
from notifiers.rules import default_rules_path
from streams.bundled_samples import sample_paths
from streams.kafka.embedded_broker import EmbeddedBroker, free_port
from tests.support.topics import committed, wait_done
from tests.support.worker_vs_replay import replay_results
from tests.support.workers import vigil, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("plain_logging")]

EVENTS, CONFIG = sample_paths()


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    env = dict(env, VIGIL_WEB_PORT=str(free_port()))
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streams.cli.main", "run", "--config", str(CONFIG),
             "--rules", str(default_rules_path())],
            env=env, stdout=out, stderr=out, start_new_session=True)


def _wait_escalated(broker: EmbeddedBroker, env: dict[str, str], stall: float = 60) -> None:
    """Until the escalation group has committed the whole signals topic (no progress for
    ``stall`` seconds fails)."""
    topic = [env["VIGIL_SIGNALS_TOPIC"]]
    last, moved = None, time.monotonic()
    while True:
        done, offsets, end = committed(broker.bootstrap_servers,
                                       f"{env['VIGIL_APP_ID']}-escalation", topic)
        if done and end:
            return
        if (offsets, end) != last:
            last, moved = (offsets, end), time.monotonic()
        assert time.monotonic() - moved < stall, f"escalation stalled at {offsets}/{end}"
        time.sleep(1.0)  # poll interval


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.terminate()
    return process.wait(timeout=60)


SETTLED = ("notification_sent", "notification_blocked", "dead_letter")
"""The log entries after which the dispatcher leaves a requested notification alone."""


def _wait_dispatched(url: str, timeout: float = 60) -> None:
    """Until the dispatcher (which polls the log every second) has settled every
    notification requested in the log at ``url``: each is sent, blocked or dead-lettered."""
    deadline = time.monotonic() + timeout
    while True:
        with open_log(url, create=False) as log:
            requested = {e.payload["key"] for e in log.entries(kind="notification_requested")}
            settled = {e.payload["key"] for kind in SETTLED for e in log.entries(kind=kind)}
        if requested and requested <= settled:
            return
        assert time.monotonic() < deadline, (
            f"{len(requested - settled)} of {len(requested)} notifications not dispatched "
            f"within {timeout} s")
        time.sleep(0.5)  # poll interval


def _notices(outbox: Path) -> list[Path]:
    return sorted(outbox.glob("*/*.json"))


def test_worker_escalates_signals_once(broker: EmbeddedBroker, tmp_path: Path) -> None:
    expected, _, _ = replay_results(EVENTS, tmp_path / "replay")
    url = f"sqlite:///{tmp_path / 'escalation.db'}"
    outbox = tmp_path / "outbox"
    env = worker_env(broker, VIGIL_ESCALATION_LOG=url, VIGIL_OUTBOX_DIR=str(outbox))
    assert vigil("produce", str(EVENTS), env=env).returncode == 0
    worker = _start(env, tmp_path / "worker.log")
    try:
        wait_done(broker, env)
        _wait_escalated(broker, env)
        _wait_dispatched(url)
    finally:
        assert _stop(worker) == 0
    verify = vigil("audit", "verify", "--log", url, env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    with open_log(url, create=False) as log:
        received = [e.payload["signal_id"] for e in log.entries(kind="signal_received")]
        sent = [e.payload["key"] for e in log.entries(kind="notification_sent")]
    assert len(received) == len(set(received)) == len(expected)
    assert set(received) == set(expected)
    notices = _notices(outbox)
    assert sent and len(notices) == len(sent) == len(set(sent))
    assert any(p.parent.name == "lead_clinician" for p in notices)

    # Another worker (a new consumer group: its stages recompute every signal and publish
    # them again, and its escalation side reads the whole topic) on the same log.
    again = dict(env, VIGIL_APP_ID=env["VIGIL_APP_ID"] + "b")
    worker = _start(again, tmp_path / "worker2.log")
    try:
        wait_done(broker, again)
        _wait_escalated(broker, again)
        _wait_dispatched(url)
    finally:
        assert _stop(worker) == 0
    with open_log(url, create=False) as log:
        assert log.verify().ok
        received_again = [e.payload["signal_id"] for e in log.entries(kind="signal_received")]
        sent_again = [e.payload["key"] for e in log.entries(kind="notification_sent")]
    assert received_again == received
    assert sent_again == sent
    assert _notices(outbox) == notices
    assert json.loads(notices[0].read_text())  # a readable notice
