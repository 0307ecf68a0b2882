"""Stage 1's marks of event-time progress: what stage 2's watermark is made of."""

from __future__ import annotations

import json

from streams.contract.pseudonym import Pseudonymiser
from streams.worker.ingest_stage import IngestStage
from streams.worker.records import Record

KEY = Pseudonymiser(b"k" * 32)
LINE = (b'{"event_id": "s1", "event_type": "submission", "registry": "r", '
        b'"occurred_at": "2026-01-05T09:30:00+00:00", "provider": {"ods_code": "RXF"}, '
        b'"period": "2026-01", "submitted": 3, "expected": 4}')


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def _messages(bundles: list[tuple[int, bytes]]) -> list[tuple[int, dict]]:
    return [(partition, json.loads(value)) for partition, value in bundles]


def test_a_partition_read_again_is_announced_active_before_its_records() -> None:
    clock = Clock()
    stage = IngestStage(KEY, 2, idle_timeout=5, clock=clock)
    stage.assigned([0])
    first = _messages(stage.run([Record(0, 0, LINE)]).bundles)
    # Every episodes partition hears of events partition 0: active before, time after.
    assert [p for p, _ in first] == [0, 1]
    assert all(m["pre"] == [["0", None, False, [100_000]]] for _, m in first)
    assert all(m["m"][0][:3] == ["0", 1767605400000000, False] for _, m in first)
    assert sum(len(m["i"]) for _, m in first) == 1
    clock.now += 6
    idle = _messages(stage.idle_marks([0]))
    assert [m["m"][0][2] for _, m in idle] == [True, True]
    assert stage.idle_marks([0]) == []  # once, until read again
    again = _messages(stage.run([Record(0, 1, LINE)]).bundles)
    assert all(m["pre"][0][2] is False for _, m in again)


def test_a_partition_behind_its_end_is_never_idle() -> None:
    """A worker recovering its tables, or lagging, has not read what is there: declaring
    its partitions idle would release what stage 2 holds ahead of them."""
    clock = Clock()
    stage = IngestStage(KEY, 1, idle_timeout=5, clock=clock)
    stage.assigned([0])
    clock.now += 60
    assert stage.idle_marks([0], caught_up=lambda partition: False) == []
    clock.now += 4  # caught up only now: the timeout counts from here
    assert stage.idle_marks([0], caught_up=lambda partition: True) == []
    clock.now += 2
    assert stage.idle_marks([0], caught_up=lambda partition: True)


def test_bad_input_is_a_dead_letter_and_no_mark_moves() -> None:
    stage = IngestStage(KEY, 1, idle_timeout=5, clock=Clock())
    out = stage.run([Record(0, 0, b"{oops")])
    assert dict(out.rejected) == {"invalid_json": 1} and len(out.dead_letters) == 1
    (_, message), = _messages(out.bundles)
    assert message["i"] == [] and message["m"][0][1] is None
