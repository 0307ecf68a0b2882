"""``binary_outcome`` metrics: a yes/no outcome per procedure, risk-adjusted.

A procedure gives each configured entity (provider, clinician, each device) and each
inequality segment one observation, an ``Outcome(y, p)``, once its outcome is known; the
entity's monitors (any registered kind taking ``Outcome`` or ``MonthlyOutcome``) then
update in stream order. With ``drift`` set, the national entity watches the risk model's
calibration.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    model_validator,
)

from signals import segments
from signals.entity_limits import RiskMix, entity_limit
from signals.monitor import Monitor
from signals.monitor_config import BuildContext, MonitorConfig
from signals.observations import MonthlyOutcome, Outcome
from signals.ra_cusum import RaCusumConfig, RiskAdjustedCusum
from signals.risk_model import LogisticRiskModel
from streams.contract.events import Event, InvalidEvent, ProcedureEvent
from streams.pipeline.config_types import (
    STRICT,
    EntityType,
    FeaturePath,
    MetricName,
    kind_of,
    unique_monitor_names,
)
from streams.pipeline.metric_kinds.base import Awaiting, Entities, Finding, Observation
from streams.pipeline.registry.monitors import MONITORS, monitor_configs

FAMILIES = (Outcome, MonthlyOutcome)
"""The observation families this kind feeds its monitors."""
if TYPE_CHECKING:
    from signals.calibration_drift import CalibrationDrift

    MonitorConfigs = MonitorConfig
else:
    MonitorConfigs = monitor_configs(*FAMILIES)
NATIONAL = ("national", "all")
"""The entity whose monitors watch the whole registry (calibration drift of the model)."""
DRIFT_MONITOR = "risk_model_drift"


# -- config ------------------------------------------------------------------------------


class FittedOn(BaseModel):
    """Where a fitted model came from (``vigil fit-risk-model``): a record, not used to score."""

    model_config = STRICT
    metric: MetricName
    until: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    n: Annotated[int, Field(ge=0)]


class LogisticRiskModelConfig(BaseModel):
    """``logit p = intercept + Σ coefficient · feature``; features are dotted paths."""

    model_config = STRICT
    kind: Literal["logistic"]
    intercept: float
    coefficients: dict[FeaturePath, float] = Field(default_factory=dict)
    version: str | None = None
    fitted_on: FittedOn | None = None

    @model_validator(mode="after")
    def _default_version(self) -> LogisticRiskModelConfig:
        if self.version is None:
            body = json.dumps(
                {"intercept": self.intercept, "coefficients": self.coefficients}, sort_keys=True
            )
            digest = hashlib.sha256(body.encode()).hexdigest()[:8]
            object.__setattr__(self, "version", f"logistic-{digest}")
        return self

    def build(self) -> LogisticRiskModel:
        return LogisticRiskModel(self.intercept, dict(self.coefficients), str(self.version))


RiskModelConfig = Annotated[
    Annotated[LogisticRiskModelConfig, Tag("logistic")],
    Discriminator(kind_of),
]
RISK_MODEL_KINDS = ("logistic",)

Segment = Literal["sex", "imd_quintile", "ethnic_group", "age_band"]


class DriftConfig(BaseModel):
    """Calibration drift of the risk model, watched nationally on y − p (river)."""

    model_config = STRICT
    detector: Literal["adwin", "page_hinkley"] = "adwin"
    delta: Annotated[float, Field(gt=0, lt=1)] = 0.002


class BaselineConfig(BaseModel):
    """The in-control baseline: ``risks``, a file of predicted risks, one per line (the
    patient mix ``target_arl0`` monitors are calibrated on, and the national mix of an
    entity with no baseline cases of its own; relative paths are relative to the config
    file); and/or ``until``, the end of a baseline period in the event stream itself.

    With ``until``, events of the metric before it are not monitored: they give each
    entity's volume (cases from ``since``, default a year before ``until``) and case mix,
    on which its ``false_alarm_probability`` monitors are calibrated at its first case from
    ``until`` (an entity with fewer than ``min_cases`` is calibrated on ``min_cases``
    patients; one with none, on the ``risks`` mix if given, else on its first patient)."""

    model_config = STRICT
    risks: Path | None = None
    until: date | None = None
    since: date | None = None
    min_cases: Annotated[int, Field(ge=1)] = 50

    @model_validator(mode="after")
    def _something(self) -> BaselineConfig:
        if self.risks is None and self.until is None:
            raise ValueError("give risks (a file of predicted risks) or until (a date)")
        if self.since is not None and (self.until is None or self.since >= self.until):
            raise ValueError("since must come before until")
        return self

    def period_days(self) -> float:
        assert self.until is not None
        return float((self.until - self.since).days) if self.since is not None else 365.0


class BinaryOutcomeMetric(BaseModel):
    """A yes/no outcome per procedure (e.g. death within 30 days), risk-adjusted."""

    model_config = STRICT
    name: MetricName
    kind: Literal["binary_outcome"]
    outcome: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    entities: Annotated[list[EntityType], Field(min_length=1)]
    risk_model: RiskModelConfig
    monitors: Annotated[list[MonitorConfigs], Field(min_length=1)]
    segments: list[Segment] = Field(default_factory=list)
    """Inequality segments: the same monitors also run nationally per segment value."""
    drift: DriftConfig | None = None
    baseline: BaselineConfig | None = None

    @model_validator(mode="after")
    def _unique(self) -> BinaryOutcomeMetric:
        if len(set(self.entities)) != len(self.entities):
            raise ValueError("entities: each entity type may appear once")
        if len(set(self.segments)) != len(self.segments):
            raise ValueError("segments: each segment may appear once")
        unique_monitor_names(self.monitors)
        needs_baseline = [m.name for m in self.monitors
                          if isinstance(m, RaCusumConfig) and m.target_arl0 is not None]
        if needs_baseline and (self.baseline is None or self.baseline.risks is None):
            raise ValueError(
                f"monitors {', '.join(map(str, needs_baseline))} give target_arl0: "
                "declare the baseline patient mix (baseline: {risks: FILE})"
            )
        per_entity = [m.name for m in self.monitors
                      if isinstance(m, RaCusumConfig) and m.per_entity]
        if per_entity and (self.baseline is None or self.baseline.until is None):
            raise ValueError(
                f"monitors {', '.join(map(str, per_entity))} give false_alarm_probability: "
                "declare the baseline period (baseline: {until: YYYY-MM-DD})"
            )
        return self


# -- the compiled kind -------------------------------------------------------------------


@dataclass(slots=True)
class EntityLimits:
    """An entity's per-entity calibration: its baseline mix, the mix of the horizon in
    progress, when it was last calibrated, and how, per monitor (None: fixed limits)."""

    baseline: RiskMix = field(default_factory=RiskMix)
    current: RiskMix = field(default_factory=RiskMix)
    calibrated_at: str | None = None
    calibrations: list[dict[str, Any] | None] = field(default_factory=list)

    def to_state(self) -> dict[str, Any]:
        return {"baseline": self.baseline.to_state(), "current": self.current.to_state(),
                "calibrated_at": self.calibrated_at, "calibrations": self.calibrations}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EntityLimits:
        return cls(RiskMix.from_state(state["baseline"]), RiskMix.from_state(state["current"]),
                   state["calibrated_at"], list(state["calibrations"]))


@dataclass(slots=True)
class Charts:
    """An entity's configured monitors, in config order (and, when the metric has
    per-entity limits, their calibration)."""

    monitors: list[Monitor]
    limits: EntityLimits | None = None


@dataclass(slots=True)
class NationalDrift:
    """The national entity: the risk model's calibration drift."""

    drift: CalibrationDrift


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

    consumes = frozenset({"procedure"})
    value_type = Outcome

    def __init__(self, config: BinaryOutcomeMetric) -> None:
        self.config = config
        self.name = config.name
        self.outcome = config.outcome
        self.model = config.risk_model.build()
        self.features = tuple((p, feature_getter(p)) for p in self.model.feature_paths())
        self.monitor_names = tuple(str(m.name) for m in config.monitors)
        self.monitor_kinds = tuple(m.kind for m in config.monitors)
        self.monthly = tuple(MONITORS[kind].observation_type is MonthlyOutcome
                             for kind in self.monitor_kinds)
        self.needs_month = any(self.monthly)
        baseline = config.baseline
        self.until = None if baseline is None or baseline.until is None else datetime(
            baseline.until.year, baseline.until.month, baseline.until.day, tzinfo=UTC)
        """Before it, observations are the baseline, not monitored."""
        self.per_entity = tuple(isinstance(m, RaCusumConfig) and m.per_entity
                                for m in config.monitors)
        self._national: RiskMix | None = None

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
            p = self.model.predict_values(values)
        except ValueError as error:
            raise InvalidEvent(
                "invalid_risk_factor", f"{error} for metric {self.name!r}"
            ) from None
        except OverflowError:
            p = float("nan")
        if not 0.0 <= p <= 1.0:  # NaN too: it would make every CUSUM it reaches NaN for good
            raise InvalidEvent("invalid_risk_factor",
                               f"the risk model of metric {self.name!r} gives no risk")
        return p

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

    def observe(self, event: Event) -> Sequence[Observation | Awaiting]:
        """A procedure's observation, complete if it carries the outcome, else awaited."""
        assert isinstance(event, ProcedureEvent)
        p = self.risk(event)
        entities = self.entities(event)
        outcome = event.outcomes.get(self.outcome)
        if outcome is None:
            return (Awaiting(self.name, self.outcome, p, entities),)
        return (Observation(self.name, Outcome(int(outcome), p), entities, event.event_id,
                            event.episode_id, event.occurred_at, event.provider.ods_code),)

    def new_entity(self, entity_type: str) -> Charts | NationalDrift:
        if entity_type == "national":
            # river (and scipy behind it) costs seconds to import: only drift configs pay.
            from signals.calibration_drift import CalibrationDrift

            drift = self.config.drift
            assert drift is not None
            return NationalDrift(CalibrationDrift(
                drift.detector, {"delta": drift.delta} if drift.detector == "adwin" else {}))
        context = BuildContext()
        charts = Charts([m.build(context) for m in self.config.monitors])
        if any(self.per_entity):
            charts.limits = EntityLimits(calibrations=[None] * len(self.per_entity))
        return charts

    def apply(self, observation: Observation, entity_type: str,
              state: Charts | NationalDrift) -> list[Finding]:
        outcome = observation.values
        assert isinstance(outcome, Outcome)
        if isinstance(state, NationalDrift):
            return self._drift(outcome, state.drift)
        if self.until is not None:
            if observation.occurred_at < self.until:
                if state.limits is not None:
                    state.limits.baseline.add(outcome.p)
                return []  # the baseline period: read, not monitored
            if state.limits is not None:
                self._calibrate(state, state.limits, observation.occurred_at, outcome.p)
                state.limits.current.add(outcome.p)
        monthly = None
        if self.needs_month:
            at = observation.occurred_at
            monthly = MonthlyOutcome(outcome.y, outcome.p, f"{at.year:04d}-{at.month:02d}")
        findings: list[Finding] = []
        for index, monitor in enumerate(state.monitors):
            is_monthly = self.monthly[index] if monthly is not None else False
            crossing = monitor.update(monthly if is_monthly else outcome)
            if crossing is not None:
                details = {"rule": getattr(monitor, "last_rule", None)} if is_monthly else None
                if state.limits is not None and state.limits.calibrations[index]:
                    details = {"calibration": state.limits.calibrations[index]}
                findings.append(Finding(
                    self.monitor_names[index], self.monitor_kinds[index], crossing,
                    crossing.direction.value, monitor.n, monitor.observed, monitor.expected,
                    details,
                ))
        return findings

    def _calibrate(self, state: Charts, limits: EntityLimits, at: datetime, p: float) -> None:
        """Set each per-entity monitor's limits at the entity's first case from ``until``
        (from its baseline), and again at the end of each horizon (from that horizon's
        cases); the statistics go on."""
        baseline = self.config.baseline
        assert baseline is not None
        horizon = min(m.horizon_days for m in self.config.monitors
                      if isinstance(m, RaCusumConfig) and m.per_entity)
        if limits.calibrated_at is None:
            mix, period, source = limits.baseline, baseline.period_days(), "baseline"
        elif at >= datetime.fromisoformat(limits.calibrated_at) + timedelta(days=horizon):
            mix, period, source = limits.current, horizon, "last horizon"
        else:
            return
        cases = mix.count  # the entity's own: its volume, whatever mix stands in for it
        if cases == 0:
            national = self._national_mix()
            if national is not None:
                mix, source = national, "national mix (no baseline cases)"
            else:
                mix, source = RiskMix(), "first case (no baseline cases)"
                mix.add(p)
        for index, (config, own) in enumerate(zip(self.config.monitors, self.per_entity,
                                                  strict=True)):
            if not own:
                continue
            assert isinstance(config, RaCusumConfig)
            assert config.false_alarm_probability is not None
            patients = max(baseline.min_cases,
                           round(cases * config.horizon_days / period))
            alarm = entity_limit(config.false_alarm_probability, patients,
                                 config.odds_ratio, mix)
            alert = None
            if config.alert_false_alarm_probability is not None:
                alert = entity_limit(config.alert_false_alarm_probability, patients,
                                     config.odds_ratio, mix)
            monitor = state.monitors[index]
            assert isinstance(monitor, RiskAdjustedCusum)
            # The alert's probability is the larger, so its limit is the lower; a chart so
            # coarse that both land on one value keeps the alert just below the alarm.
            monitor.set_limits(alarm.h, None if alert is None else min(alert.h, alarm.h * 0.999))
            limits.calibrations[index] = {
                "method": "markov", "false_alarm_probability": alarm.target,
                "achieved": alarm.achieved, "horizon_days": config.horizon_days,
                "patients": patients, "h": alarm.h,
                "alert_h": None if alert is None else alert.h,
                "cases": cases, "from": source, "calibrated_at": at.isoformat(),
            }
        limits.calibrated_at = at.isoformat()
        limits.current = RiskMix()

    def _national_mix(self) -> RiskMix | None:
        """The ``baseline.risks`` file's mix, read once (None without one)."""
        baseline = self.config.baseline
        if baseline is None or baseline.risks is None or not baseline.risks.is_file():
            return None
        if self._national is None:
            mix = RiskMix()
            for line in baseline.risks.read_text().split():
                mix.add(float(line))
            self._national = mix
        return self._national

    def _drift(self, outcome: Outcome, drift: CalibrationDrift) -> list[Finding]:
        """Calibration drift of the risk model nationally: an operator-level signal."""
        crossing = drift.update(outcome)
        found = drift.last_drift
        if crossing is None or found is None:
            return []
        return [Finding(DRIFT_MONITOR, "calibration_drift", crossing,
                        crossing.direction.value, found.n, None, None,
                        {**found.as_dict(), "risk_model_version": self.model.version})]

    def signal_fields(self, finding: Finding) -> dict[str, Any]:
        fields: dict[str, Any] = {"risk_model_version": self.model.version}
        if finding.expected is not None and finding.observed is not None:
            # VLAD context: statistical lives saved (expected − observed) so far.
            fields["vlad"] = finding.expected - finding.observed
        return fields

    def records(self, entity_type: str,
                state: Charts | NationalDrift) -> Iterator[dict[str, Any]]:
        if isinstance(state, NationalDrift):
            drift = state.drift
            yield {"monitor": DRIFT_MONITOR, "monitor_kind": "calibration_drift",
                   "direction": None, "statistic": None, "n": drift.n, "observed": None,
                   "expected": None, "details": {"drifts": drift.drifts},
                   "state": drift.to_state()}
            return
        for index, (name, kind, monitor, config) in enumerate(zip(
                self.monitor_names, self.monitor_kinds, state.monitors, self.config.monitors,
                strict=True)):
            calibration = getattr(config, "calibration", None)
            if state.limits is not None and self.per_entity[index]:
                calibration = state.limits.calibrations[index]
            direction = None if monitor.two_sided or monitor.direction is None \
                else monitor.direction.value
            yield {
                "monitor": name,
                "monitor_kind": kind,
                "direction": direction,
                "statistic": monitor.statistic,
                "n": monitor.n,
                "observed": monitor.observed,
                "expected": monitor.expected,
                "state": monitor.to_state(),
                **({"calibration": calibration} if calibration else {}),
            }

    def dump(self, state: Charts | NationalDrift) -> list[dict[str, Any]]:
        if isinstance(state, NationalDrift):
            return [state.drift.to_state()]
        dumped = [m.to_state() for m in state.monitors]
        if state.limits is not None:
            dumped.append({"limits": state.limits.to_state()})
        return dumped

    def load(self, entity_type: str, data: list[dict[str, Any]]) -> Charts | NationalDrift:
        if entity_type == "national":
            from signals.calibration_drift import CalibrationDrift

            return NationalDrift(CalibrationDrift.from_state(data[0]))
        limits = None
        if any(self.per_entity):
            data, limits = data[:-1], EntityLimits.from_state(data[-1]["limits"])
        return Charts([MONITORS[kind].monitor.from_state(state)
                       for kind, state in zip(self.monitor_kinds, data, strict=True)], limits)
