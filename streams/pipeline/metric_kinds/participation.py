"""``participation`` metrics: case ascertainment (submitted / expected) per provider and
period, from ``submission`` events. Non-participation is a negative outlier of its own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from signals.participation import CaseAscertainment
from streams.pipeline.config import ParticipationMetric
from streams.pipeline.metric_kinds import Finding, Observation


class Participation:
    """A compiled ``participation`` metric: one ``CaseAscertainment`` per provider."""

    monitor_name = "case_ascertainment"

    def __init__(self, config: ParticipationMetric) -> None:
        self.config = config
        self.name = config.name

    def new_entity(self, entity_type: str) -> list[Any]:
        return [CaseAscertainment(self.config.alert_below, self.config.alarm_below)]

    def apply(self, observation: Observation, entity_type: str,
              state: list[Any]) -> list[Finding]:
        period, submitted, expected = observation.values
        monitor: CaseAscertainment = state[0]
        crossing = monitor.update(period, submitted, expected)
        if crossing is None:
            return []
        return [Finding(
            self.monitor_name, "case_ascertainment", crossing, monitor.direction.value,
            monitor.n, submitted, expected,
            {"period": period, "ascertainment": monitor.last_ratio},
        )]

    def records(self, entity_type: str, state: list[Any]) -> Iterator[dict[str, Any]]:
        monitor: CaseAscertainment = state[0]
        submitted = sum(r["submitted"] for r in monitor.periods.values())
        expected = sum(r["expected"] for r in monitor.periods.values())
        yield {
            "monitor": self.monitor_name,
            "monitor_kind": "case_ascertainment",
            "direction": monitor.direction.value,
            "statistic": monitor.last_ratio,
            "n": monitor.n,
            "observed": submitted,
            "expected": expected,
            "details": {"periods_below_alert": monitor.below_count},
            "state": monitor.to_state(),
        }

    def dump(self, state: list[Any]) -> list[dict[str, Any]]:
        return [state[0].to_state()]

    def load(self, entity_type: str, states: list[dict[str, Any]]) -> list[Any]:
        return [CaseAscertainment.from_state(states[0])]
