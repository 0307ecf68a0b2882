"""``device_exposure`` metrics: implant revisions per implant-year at risk, in event time.

Implants come from ``procedure`` events' devices, revisions from ``revision`` events. Each
device keeps its exposure accrual (``signals.implant_exposure``); every implant and revision
advances it to the event's time and feeds the Poisson CUSUMs the revisions and implant-years
accrued since the previous update. The device's PTIR against the benchmark is watched for NJR
Level 2 (alert) and Level 1 (alarm) candidacy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from signals.implant_exposure import ImplantExposure
from signals.poisson_cusum import PoissonCusum
from signals.ptir_outlier import PtirOutlier
from streams.pipeline.config import DeviceExposureMetric
from streams.pipeline.metric_kinds import Finding, Observation, direction_of

IMPLANT, REVISION = "implant", "revision"


class DeviceExposure:
    """A compiled ``device_exposure`` metric. A device's state is its exposure accrual, then
    its Poisson CUSUMs, then its PTIR outlier watch."""

    def __init__(self, config: DeviceExposureMetric) -> None:
        self.config = config
        self.name = config.name
        self.monitor_names = (*(str(m.name) for m in config.monitors), "ptir_level")
        self.monitor_kinds = (*(m.kind for m in config.monitors), "ptir")

    def new_entity(self, entity_type: str) -> list[Any]:
        level = self.config.level1
        return [
            ImplantExposure(),
            *(m.build(self.config.benchmark_rate) for m in self.config.monitors),
            PtirOutlier(self.config.benchmark_rate, level.min_ratio, level.min_primaries,
                        level.level2_ratio_few, level.level2_ratio_many, level.confidence),
        ]

    def apply(self, observation: Observation, entity_type: str,
              state: list[Any]) -> list[Finding]:
        what, at = observation.values
        exposure: ImplantExposure = state[0]
        increment = exposure.on_implant(at) if what == IMPLANT else exposure.on_revision(at)
        findings = []
        for index, monitor in enumerate(state[1:-1]):
            crossing = monitor.update(*increment)
            if crossing is not None:
                findings.append(Finding(
                    self.monitor_names[index], self.monitor_kinds[index], crossing,
                    direction_of(monitor), monitor.n, monitor.events, monitor.expected,
                    self._details(exposure, state[-1]),
                ))
        watch: PtirOutlier = state[-1]
        crossing = watch.update(exposure.revised, exposure.implant_years, exposure.implanted)
        if crossing is not None:
            findings.append(Finding(
                "ptir_level", "ptir", crossing, watch.direction.value, exposure.implanted,
                exposure.revised, exposure.implant_years * self.config.benchmark_rate,
                self._details(exposure, watch),
            ))
        return findings

    def _details(self, exposure: ImplantExposure, watch: PtirOutlier) -> dict[str, Any]:
        details: dict[str, Any] = {
            "implanted": exposure.implanted,
            "revised": exposure.revised,
            "implant_years": exposure.implant_years,
            "benchmark_per_100_years": self.config.benchmark_per_100_years,
        }
        c = watch.comparison()
        if c is not None:
            details.update({
                "ptir": c.ptir,
                "ptir_ratio": c.ratio,
                "ptir_ratio_ci": [c.ratio_lower, c.ratio_upper],
                "confidence": c.confidence,
                "njr_level": {0: None, 1: 1, 2: 2}[watch.raised],
                "level1_candidate": watch.raised == 1,
            })
        return details

    def records(self, entity_type: str, state: list[Any]) -> Iterator[dict[str, Any]]:
        exposure, monitors, watch = state[0], state[1:-1], state[-1]
        details = self._details(exposure, watch)
        for name, kind, monitor in zip(self.monitor_names, self.monitor_kinds,
                                       [*monitors, watch], strict=True):
            poisson = isinstance(monitor, PoissonCusum)
            yield {
                "monitor": name,
                "monitor_kind": kind,
                "direction": direction_of(monitor),
                "statistic": monitor.statistic if poisson else details.get("ptir_ratio_ci",
                                                                           [None])[0],
                "n": monitor.n if poisson else exposure.implanted,
                "observed": exposure.revised,
                "expected": exposure.implant_years * self.config.benchmark_rate,
                "details": details,
                "state": monitor.to_state(),
            }

    def dump(self, state: list[Any]) -> list[dict[str, Any]]:
        return [item.to_state() for item in state]

    def load(self, entity_type: str, states: list[dict[str, Any]]) -> list[Any]:
        return [
            ImplantExposure.from_state(states[0]),
            *(PoissonCusum.from_state(s) for s in states[1:-1]),
            PtirOutlier.from_state(states[-1]),
        ]
