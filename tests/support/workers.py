"""Workers and the ``vigil`` CLI as subprocesses against the embedded broker (the ``broker``
fixture is in ``tests/conftest.py``): their environment, their start, readiness and stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from streams.kafka.embedded_broker import EmbeddedBroker, free_port

ROOT = Path(__file__).resolve().parents[2]
HMAC_KEY = "integration-test-key-5b2e9f7c41d8a036e7c9b1f4"
"""Passes production mode's key checks (32+ bytes, not patterned), so the workers run as
operators run them."""


def worker_env(broker: EmbeddedBroker, app_id: str | None = None, partitions: int = 4,
               **extra: str) -> dict[str, str]:
    """Environment for a worker or producer with its own app id and topics."""
    app_id = app_id or f"t{uuid.uuid4().hex[:8]}"
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": str(ROOT),
        "VIGIL_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "VIGIL_BROKER_QUIRKS": "tansu",  # as vigil run --embedded-broker sets it
        "VIGIL_HMAC_KEY": HMAC_KEY,
        "VIGIL_APP_ID": app_id,
        "VIGIL_EVENTS_TOPIC": f"{app_id}.events",
        "VIGIL_EPISODES_TOPIC": f"{app_id}.episodes",
        "VIGIL_OBSERVATIONS_TOPIC": f"{app_id}.observations",
        "VIGIL_SIGNALS_TOPIC": f"{app_id}.signals",
        "VIGIL_DEAD_LETTER_TOPIC": f"{app_id}.dead-letters",
        "VIGIL_PARTITIONS": str(partitions),
        "VIGIL_SESSION_TIMEOUT": "6",
        "VIGIL_HEARTBEAT_INTERVAL": "1",
        # VIGIL_TEST_WORKER_LOG_LEVEL=INFO keeps the workers' rebalances, idle marks and
        # restarts in their logs, to diagnose a failing run.
        "VIGIL_LOG_LEVEL": os.environ.get("VIGIL_TEST_WORKER_LOG_LEVEL", "WARNING"),
        # The tests' files are backfills in event time: outcomes 30 days after their
        # procedures, read on other partitions; the idle flush applies what is held.
        "VIGIL_ALLOWED_LATENESS": str(400 * 86_400),
        "VIGIL_IDLE_TIMEOUT": "2",
    })
    env.update(extra)
    return env


def vigil(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


class WorkerProcess:
    """``vigil run`` as a subprocess, so that ``kill -9`` is real."""

    def __init__(self, env: dict[str, str], config: Path, log: Path,
                 args: tuple[str, ...] = ()) -> None:
        env = dict(env, VIGIL_WEB_PORT=str(free_port()))
        self.port = int(env["VIGIL_WEB_PORT"])
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli.main", "run", "--config", str(config), *args],
            env=env, stdout=self.log, stderr=self.log, start_new_session=True,
        )

    def ready(self) -> bool:
        """Whether ``/readyz`` answers 200: partitions assigned and tables recovered, so
        the worker is past its start-up, SIGTERM handler included (a SIGTERM earlier than
        that kills it with -15 instead of a graceful stop)."""
        return is_ready(self.port)

    def wait_ready(self, timeout: float = 60) -> None:
        """Until ``/readyz`` answers 200; AssertionError after ``timeout`` seconds or when
        the worker exits first."""
        wait_ready([self], timeout)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.log.close()

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and the exit status. A worker still running after ``timeout`` seconds
        is asked for its threads' and tasks' stacks (mode's SIGUSR1), killed, and the
        test fails with its log's end, which then says where the stop hung."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGUSR1)
            try:
                self.process.wait(timeout=5)  # the stacks are written meanwhile
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.log.close()
            tail = Path(self.log.name).read_bytes()[-20_000:].decode(errors="replace")
            raise AssertionError(f"the worker did not stop within {timeout} s after "
                                 f"SIGTERM; the end of its log:\n{tail}") from None
        self.log.close()
        return code


def is_ready(port: int) -> bool:
    """Whether a worker's ``/readyz`` on ``port`` answers 200 (no answer is not ready)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            return answer.status == 200
    except OSError:  # refused, 503 (an HTTPError is an OSError) or timed out
        return False


def wait_ready(workers: list[WorkerProcess], timeout: float = 60) -> None:
    """Until every one of ``workers`` is ready at the same time: while one joins the group
    the others rebalance and stop being ready, so each is asked again until all agree."""
    deadline = time.monotonic() + timeout
    while not all(worker.ready() for worker in workers):
        exited = [w.process.returncode for w in workers if w.process.poll() is not None]
        assert not exited, f"a worker exited ({exited}) before it became ready"
        assert time.monotonic() < deadline, f"the workers were not ready within {timeout} s"
        time.sleep(0.5)  # poll interval, not a wait for readiness


def metric_total(worker: WorkerProcess, name: str, label: str | None = None
                 ) -> float | None:
    """The sum over labels of the Prometheus sample ``name`` on a running worker's
    ``/metrics`` (only the samples with a label value ``label``, if given); ``None`` when
    the page has no such sample."""
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics",
                                timeout=10) as answer:
        page = answer.read().decode()
    values = [sample.value for family in text_string_to_metric_families(page)
              for sample in family.samples
              if sample.name == name and (label is None or label in sample.labels.values())]
    return sum(values) if values else None
