"""``device_exposure`` metrics: implant revisions per implant-year at risk, in event time.

Implants come from ``procedure`` events' devices, revisions from ``revision`` events. Each
device keeps its exposure accrual (``signals.implant_exposure``); every implant and revision
advances it to the event's time and feeds the Poisson CUSUMs the revisions and implant-years
accrued since the previous update (an ``Exposure``). The device's PTIR against the
benchmark is watched for NJR Level 2 (alert) and Level 1 (alarm) candidacy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, Field, model_validator

from signals.implant_exposure import ImplantExposure
from signals.monitor import Monitor
from signals.monitor_config import BuildContext, MonitorConfig
from signals.observations import Exposure, ImplantTally
from signals.ptir_outlier import PtirOutlier
from streams.contract.events import Event, ProcedureEvent, RevisionEvent
from streams.pipeline.config_types import STRICT, MetricName, unique_monitor_names
from streams.pipeline.metric_kinds.base import Awaiting, Finding, Observation
from streams.pipeline.registry.monitors import MONITORS, monitor_configs

IMPLANT, REVISION = "implant", "revision"
FAMILIES = (Exposure,)
if TYPE_CHECKING:
    MonitorConfigs = MonitorConfig
else:
    MonitorConfigs = monitor_configs(*FAMILIES)


class Level1Config(BaseModel):
    """NJR outlier levels for implants (see ``signals.ptir_outlier``)."""

    model_config = STRICT
    min_ratio: Annotated[float, Field(gt=1)] = 2.0
    min_primaries: Annotated[int, Field(ge=1)] = 100
    level2_ratio_few: Annotated[float, Field(gt=1)] = 2.0
    level2_ratio_many: Annotated[float, Field(gt=1)] = 1.5
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95


class DeviceExposureMetric(BaseModel):
    """Revisions of implanted devices per implant-year at risk, in event time."""

    model_config = STRICT
    name: MetricName
    kind: Literal["device_exposure"]
    entities: Annotated[list[Literal["device"]], Field(min_length=1, max_length=1)]
    benchmark_per_100_years: Annotated[float, Field(gt=0)]
    monitors: list[MonitorConfigs] = Field(default_factory=list)
    level1: Level1Config = Field(default_factory=Level1Config)

    @model_validator(mode="after")
    def _unique(self) -> DeviceExposureMetric:
        unique_monitor_names(self.monitors)
        return self

    @property
    def benchmark_rate(self) -> float:
        """Revisions per implant-year."""
        return self.benchmark_per_100_years / 100.0


class DeviceEvent(NamedTuple):
    """An implant or a revision of one device at ``at`` (POSIX seconds of event time)."""

    what: str
    at: float


@dataclass(slots=True)
class DeviceState:
    """A device's exposure accrual, its Poisson CUSUMs and its PTIR outlier watch."""

    exposure: ImplantExposure
    charts: list[Monitor]
    watch: PtirOutlier


class DeviceExposure:
    """A compiled ``device_exposure`` metric."""

    consumes = frozenset({"procedure", "revision"})
    value_type = DeviceEvent

    def __init__(self, config: DeviceExposureMetric) -> None:
        self.config = config
        self.name = config.name
        self.monitor_names = (*(str(m.name) for m in config.monitors), "ptir_level")
        self.monitor_kinds = (*(m.kind for m in config.monitors), "ptir")

    def observe(self, event: Event) -> Sequence[Observation | Awaiting]:
        """One observation per device an implant or revision names."""
        assert isinstance(event, (ProcedureEvent, RevisionEvent))
        what = IMPLANT if isinstance(event, ProcedureEvent) else REVISION
        at = event.occurred_at.timestamp()
        return [
            Observation(self.name, DeviceEvent(what, at), (("device", device.gtin),),
                        event.event_id, event.episode_id, event.occurred_at,
                        event.provider.ods_code)
            for device in event.devices
        ]

    def new_entity(self, entity_type: str) -> DeviceState:
        level = self.config.level1
        context = BuildContext(benchmark_rate=self.config.benchmark_rate)
        return DeviceState(
            ImplantExposure(),
            [m.build(context) for m in self.config.monitors],
            PtirOutlier(self.config.benchmark_rate, level.min_ratio, level.min_primaries,
                        level.level2_ratio_few, level.level2_ratio_many, level.confidence),
        )

    def apply(self, observation: Observation, entity_type: str,
              state: DeviceState) -> list[Finding]:
        event = observation.values
        assert isinstance(event, DeviceEvent)
        exposure = state.exposure
        increment = (exposure.on_implant(event.at) if event.what == IMPLANT
                     else exposure.on_revision(event.at))
        findings = []
        for index, monitor in enumerate(state.charts):
            crossing = monitor.update(increment)
            if crossing is not None:
                findings.append(Finding(
                    self.monitor_names[index], self.monitor_kinds[index], crossing,
                    crossing.direction.value, monitor.n, monitor.observed, monitor.expected,
                    self._details(exposure, state.watch),
                ))
        watch = state.watch
        crossing = watch.update(ImplantTally(exposure.revised, exposure.implant_years,
                                             exposure.implanted))
        if crossing is not None:
            findings.append(Finding(
                "ptir_level", "ptir", crossing, crossing.direction.value, exposure.implanted,
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

    def signal_fields(self, finding: Finding) -> dict[str, Any]:
        return {}

    def records(self, entity_type: str, state: DeviceState) -> Iterator[dict[str, Any]]:
        exposure, watch = state.exposure, state.watch
        details = self._details(exposure, watch)
        expected = exposure.implant_years * self.config.benchmark_rate
        for name, kind, monitor in zip(self.monitor_names[:-1], self.monitor_kinds[:-1],
                                       state.charts, strict=True):
            yield self._record(name, kind, monitor, monitor.statistic, monitor.n,
                               exposure, expected, details)
        yield self._record("ptir_level", "ptir", watch,
                           details.get("ptir_ratio_ci", [None])[0], exposure.implanted,
                           exposure, expected, details)

    @staticmethod
    def _record(name: str, kind: str, monitor: Monitor, statistic: float | None, n: int,
                exposure: ImplantExposure, expected: float,
                details: dict[str, Any]) -> dict[str, Any]:
        direction = monitor.direction
        return {
            "monitor": name,
            "monitor_kind": kind,
            "direction": None if direction is None else direction.value,
            "statistic": statistic,
            "n": n,
            "observed": exposure.revised,
            "expected": expected,
            "details": details,
            "state": monitor.to_state(),
        }

    def dump(self, state: DeviceState) -> list[dict[str, Any]]:
        return [state.exposure.to_state(), *(m.to_state() for m in state.charts),
                state.watch.to_state()]

    def load(self, entity_type: str, data: list[dict[str, Any]]) -> DeviceState:
        kinds = self.monitor_kinds[:-1]
        return DeviceState(
            ImplantExposure.from_state(data[0]),
            [MONITORS[kind].monitor.from_state(s)
             for kind, s in zip(kinds, data[1:-1], strict=True)],
            PtirOutlier.from_state(data[-1]),
        )
