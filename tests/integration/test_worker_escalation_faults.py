"""Escalation-side faults stay on the escalation side: with INSERT on the escalation log
revoked from the worker's PostgreSQL role mid-run and its session killed (as a database
restart would), the worker stays up, both stages finish
the events, ``/readyz`` and ``vigil_escalation_log_up`` say the log is down, and no signal is
committed by the escalation consumer; after GRANT every signal is escalated exactly once."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from notifiers.log.escalation_log import open_log
from notifiers.rules import default_rules_path
from streams.bundled_samples import sample_paths
from streams.kafka.embedded_broker import EmbeddedBroker, free_port
from tests.support import postgres
from tests.support.topics import committed, wait_done
from tests.support.worker_vs_replay import replay_results
from tests.support.workers import is_ready, vigil, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("plain_logging")]

EVENTS, CONFIG = sample_paths()


@pytest.fixture
def log_role(postgres_schema: str) -> Iterator[tuple[str, str]]:
    """(role, schema): a login role with USAGE on a fresh schema holding an escalation log,
    and SELECT + INSERT on the log's table only (trust authentication, no password)."""
    with open_log(postgres.url_with_schema(postgres_schema)):
        pass  # created by the owner
    role = f"vigil_worker_{uuid.uuid4().hex[:10]}"
    postgres.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        postgres.execute(f'GRANT USAGE ON SCHEMA "{postgres_schema}" TO "{role}"')
        postgres.execute(f'GRANT SELECT, INSERT ON "{postgres_schema}".escalation_log '
                         f'TO "{role}"')
        yield role, postgres_schema
    finally:
        postgres.execute(f'DROP OWNED BY "{role}"')
        postgres.execute(f'DROP ROLE "{role}"')


def _as_role(role: str, schema: str) -> str:
    parts = urlsplit(postgres.url_with_schema(schema))
    netloc = f"{role}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _readyz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _gauge(port: int) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        found = re.search(r"^vigil_escalation_log_up\{[^}]*\} (\S+)$", answer.read().decode(),
                          re.M)
    return float(found.group(1)) if found else None


def _until(condition: Any, what: str, process: subprocess.Popen[bytes],
           timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the worker exited ({process.returncode})"
        assert time.monotonic() < deadline, f"not {what} within {timeout} s"
        time.sleep(0.5)  # poll interval


def test_revoked_insert_holds_escalation_only_until_granted(
        broker: EmbeddedBroker, tmp_path: Path, log_role: tuple[str, str]) -> None:
    role, schema = log_role
    expected, _, _ = replay_results(EVENTS, tmp_path / "replay")
    url = _as_role(role, schema)
    port = free_port()
    env = worker_env(broker, VIGIL_ESCALATION_LOG=url, VIGIL_OUTBOX_DIR=str(tmp_path / "out"),
                     VIGIL_WEB_PORT=str(port))
    group = f"{env['VIGIL_APP_ID']}-escalation"
    signals = [env["VIGIL_SIGNALS_TOPIC"]]
    with (tmp_path / "worker.log").open("ab") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "streams.cli.main", "run", "--config", str(CONFIG),
             "--rules", str(default_rules_path())],
            env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        _until(lambda: is_ready(port), "ready", worker)
        postgres.execute(f'REVOKE INSERT ON "{schema}".escalation_log FROM "{role}"')
        # And its session killed, as a database restart would: the log must reconnect.
        postgres.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE usename = %s", (role,))
        assert vigil("produce", str(EVENTS), env=env).returncode == 0
        wait_done(broker, env)  # both stages finish every event with the log down
        _until(lambda: _readyz(port)[1].get("escalation_log") == "down", "reported down",
               worker)
        status, body = _readyz(port)
        assert status == 200 and body["ready"] and "escalation_fault" in body
        assert _gauge(port) == 0
        _, offsets, end = committed(broker.bootstrap_servers, group, signals)
        assert end > 0 and offsets == 0  # every signal still waits on the topic
        with open_log(postgres.url_with_schema(schema), create=False) as log:
            assert not list(log.entries(kind="signal_received"))

        postgres.execute(f'GRANT INSERT ON "{schema}".escalation_log TO "{role}"')
        _until(lambda: committed(broker.bootstrap_servers, group, signals)[0],
               "escalated after GRANT", worker)
        _until(lambda: _readyz(port)[1].get("escalation_log") == "up", "reported up", worker)
        assert _gauge(port) == 1
    finally:
        worker.terminate()
        assert worker.wait(timeout=60) == 0
    with open_log(postgres.url_with_schema(schema), create=False) as log:
        assert log.verify().ok
        received = [e.payload["signal_id"] for e in log.entries(kind="signal_received")]
    assert len(received) == len(set(received)) == len(expected)
    assert set(received) == set(expected)
    text = (tmp_path / "worker.log").read_text()
    assert "escalation_failed" in text and "escalation_recovered" in text
    assert "escalation_log_reopened" in text
