"""``vigil case confirm --config C`` with ``VIGIL_LOOKBACK_EVENTS``: the preliminary notice
the confirmation writes carries its look-back pack, as one written by the escalation side
or from the dashboard does; without ``--config`` it says why none is attached."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from notifiers.escalation import build_escalation
from notifiers.log.escalation_log import open_log
from notifiers.rules import default_rules_path
from streams.bundled_samples import sample_paths
from streams.cli.main import main
from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.config import load_config
from streams.pipeline.core import Pipeline, PipelineState
from streams.pipeline.replay import canonical_events
from tests.support.escalation import at

TOKEN = "op-" + "e5" * 16


def _screening_case(url: str) -> str:
    events, config = sample_paths()
    pipeline, state = Pipeline(load_config(config)), PipelineState()
    with events.open("rb") as lines:
        ordered = list(canonical_events(lines, Pseudonymiser.ephemeral()))
    alarm = next(s for number, event in ordered for s in pipeline.process(event, state, number)
                 if s.monitor_kind == "ra_cusum" and s.level.value == "alarm"
                 and s.entity_type == "provider")
    escalation = build_escalation(url, default_rules_path())
    try:
        return str(escalation.engine.receive(alarm, at=at("2026-12-01 09:00")).case_ids[0])
    finally:
        escalation.log.close()


def _notice(url: str) -> dict[str, Any]:
    with open_log(url, create=False) as log:
        payload: dict[str, Any] = next(
            e.payload for e in log.entries(kind="notification_requested")
            if e.payload["template"] == "preliminary_notice")
    return payload


@pytest.mark.parametrize("with_config", [True, False])
def test_a_confirmation_from_the_command_line_attaches_the_pack(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_config: bool) -> None:
    events, config = sample_paths()
    url = f"sqlite:///{tmp_path / 'log.db'}"
    case_id = _screening_case(url)
    monkeypatch.setenv("VIGIL_API_TOKENS", f"{TOKEN}:operator:Dr A")
    monkeypatch.setenv("VIGIL_API_TOKEN", TOKEN)
    monkeypatch.setenv("VIGIL_LOOKBACK_EVENTS", str(events))
    argv = ["case", "confirm", case_id, "--log", url]
    assert main(argv + (["--config", str(config)] if with_config else [])) == 0
    notice = _notice(url)
    if with_config:
        pack = notice["message"]["body"]["look_back_pack"]
        assert pack["attached"] and len(pack["sha256"]) == 64, pack
    else:
        assert notice["message"]["body"]["look_back_pack"]["attached"] is False
        assert "No look-back pack is attached" in notice["message"]["text"]
