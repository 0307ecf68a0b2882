"""A record that makes the pipeline raise, on a real worker and the embedded broker: it is
quarantined (dead letter ``internal_error``), the worker never exits, and every other
event's signals and monitors equal a clean replay of the file without it.

The bug is injected into the worker subprocess by a ``sitecustomize`` module on its
``PYTHONPATH`` (Python imports it at start-up): ``Pipeline.observe`` raises on one event
(stage 1) and ``Pipeline.apply`` on another's observations (stage 2). Real poison inputs
(overflowing numbers and the like) are being made plain rejections, so a test that relied
on one would stop testing quarantine once they are fixed.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from streams.kafka.embedded_broker import EmbeddedBroker
from tests.support.topics import read_topic
from tests.support.worker_vs_replay import (
    replay_results,
    run_through,
    synthetic_file,
    worker_results,
)
from tests.support.workers import ROOT, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("plain_logging")]

INJECT = '''
from streams.pipeline.core import Pipeline

_observe, _apply = Pipeline.observe, Pipeline.apply


def observe(self, event, state, ref=None):
    if event.event_id == {stage1!r}:
        raise RuntimeError("injected stage-1 bug")
    return _observe(self, event, state, ref)


def apply(self, observation, state):
    if observation.event_id == {stage2!r}:
        raise RuntimeError("injected stage-2 bug")
    return _apply(self, observation, state)


Pipeline.observe, Pipeline.apply = observe, apply
'''


def test_poison_record_is_quarantined_and_the_worker_goes_on(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    events = synthetic_file(tmp_path / "events.jsonl", 1500)
    lines = events.read_text().splitlines()
    procedures = [i for i, line in enumerate(lines)
                  if json.loads(line).get("event_type") == "procedure"]
    poison = {json.loads(lines[i])["event_id"]: i for i in (procedures[50], procedures[400])}
    stage1, stage2 = poison
    clean = tmp_path / "clean.jsonl"
    clean.write_text("".join(line + "\n" for i, line in enumerate(lines)
                             if i not in poison.values()))
    expected_signals, expected_monitors, _ = replay_results(clean, tmp_path / "replay")

    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(INJECT.format(stage1=stage1, stage2=stage2))
    env = worker_env(broker, partitions=2)
    run_through(broker, env, events, tmp_path / "worker.log",
                worker_env=dict(env, PYTHONPATH=os.pathsep.join([str(inject), str(ROOT)])))
    signals, monitors, _ = worker_results(broker, env)
    assert expected_signals and signals == expected_signals
    assert monitors == expected_monitors
    dead = [value for _, value in read_topic(broker.bootstrap_servers,
                                             env["VIGIL_DEAD_LETTER_TOPIC"])]
    quarantined = [d for d in dead if d["reason_code"] == "internal_error"]
    assert Counter(d["stage"] for d in quarantined)["episodes"] == 1
    assert {d["event_id"] for d in quarantined if d["stage"] == "episodes"} == {stage1}
    assert {d["event_id"] for d in quarantined if d["stage"] == "entities"} == {stage2}
    assert "record_quarantined" in (tmp_path / "worker.log").read_text()
