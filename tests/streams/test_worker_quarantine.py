"""A record on which a stage raises (a bug, not bad input) is quarantined: dead-lettered
with reason ``internal_error`` and a stack fingerprint, and every other record's results
equal a replay of the file without it. Stage functions over dict tables, no broker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import structlog

from streams.bundled_samples import sample_paths
from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.config import load_config
from streams.pipeline.core import Pipeline
from streams.pipeline.replay import replay
from streams.worker.quarantine import stack_fingerprint
from tests.support.stage_runs import LONG_LATENESS, Stages

KEY = Pseudonymiser(b"k" * 32)
NHS = "9998753473"  # in the sample's proc-2026-5


@pytest.fixture(autouse=True)
def _plain_logging() -> None:
    structlog.reset_defaults()


def _lines() -> list[bytes]:
    return [line for line in sample_paths()[0].read_bytes().splitlines() if line.strip()]


def _pipeline() -> Pipeline:
    return Pipeline(load_config(sample_paths()[1]))


def _replay(tmp_path: Path, lines: list[bytes]) -> tuple[set[str], list[dict[str, Any]], int]:
    summary = replay(lines, _pipeline(), tmp_path / "replay", KEY)
    signals = {json.dumps(json.loads(x), sort_keys=True)
               for x in (tmp_path / "replay" / "signals.jsonl").read_text().splitlines()}
    monitors = [json.loads(x) for x in
                (tmp_path / "replay" / "monitors.jsonl").read_text().splitlines()]
    return signals, monitors, sum(summary.rejected.values())


def _run(pipeline: Pipeline, lines: list[bytes], on_internal_error: str = "quarantine"
         ) -> tuple[set[str], list[dict[str, Any]], list[dict[str, Any]], list[Any]]:
    """The three stages in batches of 300 / 250: (signals, monitors, dead letters,
    critical log lines)."""
    stages = Stages(pipeline, 1, LONG_LATENESS, KEY, on_internal_error)  # type: ignore[arg-type]
    stages.feed(stages.events(lines), 300)
    stages.pump(250)
    stages.idle()
    stages.pump(250)
    return ({json.dumps(s, sort_keys=True) for s in stages.signals.values()},
            stages.monitors(pipeline.config), stages.dead_letters, stages.critical)


def _poison_observe(monkeypatch: pytest.MonkeyPatch, event_id: str) -> None:
    """``Pipeline.observe`` raises on ``event_id`` after doing its work (the state it
    edited in place must be put back)."""
    original = Pipeline.observe

    def observe(self: Pipeline, event: Any, state: Any, ref: Any = None) -> Any:
        result = original(self, event, state, ref)
        if event.event_id == event_id:
            raise RuntimeError(f"bug on {event_id} for patient {NHS}")
        return result

    monkeypatch.setattr(Pipeline, "observe", observe)


def test_stage1_exception_is_quarantined_and_the_rest_equals_replay(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _lines()
    poison = next(i for i, line in enumerate(lines) if b'"out-ep-2026-1"' in line)
    # The same outcome again later, under a new id: accepted only if quarantining the first
    # put its episode back as pending.
    retry = lines[poison].replace(b'"out-ep-2026-1"', b'"out-ep-2026-1-again"')
    lines.append(retry)
    signals, monitors, rejected = _replay(tmp_path, lines[:poison] + lines[poison + 1:])
    _poison_observe(monkeypatch, "out-ep-2026-1")
    got_signals, got_monitors, dead, critical = _run(_pipeline(), lines)
    assert (got_signals, got_monitors) == (signals, monitors) and signals
    quarantined = [d for d in dead if d["reason_code"] == "internal_error"]
    assert len(dead) == rejected + 1 and len(quarantined) == 1
    letter = quarantined[0]
    assert letter["stage"] == "episodes" and letter["event_id"] == "out-ep-2026-1"
    assert letter["source"] == [0, poison]
    assert letter["reason"] == "internal error (RuntimeError) in stage episodes"
    assert len(letter["fingerprint"]) == 16
    assert critical == [{"event": "record_quarantined", "stage": "episodes",
                         "event_id": "out-ep-2026-1", "reason_code": "internal_error",
                         "error_type": "RuntimeError", "fingerprint": letter["fingerprint"],
                         "source": [0, poison]}]


def test_quarantined_line_and_log_hold_no_nhs_number(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _lines()[:400]
    assert any(NHS.encode() in line for line in lines)
    _poison_observe(monkeypatch, "proc-2026-5")
    _, _, dead, critical = _run(_pipeline(), lines)
    (letter,) = [d for d in dead if d["reason_code"] == "internal_error"]
    assert letter["event_id"] == "proc-2026-5" and letter["raw"]
    assert NHS not in json.dumps(letter) and NHS not in json.dumps(critical)


def test_stage2_exception_is_quarantined_and_the_rest_equals_replay(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _lines()
    poison = next(i for i, line in enumerate(lines) if b'"proc-2026-5"' in line)
    signals, monitors, rejected = _replay(tmp_path, lines[:poison] + lines[poison + 1:])
    original = Pipeline.apply

    def apply(self: Pipeline, observation: Any, state: Any) -> Any:
        result = original(self, observation, state)  # monitors updated, then the bug
        if observation.event_id == "proc-2026-5":
            raise ZeroDivisionError("after the update")
        return result

    monkeypatch.setattr(Pipeline, "apply", apply)
    got_signals, got_monitors, dead, critical = _run(_pipeline(), lines)
    assert (got_signals, got_monitors) == (signals, monitors) and signals
    quarantined = [d for d in dead if d["reason_code"] == "internal_error"]
    # One observation message per entity the event's observation names.
    assert quarantined and len(dead) == rejected + len(quarantined) == rejected + len(critical)
    assert {d["stage"] for d in quarantined} == {"entities"}
    assert {d["event_id"] for d in quarantined} == {"proc-2026-5"}
    assert len({d["fingerprint"] for d in quarantined}) == 1
    assert NHS not in json.dumps(quarantined)


def test_stop_lets_the_exception_through(monkeypatch: pytest.MonkeyPatch) -> None:
    _poison_observe(monkeypatch, "proc-2026-5")
    with pytest.raises(RuntimeError):
        _run(_pipeline(), _lines()[:400], on_internal_error="stop")


def test_fingerprint_names_the_code_not_the_values() -> None:
    def fail(value: object) -> None:
        raise ValueError(f"bad {value}")

    def elsewhere(value: object) -> None:
        raise ValueError(f"bad {value}")

    prints = []
    for function, value in ((fail, NHS), (fail, "x"), (elsewhere, NHS)):
        try:
            function(value)
        except ValueError as error:
            prints.append(stack_fingerprint(error))
    assert prints[0] == prints[1] != prints[2]
