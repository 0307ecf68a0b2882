"""The dashboard's pack download (``GET /dashboard/api/cases/{case_id}/pack``), through
the route's handler with a real escalation engine and a replay pack source on the bundled
sample: a reader gets the case's zip (the pack the notice named), anyone else 401; an
unknown case or a signal with no look-back 404; no source 503. Every answer carries the
security headers. (Over HTTP on a worker: ``tests/integration/test_dashboard_access.py``.)"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

import pytest

from notifiers.escalation import build_escalation
from notifiers.rules import default_rules_path
from streams.bundled_samples import sample_paths
from streams.contract.pseudonym import Pseudonymiser
from streams.contract.signal import Signal
from streams.dashboard.access import SECURITY_HEADERS
from streams.dashboard.packs import PATH, PackDownload, register_pack_download
from streams.lookback.source import ReplayPackSource
from streams.pipeline.config import load_config
from streams.pipeline.core import Pipeline, PipelineState
from streams.pipeline.replay import canonical_events
from tests.support.escalation import ANALYST, at

READER = "reader-" + "c3" * 16
PRINCIPALS = {READER: ("auditor", "CQC"), "op-" + "d4" * 16: ("operator", "Dr A")}


@dataclass
class Answer:
    body: Any
    status: int
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


class View:
    """What the handler uses of a faust view: ``json`` and ``bytes`` answers."""

    def json(self, value: Any, *, status: int = 200, headers: Any = None) -> Answer:
        return Answer(value, status, "application/json", dict(headers or {}))

    def bytes(self, value: bytes, *, content_type: str, status: int = 200,
              headers: Any = None) -> Answer:
        return Answer(value, status, content_type, dict(headers or {}))


class App:
    """Keeps the handler ``app.page`` registers."""

    def __init__(self) -> None:
        self.pages: dict[str, Any] = {}

    def page(self, path: str, name: str) -> Any:
        def keep(handler: Any) -> Any:
            self.pages[path] = handler
            return handler
        return keep


@dataclass
class Request:
    headers: dict[str, str]


class Dashboard:
    def __init__(self, engine: Any) -> None:
        self._engine = engine

    def engine(self) -> Any:
        return self._engine


def _sample_signals() -> list[Signal]:
    events, config = sample_paths()
    pipeline = Pipeline(load_config(config))
    state = PipelineState()
    with events.open("rb") as lines:
        ordered = canonical_events(lines, Pseudonymiser.ephemeral())
    found: list[Signal] = []
    for number, event in ordered:
        found.extend(pipeline.process(event, state, number))
        state.rejected.clear()
    return found


@pytest.fixture(scope="module")
def wired() -> dict[str, Any]:
    events, config = sample_paths()
    packs = ReplayPackSource(events, Pipeline(load_config(config)))
    escalation = build_escalation("memory://", default_rules_path(), packs=packs)
    engine = escalation.engine
    when = at("2026-12-01 09:00")
    alarm = next(s for s in _sample_signals()
                 if s.monitor_kind == "ra_cusum" and s.level.value == "alarm"
                 and s.entity_type == "provider")
    case_id = engine.receive(alarm, at=when).case_ids[0]
    engine.act(case_id, "confirm", by=ANALYST, at=when)  # the preliminary notice
    unpackable = Signal.parse({**alarm.to_dict(), "signal_id": "s-poisson",
                               "monitor_kind": "poisson_cusum", "entity_id": "R9Z",
                               "provider": "R9Z"})
    other = engine.receive(unpackable, at=when).case_ids[0]
    notice = next(e.payload for e in escalation.log.entries(kind="notification_requested")
                  if e.payload["template"] == "preliminary_notice")
    return {"engine": engine, "packs": packs, "case_id": case_id, "alarm": alarm,
            "unpackable_case": other, "notice": notice}


def _get(wired: dict[str, Any], case_id: str, token: str | None = READER,
         packs: Any = "configured") -> Answer:
    app = App()
    source = wired["packs"] if packs == "configured" else packs
    register_pack_download(app, PackDownload(Dashboard(wired["engine"]), source), PRINCIPALS)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer: Answer = asyncio.run(app.pages[PATH](View(), Request(headers), case_id=case_id))
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers[name] == value
    return answer


def test_a_reader_downloads_the_pack_the_notice_named(wired: dict[str, Any]) -> None:
    case_id = wired["case_id"]
    answer = _get(wired, case_id)
    assert answer.status == 200 and answer.content_type == "application/zip"
    assert answer.headers["Content-Disposition"] == \
        f'attachment; filename="lookback-{case_id}.zip"'
    record = wired["notice"]["message"]["body"]["look_back_pack"]
    assert record["attached"] and record["url"] == f"/dashboard/api/cases/{case_id}/pack"
    assert hashlib.sha256(answer.body).hexdigest() == record["sha256"]
    with zipfile.ZipFile(io.BytesIO(answer.body)) as archive:
        assert archive.testzip() is None
        pack = json.loads(next(archive.read(n) for n in archive.namelist()
                               if n.endswith("pack.json")))
    assert pack["case_id"] == case_id and pack["signal_id"] == wired["alarm"].signal_id
    assert pack["episodes"][-1]["n"] == wired["alarm"].n


@pytest.mark.parametrize("token", [None, "not-a-token", READER[:-1]])
def test_no_reader_token_is_401(wired: dict[str, Any], token: str | None) -> None:
    answer = _get(wired, wired["case_id"], token)
    assert answer.status == 401 and answer.headers["WWW-Authenticate"] == "Bearer"


def test_an_unknown_case_is_404(wired: dict[str, Any]) -> None:
    answer = _get(wired, "no-such-case")
    assert (answer.status, answer.body) == (404, {"error": "no such case"})


def test_a_signal_with_no_look_back_is_404_with_the_reason(wired: dict[str, Any]) -> None:
    answer = _get(wired, wired["unpackable_case"])
    assert answer.status == 404 and "poisson_cusum" in answer.body["error"]


def test_without_a_source_it_is_503_with_the_reason(wired: dict[str, Any]) -> None:
    answer = _get(wired, wired["case_id"], packs=None)
    assert answer.status == 503 and "VIGIL_LOOKBACK_EVENTS" in answer.body["error"]


def test_a_missing_events_file_is_503(wired: dict[str, Any], tmp_path: Any) -> None:
    source = ReplayPackSource(tmp_path / "events.jsonl", wired["packs"].pipeline)
    answer = _get(wired, wired["case_id"], packs=source)
    assert answer.status == 503 and "events.jsonl is not there" in answer.body["error"]
