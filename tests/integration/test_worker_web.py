"""The worker's web server, as probes and Prometheus use it: ``/healthz``, ``/readyz`` and
``/metrics`` on ``VIGIL_WEB_PORT``, and the image's HEALTHCHECK command against it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from streams.bundled_samples import sample_paths
from streams.kafka.embedded_broker import EmbeddedBroker
from tests.support.workers import ROOT, WorkerProcess, vigil, worker_env

pytestmark = pytest.mark.integration


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def _until(port: int, path: str, status: int, timeout: float = 60) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code, body = _get(port, path)
        if code == status:
            return body
        time.sleep(0.5)  # poll interval
    raise AssertionError(f"{path} did not answer {status} within {timeout} s (last {code})")


def healthcheck_command() -> list[str]:
    """The exec-form CMD of deploy/Dockerfile's HEALTHCHECK."""
    text = (ROOT / "deploy" / "Dockerfile").read_text().replace("\\\n", " ")
    found = re.search(r"^HEALTHCHECK\b.*?\bCMD\s+(\[.*\])\s*$", text, re.MULTILINE)
    assert found, "deploy/Dockerfile has no exec-form HEALTHCHECK CMD"
    return json.loads(found.group(1))


def test_probes_metrics_and_image_healthcheck(broker: EmbeddedBroker, tmp_path: Path) -> None:
    events, config = sample_paths()
    env = worker_env(broker, partitions=2)
    assert vigil("produce", str(events), env=env).returncode == 0
    worker = WorkerProcess(env, config, tmp_path / "worker.log")
    try:
        assert json.loads(_until(worker.port, "/healthz", 200)) == {"status": "alive"}
        assert json.loads(_until(worker.port, "/readyz", 200)) == {"ready": True}
        command = healthcheck_command()
        assert command[0] == "python"
        check = subprocess.run([sys.executable, *command[1:]], timeout=30, check=False,
                               env={**env, "VIGIL_WEB_PORT": str(worker.port)})
        assert check.returncode == 0
        deadline = time.monotonic() + 60
        while True:
            text = _until(worker.port, "/metrics", 200).decode()
            consumed = re.search(r"^vigil_events_consumed_total (\S+)$", text, re.MULTILINE)
            if (consumed and float(consumed.group(1)) > 0) or time.monotonic() > deadline:
                break
            time.sleep(0.5)  # poll interval
        assert consumed and float(consumed.group(1)) > 0
        assert "# TYPE vigil_consumer_lag gauge" in text
    finally:
        assert worker.terminate() == 0
    failed = subprocess.run([sys.executable, *healthcheck_command()[1:]], timeout=30,
                            check=False, capture_output=True,
                            env={**env, "VIGIL_WEB_PORT": str(worker.port)})
    assert failed.returncode != 0  # nothing listening: unhealthy
