"""The embedded broker as a pytest fixture, and helpers to run workers against it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.kafka.embedded_broker import EmbeddedBroker, free_port

ROOT = Path(__file__).resolve().parents[1]
HMAC_KEY = "integration-test-key-0123"


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running


def worker_env(broker: EmbeddedBroker, app_id: str | None = None, partitions: int = 4,
               **extra: str) -> dict[str, str]:
    """Environment for a worker or producer with its own app id and topics."""
    app_id = app_id or f"t{uuid.uuid4().hex[:8]}"
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": str(ROOT),
        "VIGIL_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "VIGIL_HMAC_KEY": HMAC_KEY,
        "VIGIL_APP_ID": app_id,
        "VIGIL_EVENTS_TOPIC": f"{app_id}.events",
        "VIGIL_OBSERVATIONS_TOPIC": f"{app_id}.observations",
        "VIGIL_SIGNALS_TOPIC": f"{app_id}.signals",
        "VIGIL_DEAD_LETTER_TOPIC": f"{app_id}.dead-letters",
        "VIGIL_PARTITIONS": str(partitions),
        "VIGIL_SESSION_TIMEOUT": "6",
        "VIGIL_HEARTBEAT_INTERVAL": "1",
        "VIGIL_LOG_LEVEL": "WARNING",
    })
    env.update(extra)
    return env


def vigil(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


class WorkerProcess:
    """``vigil run`` as a subprocess, so that ``kill -9`` is real."""

    def __init__(self, env: dict[str, str], config: Path, log: Path) -> None:
        env = dict(env, VIGIL_WEB_PORT=str(free_port()))
        self.port = int(env["VIGIL_WEB_PORT"])
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli.main", "run", "--config", str(config)],
            env=env, stdout=self.log, stderr=self.log, start_new_session=True,
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.log.close()

    def terminate(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.log.close()
        return code


def read_topic(bootstrap: str, topic: str, idle: float = 1.0) -> list[tuple[bytes | None, Any]]:
    """Every (key, JSON value) on ``topic`` from the beginning, in partition order."""

    async def run() -> list[tuple[bytes | None, Any]]:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    group_id=None)
        await consumer.start()
        out: list[tuple[bytes | None, Any]] = []
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=int(idle * 1000), max_records=10000)
                if not batch:
                    break
                for records in batch.values():
                    out.extend((r.key, json.loads(r.value) if r.value is not None else None)
                               for r in records)
        finally:
            await consumer.stop()
        return out

    return asyncio.run(run())


def last_values(bootstrap: str, topic: str) -> dict[str, Any]:
    """A table's changelog reduced to the last value per key."""
    out: dict[str, Any] = {}
    for key, value in read_topic(bootstrap, topic):
        assert key is not None
        out[json.loads(key)] = value
    return out
