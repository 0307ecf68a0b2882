"""``binary_outcome`` metrics: a yes/no outcome per procedure, risk-adjusted.

A procedure gives each configured entity (provider, clinician, each device) and each
inequality segment one observation ``(y, p)`` once its outcome is known; the monitors
(risk-adjusted CUSUM, Bernoulli CUSUM, VLAD, EWMA) then update in stream order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from signals import segments
from signals.bernoulli_cusum import BernoulliCusum
from signals.crossing import Crossing, Level
from signals.monthly_xmr import MonthlyXmr
from signals.ra_cusum import RiskAdjustedCusum
from signals.ra_ewma import RiskAdjustedEwma
from signals.vlad import Vlad
from streams.contract.events import InvalidEvent, ProcedureEvent
from streams.pipeline.config import BinaryOutcomeMetric
from streams.pipeline.metric_kinds import Entities, Finding, Observation, direction_of

MONITOR_CLASSES: dict[str, Any] = {
    "ra_cusum": RiskAdjustedCusum,
    "bernoulli_cusum": BernoulliCusum,
    "vlad": Vlad,
    "ra_ewma": RiskAdjustedEwma,
    "xmr": MonthlyXmr,
}
NATIONAL = ("national", "all")
"""The entity whose monitors watch the whole registry (calibration drift of the model)."""
DRIFT_MONITOR = "risk_model_drift"
TWO_SIDED = ("ra_ewma", "xmr")
"""Monitors whose direction is that of their latest crossing."""


def feature_getter(path: str) -> Callable[[ProcedureEvent], Any]:
    """A fast accessor for a dotted feature path such as ``risk_factors.parsonnet``."""
    root, name = path.split(".", 1)
    if root == "risk_factors":
        return lambda event: event.risk_factors.get(name)

    def get(event: ProcedureEvent) -> Any:
        section = getattr(event, root, None)
        return None if section is None else getattr(section, name, None)

    return get


_SEGMENT_LABELS: dict[str, Callable[[Any], str | None]] = {
    "sex": lambda patient: None if patient.sex is None else segments.sex_label(patient.sex),
    "imd_quintile": lambda patient: None if patient.imd_decile is None
    else str(segments.imd_quintile(patient.imd_decile)),
    "ethnic_group": lambda patient: None if patient.ethnicity is None
    else segments.ethnic_group(patient.ethnicity),
    "age_band": lambda patient: None if patient.age is None else segments.age_band(patient.age),
}


class BinaryOutcome:
    """A compiled ``binary_outcome`` metric."""

    def __init__(self, config: BinaryOutcomeMetric) -> None:
        self.config = config
        self.name = config.name
        self.outcome = config.outcome
        self.model = config.risk_model.build()
        self.features = tuple((p, feature_getter(p)) for p in self.model.feature_paths())
        self.monitor_names = tuple(str(m.name) for m in config.monitors)
        self.monitor_kinds = tuple(m.kind for m in config.monitors)
        self.monthly = tuple(kind == "xmr" for kind in self.monitor_kinds)
        self.needs_month = any(self.monthly)

    def feature_values(self, event: ProcedureEvent) -> tuple[Any, ...]:
        """The event's values of the risk model's features, in ``feature_paths()`` order;
        ``InvalidEvent`` if one is missing."""
        values = []
        for path, get in self.features:
            value = get(event)
            if value is None:
                raise InvalidEvent(
                    "missing_risk_factor",
                    f"{path} is required by the risk model of metric {self.name!r}",
                )
            values.append(value)
        return tuple(values)

    def risk(self, event: ProcedureEvent) -> float:
        """The predicted risk; ``InvalidEvent`` if a feature is missing or of the wrong type."""
        values = self.feature_values(event)
        try:
            return self.model.predict_values(values)
        except ValueError as error:
            raise InvalidEvent(
                "invalid_risk_factor", f"{error} for metric {self.name!r}"
            ) from None

    def entities(self, event: ProcedureEvent) -> Entities:
        """The entities one procedure's observation updates, in configured order."""
        found: list[tuple[str, str]] = []
        for entity_type in self.config.entities:
            if entity_type == "provider":
                found.append(("provider", event.provider.ods_code))
            elif entity_type == "clinician" and event.clinician is not None:
                found.append(("clinician", event.clinician.gmc_number))
            elif entity_type == "device":
                found.extend(("device", d.gtin) for d in event.devices)
        if self.config.drift is not None:
            found.append(NATIONAL)
        if self.config.segments and event.patient is not None:
            for segment in self.config.segments:
                label = _SEGMENT_LABELS[segment](event.patient)
                if label is not None:
                    found.append(("segment", f"{segment}={label}"))
        return tuple(found)

    def new_entity(self, entity_type: str) -> list[Any]:
        if entity_type == "national":
            from signals.calibration_drift import CalibrationDrift  # river: import on use

            drift = self.config.drift
            assert drift is not None
            return [CalibrationDrift(drift.detector, {"delta": drift.delta}
                                     if drift.detector == "adwin" else {})]
        return [m.build() for m in self.config.monitors]

    def apply(self, observation: Observation, entity_type: str,
              monitors: list[Any]) -> list[Finding]:
        y, p = observation.values
        if entity_type == "national":
            return self._drift(y, p, monitors[0])
        month = None
        if self.needs_month:
            at = observation.occurred_at
            month = f"{at.year:04d}-{at.month:02d}"
        findings: list[Finding] = []
        for index, monitor in enumerate(monitors):
            crossing = (monitor.update(y, p, month) if self.needs_month and self.monthly[index]
                        else monitor.update(y, p))
            if crossing is not None:
                findings.append(Finding(
                    self.monitor_names[index], self.monitor_kinds[index], crossing,
                    direction_of(monitor), monitor.n, monitor.observed, monitor.expected,
                    {"rule": monitor.last_rule} if self.monthly[index] else None,
                ))
        return findings

    def _drift(self, y: int, p: float, drift: Any) -> list[Finding]:
        """Calibration drift of the risk model nationally: an operator-level signal."""
        found = drift.update(y, p)
        if found is None:
            return []
        crossing = Crossing(Level.ALERT, found.mean_after, found.mean_before)
        return [Finding(DRIFT_MONITOR, "calibration_drift", crossing, found.direction.value,
                        found.n, None, None,
                        {**found.as_dict(), "risk_model_version": self.model.version})]

    def records(self, entity_type: str, monitors: list[Any]) -> Iterator[dict[str, Any]]:
        if entity_type == "national":
            drift = monitors[0]
            yield {"monitor": DRIFT_MONITOR, "monitor_kind": "calibration_drift",
                   "direction": None, "statistic": None, "n": drift.n, "observed": None,
                   "expected": None, "details": {"drifts": drift.drifts},
                   "state": drift.to_state()}
            return
        for name, kind, monitor, config in zip(self.monitor_names, self.monitor_kinds, monitors,
                                               self.config.monitors, strict=True):
            calibration = getattr(config, "calibration", None)
            yield {
                "monitor": name,
                "monitor_kind": kind,
                "direction": direction_of(monitor) if kind not in TWO_SIDED else None,
                "statistic": getattr(monitor, "statistic", getattr(monitor, "value", None)),
                "n": monitor.n,
                "observed": monitor.observed,
                "expected": monitor.expected,
                "state": monitor.to_state(),
                **({"calibration": calibration} if calibration else {}),
            }

    def dump(self, monitors: list[Any]) -> list[dict[str, Any]]:
        return [m.to_state() for m in monitors]

    def load(self, entity_type: str, states: list[dict[str, Any]]) -> list[Any]:
        if entity_type == "national":
            from signals.calibration_drift import CalibrationDrift

            return [CalibrationDrift.from_state(states[0])]
        return [MONITOR_CLASSES[kind].from_state(state)
                for kind, state in zip(self.monitor_kinds, states, strict=True)]
