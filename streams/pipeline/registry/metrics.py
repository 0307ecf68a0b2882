"""The metric kinds: kind → config model, compiled class and an example config.

>>> list(METRICS)
['binary_outcome', 'device_exposure', 'participation']
>>> METRICS["device_exposure"].monitor_kinds
('poisson_cusum',)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import BaseModel, Discriminator, Tag

from streams.pipeline.config_types import kind_of
from streams.pipeline.metric_kinds import binary_outcome, device_exposure, participation
from streams.pipeline.metric_kinds.base import MetricKind
from streams.pipeline.registry.monitors import kinds_for


@dataclass(frozen=True)
class MetricKindSpec:
    """One metric kind."""

    kind: str
    config: type[BaseModel]
    compiled: type[MetricKind]
    families: tuple[type, ...]
    """The observation families it feeds its configurable monitors (none: fixed monitors)."""
    example: dict[str, Any]
    """A valid metric config on the synthetic registry; ``monitors`` is replaced by the
    conformance suite with each allowed monitor kind's example."""

    @property
    def monitor_kinds(self) -> tuple[str, ...]:
        """The configurable monitor kinds this metric kind accepts."""
        return kinds_for(*self.families) if self.families else ()

    def compile(self, config: BaseModel) -> MetricKind:
        """The compiled metric of a validated config of this kind."""
        return self.compiled(config)  # type: ignore[call-arg]


METRICS: dict[str, MetricKindSpec] = {k.kind: k for k in (
    MetricKindSpec(
        "binary_outcome", binary_outcome.BinaryOutcomeMetric, binary_outcome.BinaryOutcome,
        binary_outcome.FAMILIES,
        {"name": "death_30d", "kind": "binary_outcome", "outcome": "death_30d",
         "entities": ["provider", "clinician"],
         "risk_model": {"kind": "logistic", "intercept": -3.68,
                        "coefficients": {"risk_factors.parsonnet": 0.077}},
         "drift": {"detector": "adwin", "delta": 0.5},
         "monitors": [{"kind": "ra_cusum", "odds_ratio": 2.0, "alarm_h": 2.5}]}),
    MetricKindSpec(
        "device_exposure", device_exposure.DeviceExposureMetric,
        device_exposure.DeviceExposure, device_exposure.FAMILIES,
        {"name": "valve_revision", "kind": "device_exposure", "entities": ["device"],
         "benchmark_per_100_years": 1.5, "level1": {"min_primaries": 20},
         "monitors": [{"kind": "poisson_cusum", "rate_ratio": 2.0, "alarm_h": 2.0}]}),
    MetricKindSpec(
        "participation", participation.ParticipationMetric, participation.Participation, (),
        {"name": "case_ascertainment", "kind": "participation", "entities": ["provider"],
         "alert_below": 0.95, "alarm_below": 0.9}),
)}


def metric_configs() -> Any:
    """The discriminated union of every metric kind's config model."""
    members = [Annotated[spec.config, Tag(kind)] for kind, spec in METRICS.items()]
    return Annotated[Union[tuple(members)], Discriminator(kind_of)]  # noqa: UP007
