"""The false-alarm budget: how many false alarms a year to expect, per route, across every
chart and entity, were every entity in control.

For each risk-adjusted CUSUM of each entity, the expected number of false signals a year
is its yearly volume over its in-control ARL (the chart restarts after an alarm, so alarms
form a renewal process): ``cases a year / ARL0(h, R, the entity's case mix)``, by Markov
chain. ``h`` is the chart's own limit at the end of the events (a per-entity calibration
or the configured one); volumes and mixes come from the events themselves (cases per year
over the span they cover). Each chart's signal is then routed by the rules, as the engine
would route it; a route is counted under who its policy's first stage writes to:
``mhra``, ``cqc``, the provider (any other recipient but the operator), or the operator
only. Charts of other kinds (Poisson device charts, participation) are not budgeted yet.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from signals.entity_limits import RiskMix
from signals.observations import Outcome
from signals.ra_cusum import RiskAdjustedCusum
from streams.contract.events import InvalidEvent
from streams.contract.pseudonym import Pseudonymiser
from streams.contract.signal import Signal
from streams.pipeline.core import Pipeline, PipelineState
from streams.pipeline.metric_kinds.base import Observation
from streams.pipeline.metric_kinds.binary_outcome import BinaryOutcome, Charts
from streams.pipeline.replay import canonical_events

CATEGORIES = ("provider letters", "CQC", "MHRA", "operator only")


@dataclass(slots=True)
class ChartBudget:
    """One chart's expected false signals a year."""

    metric: str
    entity_type: str
    entity_id: str
    monitor: str
    level: str
    cases_per_year: float
    h: float
    arl0: float
    route: str
    category: str

    @property
    def per_year(self) -> float:
        return self.cases_per_year / self.arl0


@dataclass(slots=True)
class Budget:
    charts: list[ChartBudget] = field(default_factory=list)
    years: float = 0.0

    def by_category(self, level: str = "alarm") -> dict[str, float]:
        totals = dict.fromkeys(CATEGORIES, 0.0)
        for chart in self.charts:
            if chart.level == level:
                totals[chart.category] += chart.per_year
        return totals

    def by_route(self, level: str = "alarm") -> dict[str, float]:
        totals: dict[str, float] = {}
        for chart in self.charts:
            if chart.level == level:
                totals[chart.route] = totals.get(chart.route, 0.0) + chart.per_year
        return totals


def category(policy: Any) -> str:
    """Who a policy's first stage writes to, as the budget counts it."""
    first = set(policy.stages[0].notify)
    if "mhra" in first:
        return "MHRA"
    if "cqc" in first:
        return "CQC"
    if first - {"operator"}:
        return "provider letters"
    return "operator only"


def _signal(pipeline: Pipeline, metric: str, entity_type: str, entity_id: str,
            monitor: RiskAdjustedCusum, name: str, level: str, at: datetime) -> Signal:
    return Signal(signal_id="budget", registry=pipeline.registry, metric=metric, monitor=name,
                  monitor_kind="ra_cusum", entity_type=entity_type, entity_id=entity_id,
                  provider=entity_id if entity_type == "provider" else None,
                  direction=monitor.direction, level=level, statistic=monitor.alarm_h,
                  threshold=monitor.alarm_h, n=monitor.n, event_id="budget",
                  episode_id=None, occurred_at=at, observed=None, expected=None)


def false_alarm_budget(lines: Iterable[bytes], pipeline: Pipeline, rules: Any,
                       pseudonymiser: Pseudonymiser, grid: int = 300) -> Budget:
    """Replay ``lines`` and budget every risk-adjusted CUSUM of every entity."""
    from signals.markov_arl import markov_arl

    state = PipelineState()
    mixes: dict[tuple[str, str, str], RiskMix] = {}
    times: list[datetime] = []
    """The first observation's time, then the latest's."""

    def observed(observation: Observation) -> None:
        if not times:
            times.append(observation.occurred_at)
        times[1:] = [observation.occurred_at]
        if isinstance(observation.values, Outcome):
            for entity_type, entity_id in observation.entities:
                mixes.setdefault((observation.metric, entity_type, entity_id),
                                 RiskMix()).add(observation.values.p)

    for number, event in canonical_events(lines, pseudonymiser):
        with contextlib.suppress(InvalidEvent):  # a rejected event has no observations
            pipeline.process(event, state, number, observed)  # limits the charts end with
    first, last = (times[0], times[-1]) if times else (None, None)
    budget = Budget()
    if first is None or last is None:
        return budget
    budget.years = max((last - first).days / 365.25, 1 / 365.25)
    for (metric, entity_type, entity_id), entity in state.entities.items():
        kind = pipeline.kinds[metric]
        if not isinstance(kind, BinaryOutcome) or not isinstance(entity, Charts):
            continue
        mix = mixes.get((metric, entity_type, entity_id))
        if mix is None or not mix.count:
            continue
        risks, weights = mix.risks()
        cases = mix.count / budget.years
        for name, monitor in zip(kind.monitor_names, entity.monitors, strict=True):
            if not isinstance(monitor, RiskAdjustedCusum):
                continue
            for level, h in (("alarm", monitor.alarm_h), ("alert", monitor.alert_h)):
                if h is None or h >= 1e8:  # no such limit, or never calibrated
                    continue
                arl0 = markov_arl(h, monitor.odds_ratio, risks, weights, grid=grid)
                routes = rules.route(_signal(pipeline, metric, entity_type, entity_id,
                                             monitor, name, level, last))
                route = routes[0] if routes else None
                label = (route.name or route.policy) if route is not None else "(none)"
                group = category(rules.policies[route.policy]) if route else "operator only"
                budget.charts.append(ChartBudget(metric, entity_type, entity_id, name, level,
                                                 cases, h, arl0, label, group))
    return budget
