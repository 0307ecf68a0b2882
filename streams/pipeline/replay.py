"""``vigil replay``: run a file of events through the pipeline and write what it found.

The events are applied in the canonical order (``streams.pipeline.order``): by
``occurred_at``, then ``event_id``, whatever their order in the file. A file in event-time
order is read in one pass (each instant's events put in ``event_id`` order); any other is
sorted first (its lines in memory), so a file's answer does not depend on how its lines
were arranged, and equals the worker's however the events were produced. Rejections are
written in line order.

Outputs in ``DIR``: ``signals.jsonl`` (every signal, as it is raised), ``monitors.jsonl``
(the final state of every monitor) and ``rejected.jsonl`` (every unusable line with its line
number, ``event_id`` where readable, a reason code and a precise reason, and the line itself
with any NHS number replaced by its pseudonym). Bad lines never stop the run.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import structlog

from streams.contract.events import Event, InvalidEvent, parse_event
from streams.contract.pseudonym import Pseudonymiser
from streams.contract.rejections import rejection_record
from streams.pipeline.core import Pipeline, PipelineState
from streams.pipeline.order import FOREVER, EventKey, event_key

log = structlog.get_logger("vigil.replay")


@dataclass(slots=True)
class ReplaySummary:
    """What a replay read, used and found."""

    lines: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    signals: Counter[tuple[str, str]] = field(default_factory=Counter)
    monitors: int = 0
    pending_episodes: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "accepted": self.accepted,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "signals": sum(self.signals.values()),
            "signals_by_level_direction": {
                f"{level}/{direction}": n for (level, direction), n in sorted(self.signals.items())
            },
            "monitors": self.monitors,
            "pending_episodes": self.pending_episodes,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.lines / self.seconds) if self.seconds else None,
        }


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


class _Disordered(Exception):
    """An event earlier in event time than one already applied: sort the file instead."""


Rejections = list[tuple[int, bytes, InvalidEvent]]
Ordered = Iterator[tuple[EventKey, int, Event]]


def replay(
    lines: Iterable[bytes],
    pipeline: Pipeline,
    out_dir: Path,
    pseudonymiser: Pseudonymiser,
    state: PipelineState | None = None,
) -> ReplaySummary:
    """Process ``lines`` (raw JSONL) in the canonical order, writing the outputs into
    ``out_dir``.

    A file in event-time order is read in one pass (the events of one instant are put in
    ``event_id`` order); at the first event earlier than one already applied the pass is
    abandoned and the file is sorted: its lines are kept (not the parsed events, which take
    ten times the memory) and parsed again in the canonical order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    kept: list[bytes] = []
    source = iter(lines)
    if state is None:
        try:
            rejections: Rejections = []
            summary = _apply(pipeline, out_dir, PipelineState(), kept, rejections,
                             _in_time_order(source, kept, pseudonymiser, rejections))
        except _Disordered:
            kept.extend(source)
            rejections = []
            summary = _apply(pipeline, out_dir, PipelineState(), kept, rejections,
                             _sorted(kept, pseudonymiser, rejections))
    else:
        kept.extend(source)
        rejections = []
        summary = _apply(pipeline, out_dir, state, kept, rejections,
                         _sorted(kept, pseudonymiser, rejections))
    summary.lines = sum(1 for line in kept if line and not line.isspace())
    with open(out_dir / "rejected.jsonl", "w", encoding="utf-8") as rejected_out:
        for number, line, reason in sorted(rejections, key=lambda r: r[0]):
            summary.rejected[reason.code] += 1
            _reject(rejected_out, number, line, reason, pseudonymiser)
    summary.seconds = time.perf_counter() - started
    log.info("replay_finished", **summary.as_dict())
    return summary


def canonical_events(lines: Iterable[bytes], pseudonymiser: Pseudonymiser
                     ) -> list[tuple[int, Event]]:
    """Every valid event of ``lines`` with its line number, in the canonical order, as
    replay applies them (rejected lines left out)."""
    kept: list[bytes] = []
    source = iter(lines)
    try:
        return [(n, e) for _, n, e in _in_time_order(source, kept, pseudonymiser, [])]
    except _Disordered:
        kept.extend(source)
        return [(n, e) for _, n, e in _sorted(kept, pseudonymiser, [])]


def _apply(pipeline: Pipeline, out_dir: Path, state: PipelineState, kept: list[bytes],
           rejections: Rejections, events: Ordered) -> ReplaySummary:
    """Run ``events`` through the pipeline; write signals and monitors."""
    summary = ReplaySummary()
    accepted = 0
    with open(out_dir / "signals.jsonl", "w", encoding="utf-8") as signals_out:
        # The hot loop: one pass per event, counters in locals.
        process = pipeline.process
        for _, number, event in events:
            try:
                signals = process(event, state, number)
            except InvalidEvent as error:
                rejections.append((number, kept[number - 1], error))
                continue
            finally:
                if state.rejected:
                    accepted -= _orphans_rejected(state, kept, rejections)
            accepted += 1
            for signal in signals:
                summary.signals[signal.level.value, signal.direction.value] += 1
                signals_out.write(signal.to_json() + "\n")
        pipeline.expire(FOREVER, state)
        accepted -= _orphans_rejected(state, kept, rejections)
    summary.accepted = accepted
    with open(out_dir / "monitors.jsonl", "w", encoding="utf-8") as monitors_out:
        for record in pipeline.monitor_records(state):
            summary.monitors += 1
            monitors_out.write(_dumps(record))
    summary.pending_episodes = len(state.pending)
    return summary


def _parsed(number: int, line: bytes, pseudonymiser: Pseudonymiser,
            rejections: Rejections) -> tuple[EventKey, int, Event] | None:
    if not line or line.isspace():
        return None
    try:
        event = parse_event(line, pseudonymiser)
    except InvalidEvent as error:
        rejections.append((number, line, error))
        return None
    return event_key(event.occurred_at, event.event_id, line), number, event


def _in_time_order(lines: Iterator[bytes], kept: list[bytes], pseudonymiser: Pseudonymiser,
                   rejections: Rejections) -> Ordered:
    """The events of a file in event-time order, each instant's in canonical order;
    ``_Disordered`` at the first that goes back in time."""
    group: list[tuple[EventKey, int, Event]] = []
    for number, line in enumerate(lines, start=1):
        kept.append(line)
        found = _parsed(number, line, pseudonymiser, rejections)
        if found is None:
            continue
        if group and found[0].time_us != group[0][0].time_us:
            if found[0].time_us < group[0][0].time_us:
                raise _Disordered
            if len(group) > 1:
                group.sort(key=lambda item: (item[0], item[1]))
            yield from group
            group = []
        group.append(found)
    group.sort(key=lambda item: (item[0], item[1]))
    yield from group


def _sorted(kept: list[bytes], pseudonymiser: Pseudonymiser, rejections: Rejections
            ) -> Ordered:
    """Every event of ``kept`` in the canonical order, parsed again in that order."""
    keys = []
    for number, line in enumerate(kept, start=1):
        found = _parsed(number, line, pseudonymiser, rejections)
        if found is not None:
            keys.append((found[0], number))
    keys.sort()
    ignored: Rejections = []
    for key, number in keys:
        found = _parsed(number, kept[number - 1], pseudonymiser, ignored)
        assert found is not None
        yield key, number, found[2]


def _orphans_rejected(state: PipelineState, kept: list[bytes], rejections: Rejections) -> int:
    """Move the outcomes the pipeline gave up waiting for into ``rejections``."""
    count = len(state.rejected)
    for orphan, error in state.rejected:
        rejections.append((orphan.ref, kept[orphan.ref - 1], error))
    state.rejected.clear()
    return count


def _reject(out: IO[str], number: int, line: bytes, error: InvalidEvent,
            pseudonymiser: Pseudonymiser) -> None:
    record = {"line": number, **rejection_record(line, error, pseudonymiser)}
    log.warning("event_rejected", line=number, event_id=record["event_id"],
                reason_code=record["reason_code"], reason=record["reason"])
    out.write(_dumps(record))
