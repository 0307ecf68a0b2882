"""``participation`` metrics: case ascertainment (submitted / expected) per provider and
period, from ``submission`` events. Non-participation is a negative outlier of its own."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from signals.observations import Submission
from signals.participation import CaseAscertainment
from streams.contract.events import Event, SubmissionEvent
from streams.pipeline.config_types import STRICT, MetricName
from streams.pipeline.metric_kinds.base import Awaiting, Finding, Observation


class ParticipationMetric(BaseModel):
    """Case ascertainment: submitted / expected cases per provider and period."""

    model_config = STRICT
    name: MetricName
    kind: Literal["participation"]
    entities: Annotated[list[Literal["provider"]], Field(min_length=1, max_length=1)]
    alert_below: Annotated[float, Field(gt=0, le=1)] = 0.8
    alarm_below: Annotated[float, Field(gt=0, le=1)] = 0.6

    @model_validator(mode="after")
    def _check(self) -> ParticipationMetric:
        if self.alarm_below >= self.alert_below:
            raise ValueError("alarm_below must be below alert_below")
        return self


@dataclass(slots=True)
class ProviderAscertainment:
    """A provider's case ascertainment monitor."""

    monitor: CaseAscertainment


class Participation:
    """A compiled ``participation`` metric."""

    monitor_name = "case_ascertainment"
    consumes = frozenset({"submission"})
    value_type = Submission

    def __init__(self, config: ParticipationMetric) -> None:
        self.config = config
        self.name = config.name

    def observe(self, event: Event) -> Sequence[Observation | Awaiting]:
        assert isinstance(event, SubmissionEvent)
        ods = event.provider.ods_code
        return (Observation(self.name,
                            Submission(event.period, event.submitted, event.expected),
                            (("provider", ods),), event.event_id, None, event.occurred_at,
                            ods),)

    def new_entity(self, entity_type: str) -> ProviderAscertainment:
        return ProviderAscertainment(
            CaseAscertainment(self.config.alert_below, self.config.alarm_below))

    def apply(self, observation: Observation, entity_type: str,
              state: ProviderAscertainment) -> list[Finding]:
        submission = observation.values
        assert isinstance(submission, Submission)
        monitor = state.monitor
        crossing = monitor.update(submission)
        if crossing is None:
            return []
        return [Finding(
            self.monitor_name, "case_ascertainment", crossing, crossing.direction.value,
            monitor.n, submission.submitted, submission.expected,
            {"period": submission.period, "ascertainment": monitor.last_ratio},
        )]

    def signal_fields(self, finding: Finding) -> dict[str, Any]:
        return {}

    def records(self, entity_type: str,
                state: ProviderAscertainment) -> Iterator[dict[str, Any]]:
        monitor = state.monitor
        yield {
            "monitor": self.monitor_name,
            "monitor_kind": "case_ascertainment",
            "direction": monitor.direction.value,
            "statistic": monitor.statistic,
            "n": monitor.n,
            "observed": monitor.observed,
            "expected": monitor.expected,
            "details": {"periods_below_alert": monitor.below_count},
            "state": monitor.to_state(),
        }

    def dump(self, state: ProviderAscertainment) -> list[dict[str, Any]]:
        return [state.monitor.to_state()]

    def load(self, entity_type: str, data: list[dict[str, Any]]) -> ProviderAscertainment:
        return ProviderAscertainment(CaseAscertainment.from_state(data[0]))
