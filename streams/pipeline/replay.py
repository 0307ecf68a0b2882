"""``vigil replay``: run a file of events through the pipeline and write what it found.

The events are applied in the canonical order (``streams.pipeline.order``): by
``occurred_at``, then ``event_id``, whatever their order in the file. A file already in
that order is read as it is; any other is sorted first (in memory), so a file's answer does
not depend on how its lines were arranged, and equals the worker's however the events were
produced. Rejections are written in line order.

Outputs in ``DIR``: ``signals.jsonl`` (every signal, as it is raised), ``monitors.jsonl``
(the final state of every monitor) and ``rejected.jsonl`` (every unusable line with its line
number, ``event_id`` where readable, a reason code and a precise reason, and the line itself
with any NHS number replaced by its pseudonym). Bad lines never stop the run.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import structlog

from streams.contract.events import Event, InvalidEvent, OutcomeEvent, parse_event
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


def replay(
    lines: Iterable[bytes],
    pipeline: Pipeline,
    out_dir: Path,
    pseudonymiser: Pseudonymiser,
    state: PipelineState | None = None,
) -> ReplaySummary:
    """Process ``lines`` (raw JSONL) in the canonical order, writing the outputs into
    ``out_dir``."""
    state = state if state is not None else PipelineState()
    summary = ReplaySummary()
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rejections: list[tuple[int, bytes, InvalidEvent]] = []
    events, count, in_order = _read(lines, pseudonymiser, rejections)
    if not in_order:
        events.sort(key=lambda item: item[0])
    outcome_lines = {number: line for _, number, line, event in events
                     if isinstance(event, OutcomeEvent)}
    accepted = 0
    with open(out_dir / "signals.jsonl", "w", encoding="utf-8") as signals_out:
        # The hot loop: one pass per event, counters in locals.
        process = pipeline.process
        for _, number, line, event in events:
            try:
                signals = process(event, state, number)
            except InvalidEvent as error:
                rejections.append((number, line, error))
                continue
            finally:
                if state.rejected:
                    accepted -= _orphans_rejected(state, outcome_lines, rejections)
            accepted += 1
            for signal in signals:
                summary.signals[signal.level.value, signal.direction.value] += 1
                signals_out.write(signal.to_json() + "\n")
        pipeline.expire(FOREVER, state)
        accepted -= _orphans_rejected(state, outcome_lines, rejections)
    summary.lines, summary.accepted = count, accepted
    with open(out_dir / "rejected.jsonl", "w", encoding="utf-8") as rejected_out:
        for number, line, reason in sorted(rejections, key=lambda r: r[0]):
            summary.rejected[reason.code] += 1
            _reject(rejected_out, number, line, reason, pseudonymiser)
    with open(out_dir / "monitors.jsonl", "w", encoding="utf-8") as monitors_out:
        for record in pipeline.monitor_records(state):
            summary.monitors += 1
            monitors_out.write(_dumps(record))
    summary.pending_episodes = len(state.pending)
    summary.seconds = time.perf_counter() - started
    log.info("replay_finished", **summary.as_dict())
    return summary


def _read(lines: Iterable[bytes], pseudonymiser: Pseudonymiser,
          rejections: list[tuple[int, bytes, InvalidEvent]]
          ) -> tuple[list[tuple[EventKey, int, bytes, Event]], int, bool]:
    """Every valid event with its canonical key, line number and line (for its rejection
    record, should the pipeline reject it); the count of non-blank lines; whether the
    events were already in canonical order."""
    events: list[tuple[EventKey, int, bytes, Event]] = []
    count, in_order, last = 0, True, None
    for number, line in enumerate(lines, start=1):
        if not line or line.isspace():
            continue
        count += 1
        try:
            event = parse_event(line, pseudonymiser)
        except InvalidEvent as error:
            rejections.append((number, line, error))
            continue
        key = event_key(event.occurred_at, event.event_id, line)
        if last is not None and key < last:
            in_order = False
        last = key
        events.append((key, number, line, event))
    return events, count, in_order


def _orphans_rejected(state: PipelineState, lines: dict[int, bytes],
                      rejections: list[tuple[int, bytes, InvalidEvent]]) -> int:
    """Move the outcomes the pipeline gave up waiting for into ``rejections``."""
    count = len(state.rejected)
    for orphan, error in state.rejected:
        rejections.append((orphan.ref, lines.get(orphan.ref, b""), error))
    state.rejected.clear()
    return count


def _reject(out: IO[str], number: int, line: bytes, error: InvalidEvent,
            pseudonymiser: Pseudonymiser) -> None:
    record = {"line": number, **rejection_record(line, error, pseudonymiser)}
    log.warning("event_rejected", line=number, event_id=record["event_id"],
                reason_code=record["reason_code"], reason=record["reason"])
    out.write(_dumps(record))
