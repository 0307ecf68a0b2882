"""One chart's history, recorded by replaying events through the pipeline.

The events go through ``Pipeline.process`` exactly as ``vigil replay`` applies them (the
canonical order of ``streams.pipeline.replay.canonical_events``); an observer reads the
chart's monitor before and after each observation of its entity, so the statistic in a
trace is the pipeline's own, never a re-implementation. The contribution of each episode
(the CUSUM's log-likelihood-ratio weight ``W``, VLAD's ``p − y``) comes from the same
formulas the monitors use (``signals.ra_cusum.llr_score``).

Only what a look-back pack may show is kept: event time, the provider's episode reference,
predicted risk, outcome, weight and statistic. No patient field of an event is read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from signals.bernoulli_cusum import BernoulliCusum
from signals.observations import Outcome
from signals.ra_cusum import UNCALIBRATED, llr_score
from signals.vlad import Vlad
from streams.contract.events import Event, InvalidEvent
from streams.contract.signal import Signal
from streams.pipeline.core import Pipeline, PipelineState
from streams.pipeline.metric_kinds.base import Observation
from streams.pipeline.metric_kinds.binary_outcome import BinaryOutcome, Charts
from streams.pipeline.order import to_us

SUPPORTED = ("ra_cusum", "bernoulli_cusum", "vlad")
"""The monitor kinds a trace (and so a look-back pack) can follow."""


class ChartKey(NamedTuple):
    """Which chart: a metric's monitor for one entity."""

    metric: str
    entity_type: str
    entity_id: str
    monitor: str

    @classmethod
    def of(cls, signal: Signal) -> ChartKey:
        """The chart a signal came from."""
        return cls(signal.metric, signal.entity_type, signal.entity_id, signal.monitor)


class ChartPoint(NamedTuple):
    """One update of the chart: the ``n``-th observation it counted.

    ``occurred_at`` is the episode's event time (its procedure), ``recorded_at`` the event
    time at which the chart counted it (its outcome's, when that came later): the chart
    moves in ``recorded_at`` order. ``statistic`` is the chart value this observation
    produced (before an alarm's reset),
    ``after`` the value the chart went on from (0 after a reset); ``alert_h``/``alarm_h``
    the limits in force (``None`` where the chart has none or was not yet calibrated).
    """

    n: int
    occurred_at: datetime
    recorded_at: datetime
    episode_id: str | None
    p: float
    y: int
    weight: float
    statistic: float
    after: float
    alert_h: float | None
    alarm_h: float | None


@dataclass(slots=True)
class ChartTrace:
    """Everything recorded of one chart: its kind, its updates and the signals it raised."""

    key: ChartKey
    monitor_kind: str
    direction: str
    points: list[ChartPoint] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    risk_model_version: str | None = None


def _limits(monitor: Any) -> tuple[float | None, float | None]:
    if isinstance(monitor, Vlad):
        return monitor.alert_below, monitor.alarm_below
    alert, alarm = monitor.alert_h, monitor.alarm_h
    if alarm is not None and alarm >= UNCALIBRATED / 4:
        return None, None  # a per-entity chart before its entity's baseline was read
    return alert, alarm


def _weight(monitor: Any, outcome: Outcome) -> float:
    if isinstance(monitor, Vlad):
        return outcome.p - outcome.y
    if isinstance(monitor, BernoulliCusum):
        return llr_score(outcome.y, monitor.p0, monitor.odds_ratio)
    return llr_score(outcome.y, outcome.p, monitor.odds_ratio)


class _Recorder:
    """The observer: notes the monitor's state before each observation of the entity, and
    completes the point once the pipeline has applied it (at the next observation, or when
    ``process`` returns)."""

    def __init__(self, pipeline: Pipeline, state: PipelineState, trace: ChartTrace) -> None:
        self.state, self.trace = state, trace
        key = trace.key
        kind = pipeline.kinds[key.metric]
        self.index = kind.monitor_names.index(key.monitor)  # type: ignore[attr-defined]
        self.entity = (key.entity_type, key.entity_id)
        self.waiting: tuple[Observation, float, int] | None = None
        self.now: datetime | None = None
        """The event time of the event being processed."""

    def monitor(self) -> Any:
        charts = self.state.entities.get(self.trace.key[:3])
        return charts.monitors[self.index] if isinstance(charts, Charts) else None

    def __call__(self, observation: Observation) -> None:
        self.complete()
        if observation.metric != self.trace.key.metric or self.entity not in \
                observation.entities:
            return
        monitor = self.monitor()
        before = (0.0, 0) if monitor is None else (monitor.statistic, monitor.n)
        self.waiting = (observation, *before)

    def complete(self) -> None:
        if self.waiting is None:
            return
        observation, before, n_before = self.waiting
        self.waiting = None
        monitor = self.monitor()
        if monitor is None or monitor.n == n_before:
            return  # a baseline-period case: read for calibration, not monitored
        outcome = observation.values
        assert isinstance(outcome, Outcome)
        weight = _weight(monitor, outcome)
        after = float(monitor.statistic)
        if isinstance(monitor, Vlad):
            statistic = after
        else:
            statistic = after if after > 0.0 else max(0.0, before + weight)
        alert, alarm = _limits(monitor)
        self.trace.points.append(ChartPoint(
            monitor.n, observation.occurred_at, self.now or observation.occurred_at,
            observation.episode_id, outcome.p, outcome.y,
            weight, statistic, after, alert, alarm))


def trace_chart(events: Iterable[tuple[int, Event]], pipeline: Pipeline, key: ChartKey,
                until_n: int | None = None) -> ChartTrace:
    """Replay ``events`` (canonical order, with their line numbers) and record ``key``'s
    chart; stop once it has counted ``until_n`` observations (the signal's ``n``).

    ``ValueError`` if the metric, the monitor or its kind cannot be traced.

    >>> from streams.bundled_samples import sample_paths
    >>> from streams.contract.pseudonym import Pseudonymiser
    >>> from streams.pipeline.config import load_config
    >>> from streams.pipeline.replay import canonical_events
    >>> events_path, config_path = sample_paths()
    >>> pipeline = Pipeline(load_config(config_path))
    >>> with events_path.open("rb") as lines:
    ...     events = canonical_events(lines, Pseudonymiser.ephemeral())
    >>> trace = trace_chart(events, pipeline,
    ...                     ChartKey("death_30d", "provider", "R1A", "ra_cusum_or2"), 40)
    >>> len(trace.points), trace.points[-1].n, trace.monitor_kind, trace.direction
    (40, 40, 'ra_cusum', 'worse')
    """
    return trace_charts(events, pipeline, [key], until_n)[key]


def _new_trace(pipeline: Pipeline, key: ChartKey) -> ChartTrace:
    kind = pipeline.kinds.get(key.metric)
    if not isinstance(kind, BinaryOutcome):
        raise ValueError(f"metric {key.metric!r}: look-back packs need a binary_outcome "
                         "metric (episodes with a predicted risk and an outcome)")
    if key.monitor not in kind.monitor_names:
        raise ValueError(f"metric {key.metric!r} has no monitor {key.monitor!r}")
    monitor_kind = kind.monitor_kinds[kind.monitor_names.index(key.monitor)]
    if monitor_kind not in SUPPORTED:
        raise ValueError(f"monitor {key.monitor!r} is a {monitor_kind}: look-back packs "
                         f"follow {', '.join(SUPPORTED)}")
    probe = kind.new_entity(key.entity_type)
    assert isinstance(probe, Charts)
    direction = probe.monitors[kind.monitor_names.index(key.monitor)].direction
    return ChartTrace(key, monitor_kind, "worse" if direction is None else direction.value,
                      risk_model_version=kind.model.version)


def trace_charts(events: Iterable[tuple[int, Event]], pipeline: Pipeline,
                 keys: Iterable[ChartKey], until_n: int | None = None
                 ) -> dict[ChartKey, ChartTrace]:
    """:func:`trace_chart` for several charts in one replay (a report's charts); with
    ``until_n`` (one chart only) the replay stops at that observation."""
    traces = {key: _new_trace(pipeline, key) for key in keys}
    wanted = {key[:3] for key in traces}
    state = PipelineState()
    recorders = [_Recorder(pipeline, state, trace) for trace in traces.values()]

    def observed(observation: Observation) -> None:
        for recorder in recorders:
            recorder(observation)

    for number, event in events:
        signals: list[Signal] = []
        for recorder in recorders:
            recorder.now = event.occurred_at
        with contextlib.suppress(InvalidEvent):  # a rejected event has no observations
            signals = _process_charted(pipeline, event, state, number, observed, wanted)
        for recorder in recorders:
            recorder.complete()
        for signal in signals:
            trace = traces.get(ChartKey.of(signal))
            if trace is not None:
                trace.signals.append(signal)
        state.rejected.clear()
        if until_n is not None and len(traces) == 1:
            points = next(iter(traces.values())).points
            if points and points[-1].n >= until_n:
                break
    return traces


def _process_charted(pipeline: Pipeline, event: Event, state: PipelineState, ref: int,
                     observed: Callable[[Observation], None],
                     wanted: set[tuple[str, str, str]]) -> list[Signal]:
    """``pipeline.process`` with stage 2 applied only to the entities of the charts traced.

    Stage 1 (joins, expiry, duplicates) needs every event; stage 2 does not, because each
    entity's monitors depend only on its own observations (and the config): the other
    entities' per-entity calibrations, most of a replay's time, are skipped. The traced
    charts' statistics, limits and signals are the full replay's."""
    pipeline.expire(to_us(event.occurred_at), state)
    signals: list[Signal] = []
    for observation in pipeline.observe(event, state, ref):
        entities = tuple(e for e in observation.entities
                         if (observation.metric, *e) in wanted)
        if not entities:
            continue
        focused = observation._replace(entities=entities)
        observed(focused)
        signals.extend(pipeline.apply(focused, state))
    return signals


def find_signal(events: Iterable[tuple[int, Event]], pipeline: Pipeline,
                signal_id: str) -> Signal | None:
    """The signal with ``signal_id`` that a replay of ``events`` raises, or ``None``."""
    state = PipelineState()
    for number, event in events:
        try:
            signals = pipeline.process(event, state, number)
        except InvalidEvent:
            continue
        finally:
            state.rejected.clear()
        for signal in signals:
            if signal.signal_id == signal_id:
                return signal
    return None


def supported(monitor_kind: str) -> bool:
    """Whether a look-back pack can follow a monitor of this kind.

    >>> supported("ra_cusum"), supported("poisson_cusum")
    (True, False)
    """
    return monitor_kind in SUPPORTED

