"""What an outlier report shows, gathered from one replay of the events (no rendering).

One pass through the pipeline (``streams.lookback.trace.trace_charts``) records every chart
the reports draw and collects every signal; the final monitor records give each entity's
observed and expected counts for the funnel plots. Cases come from the escalation log when
one is given (``EscalationEngine.cases``/``history``, as ``vigil case`` reads them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from signals.funnel import FunnelInput, FunnelSnapshot, funnel_snapshot
from streams.contract.events import Event, InvalidEvent
from streams.contract.signal import Signal
from streams.lookback.pack import LookBackPack, build_pack
from streams.lookback.trace import ChartKey, ChartTrace, supported, trace_charts
from streams.pipeline.core import Pipeline, PipelineState
from streams.pipeline.metric_kinds.binary_outcome import BinaryOutcome

Entity = tuple[str, str]


@dataclass(slots=True)
class CaseRecord:
    """A case as the report tells it: its summary and its history (time, what happened)."""

    case: dict[str, Any]
    history: list[tuple[str, str]]


@dataclass(slots=True)
class RegistryData:
    """Everything both reports draw on."""

    registry: str
    pipeline: Pipeline
    events: int
    first: str | None
    last: str | None
    signals: list[Signal]
    records: list[dict[str, Any]]
    traces: dict[ChartKey, ChartTrace]
    funnels: dict[tuple[str, str], FunnelSnapshot]
    cases: list[CaseRecord] = field(default_factory=list)

    def entities_with(self, level: str = "alarm") -> list[Entity]:
        """Entities with a signal of ``level`` on a chart the reports draw, in order."""
        found = {(s.entity_type, s.entity_id) for s in self.signals
                 if s.level.value == level and ChartKey.of(s) in self.traces}
        return sorted(found)


def _funnels(pipeline: Pipeline, records: Sequence[dict[str, Any]]
             ) -> dict[tuple[str, str], FunnelSnapshot]:
    rows: dict[tuple[str, str], dict[str, FunnelInput]] = {}
    for record in records:
        if record["entity_type"] in ("national", "segment") or not record.get("expected"):
            continue
        group = rows.setdefault((record["metric"], record["entity_type"]), {})
        group.setdefault(record["entity_id"], FunnelInput(
            record["entity_id"], float(record["observed"]), float(record["expected"])))
    return {key: funnel_snapshot(list(group.values())) for key, group in sorted(rows.items())
            if len(group) >= 2}


def gather(events: Sequence[tuple[int, Event]], pipeline: Pipeline,
           only: Entity | None = None) -> RegistryData:
    """Replay ``events`` once: signals, monitor records, funnels, and the traces of every
    chart of each entity with a signal (or of ``only``)."""
    first = PipelineState()
    signals: list[Signal] = []
    # A quick first pass finds which charts signalled; the second records their traces.
    for number, event in events:
        with contextlib.suppress(InvalidEvent):  # a rejected event has no observations
            signals.extend(pipeline.process(event, first, number))
        first.rejected.clear()
    records = list(pipeline.monitor_records(first))
    entities = {(s.entity_type, s.entity_id) for s in signals} if only is None else {only}
    keys = []
    for metric, kind in pipeline.kinds.items():
        if not isinstance(kind, BinaryOutcome):
            continue
        for (metric_name, etype, eid) in sorted(first.entities):
            if metric_name != metric or (etype, eid) not in entities:
                continue
            keys += [ChartKey(metric, etype, eid, name)
                     for name, mkind in zip(kind.monitor_names, kind.monitor_kinds,
                                            strict=True) if supported(mkind)]
    traces = trace_charts(events, pipeline, keys)
    times = [e.occurred_at for _, e in events]
    return RegistryData(pipeline.registry, pipeline, len(events),
                        min(times).isoformat() if times else None,
                        max(times).isoformat() if times else None,
                        signals, records, traces, _funnels(pipeline, records))


def latest_pack(data: RegistryData, key: ChartKey) -> LookBackPack | None:
    """The look-back of the chart's latest alarm (else latest signal), or ``None``."""
    trace = data.traces.get(key)
    if trace is None or not trace.signals:
        return None
    alarms = [s for s in trace.signals if s.level.value == "alarm"]
    return build_pack(trace, (alarms or trace.signals)[-1])


def read_cases(log: Any, entity: Entity | None = None) -> list[CaseRecord]:
    """The cases in an open escalation log (for ``entity`` only, when given), with their
    history as (time, kind) pairs."""
    from notifiers.engine import EscalationEngine

    engine = EscalationEngine(log)
    found = []
    for case in engine.cases(entity_id=entity[1] if entity else None):
        summary = case.to_dict()
        if entity is not None and summary["entity_type"] != entity[0]:
            continue
        history = [(entry.at.isoformat(), str(entry.kind))
                   for entry in engine.history(case.case_id)]
        found.append(CaseRecord(summary, history))
    return found


def signals_of(data: RegistryData, entity: Entity | None = None) -> Iterable[Signal]:
    """Signals (of ``entity``, when given), in the order they were raised."""
    return (s for s in data.signals
            if entity is None or (s.entity_type, s.entity_id) == entity)
