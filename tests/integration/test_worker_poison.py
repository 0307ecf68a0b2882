"""Every poison kind of issue 11, interleaved with a valid registry stream, through a real
worker: it never exits, every bad message is on the dead-letter topic with its reason (no
NHS number in any of them, each far below the broker's message limit), and the signals and
monitors equal a clean run's, in the worker and in ``vigil replay`` of the same file.

Before issue 11 the deep line crashed the dead-letter path (``RecursionError``), the large
invalid line's dead letter exceeded the broker's limit (``MessageSizeTooLargeError``), the
huge integers and the extreme dates raised ``OverflowError`` (each a crash loop), and
NaN/``1e999``/``"yes"``/Unix times/the 1,000-fold GTIN were accepted.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from streams.kafka.embedded_broker import EmbeddedBroker
from tests.support.events import outcome, procedure
from tests.support.topics import read_topic
from tests.support.worker_vs_replay import (
    replay_results,
    run_through,
    synthetic_file,
    worker_results,
)
from tests.support.workers import worker_env

pytestmark = pytest.mark.integration

NHS = "9434765919"
"""A valid NHS number (Modulus 11): it must reach no output in any of its written forms."""
BROKER_MESSAGE_LIMIT = 1_000_000


def _with(event: dict[str, Any], **fields: Any) -> str:
    return json.dumps({**event, **fields})


def _risk(event_id: str, value: str) -> str:
    line = json.dumps(procedure(event_id, died=True))
    return line.replace('"parsonnet": 10', f'"parsonnet": {value}')


def poison() -> list[tuple[str | bytes, str]]:
    """(line, the reason code its dead letter must carry) for each poison kind."""
    base = procedure("x-base", died=False)
    revision = {"event_id": "x-gtin", "event_type": "revision", "registry": base["registry"],
                "occurred_at": base["occurred_at"], "episode_id": "ep-x-gtin",
                "provider": {"ods_code": "RXF"}, "devices": [{"gtin": "05012345678900"}] * 1000}
    submission = {"event_id": "x-sub", "event_type": "submission",
                  "registry": base["registry"], "occurred_at": base["occurred_at"],
                  "provider": {"ods_code": "RXF"}, "period": "2026-01",
                  "submitted": int("9" * 300), "expected": 100}
    return [
        (b'{"event_id": "x-deep", "x": ' + b"[" * 1500 + b"]" * 1500 + b"}", "invalid_json"),
        # Under 1 MB, but escaped into a dead letter it would have been over the limit.
        (b'{"event_id": "x-big", "x": "' + b"\x01" * 300_000 + b'"}', "invalid_json"),
        (_risk("x-int", "9" * 400), "invalid_event"),
        (json.dumps(submission), "invalid_event"),
        (_with(procedure("x-9999", died=False), occurred_at="9999-12-31T23:59:59-05:00"),
         "invalid_event"),
        (_with(procedure("x-0001", died=False), occurred_at="0001-01-01T00:00:00+05:00"),
         "invalid_event"),
        (_risk("x-nan", "NaN"), "invalid_event"),
        (_risk("x-inf", "Infinity"), "invalid_event"),
        (_risk("x-1e999", "1e999"), "invalid_event"),
        (_with(procedure("x-yes"), outcomes={"death_30d": "yes"}), "invalid_event"),
        (_with(procedure("x-off"), outcomes={"death_30d": "off"}), "invalid_event"),
        (_with(procedure("x-one"), outcomes={"death_30d": 1}), "invalid_event"),
        (_with(procedure("x-unix", died=False), occurred_at=1767225600), "invalid_event"),
        (json.dumps(revision), "invalid_event"),
        (_with(procedure("x-type", died=False), event_type=f"nhs-{NHS}"),
         "unknown_event_type"),
        ('{"event_id": "x-esc", "nhs": "\\u0039434765919", oops', "invalid_json"),
        ('{"event_id": "x-dot", "nhs": "943.476.5919", oops', "invalid_json"),
        (json.dumps(outcome("x-late", "ep-nowhere", True)), "unknown_episode"),
    ]


def test_every_poison_kind_is_dead_lettered_and_monitoring_goes_on(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    clean = synthetic_file(tmp_path / "clean.jsonl", 1500, seed=17)
    clean_signals, clean_monitors, _ = replay_results(clean, tmp_path / "clean-replay")
    assert clean_signals
    lines: list[str | bytes] = list(clean.read_text().splitlines())
    bad = poison()
    rng = random.Random(3)
    for line, _ in bad:
        lines.insert(rng.randrange(len(lines) + 1), line)
    events = tmp_path / "events.jsonl"
    with events.open("wb") as out:
        for line in lines:
            out.write((line if isinstance(line, bytes) else line.encode()) + b"\n")

    # Replay of the poisoned file: the clean run's answer, every poison line rejected.
    signals, monitors, summary = replay_results(events, tmp_path / "replay")
    assert signals == clean_signals and monitors == clean_monitors
    assert summary.rejected == Counter(code for _, code in bad)

    env = worker_env(broker)
    run_through(broker, env, events, tmp_path / "worker.log")
    signals, monitors, _ = worker_results(broker, env)
    assert signals == clean_signals
    assert monitors == clean_monitors
    raw = read_topic(broker.bootstrap_servers, env["VIGIL_DEAD_LETTER_TOPIC"])
    dead = [value for _, value in raw]
    assert Counter(d["reason_code"] for d in dead) == Counter(code for _, code in bad)
    for letter in dead:
        text = json.dumps(letter)
        assert len(text.encode()) < BROKER_MESSAGE_LIMIT // 10
        assert NHS not in text and "943.476.5919" not in text
        assert "nhs-" not in letter["reason"]  # an unknown event_type is not echoed
