"""The pack download over HTTP on a running worker configured with
``VIGIL_LOOKBACK_EVENTS``: its dashboard reads a case from the escalation log and answers a
reader with the case's zip, the one whose SHA-256 the preliminary notice recorded."""

from __future__ import annotations

import hashlib
import io
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from notifiers.escalation import build_escalation
from notifiers.rules import default_rules_path
from streams.bundled_samples import sample_paths
from streams.kafka.embedded_broker import EmbeddedBroker
from streams.lookback.source import ReplayPackSource
from streams.pipeline.config import load_config
from streams.pipeline.core import Pipeline
from tests.streams.test_dashboard_packs import _sample_signals
from tests.support.escalation import ANALYST, at
from tests.support.workers import WorkerProcess, worker_env

pytestmark = pytest.mark.integration

READER = "reader-" + "0f1e2d3c4b5a6978" * 2


def _get(port: int, path: str, token: str | None = None
         ) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_a_worker_serves_a_cases_pack(broker: EmbeddedBroker, tmp_path: Path) -> None:
    events, config = sample_paths()
    url = f"sqlite:///{tmp_path / 'escalation.db'}"
    escalation = build_escalation(url, default_rules_path(), outbox=tmp_path / "outbox",
                                  packs=ReplayPackSource(events, Pipeline(load_config(config))))
    alarm = next(s for s in _sample_signals()
                 if s.monitor_kind == "ra_cusum" and s.level.value == "alarm"
                 and s.entity_type == "provider")
    when = at("2026-12-01 09:00")
    case_id = escalation.engine.receive(alarm, at=when).case_ids[0]
    escalation.engine.act(case_id, "confirm", by=ANALYST, at=when)
    notice = next(e.payload for e in escalation.log.entries(kind="notification_requested")
                  if e.payload["template"] == "preliminary_notice")
    escalation.log.close()

    env = worker_env(broker, partitions=1, VIGIL_ESCALATION_LOG=url,
                     VIGIL_API_TOKENS=f"{READER}:auditor:CQC",
                     VIGIL_LOOKBACK_EVENTS=str(events))
    worker = WorkerProcess(env, config, tmp_path / "worker.log")
    try:
        worker.wait_ready(timeout=90)
        path = f"/dashboard/api/cases/{case_id}/pack"
        assert _get(worker.port, path)[0] == 401
        assert _get(worker.port, "/dashboard/api/cases/no-such-case/pack", READER)[0] == 404
        status, headers, body = _get(worker.port, path, READER)
    finally:
        worker.terminate()
    assert status == 200, body[:200]
    assert headers["Content-Type"] == "application/zip"
    assert headers["Content-Disposition"] == f'attachment; filename="lookback-{case_id}.zip"'
    assert headers["X-Frame-Options"] == "DENY"
    assert hashlib.sha256(body).hexdigest() == \
        notice["message"]["body"]["look_back_pack"]["sha256"]
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
