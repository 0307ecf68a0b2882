"""The metric configuration (YAML): which metrics a registry monitors, and how.

A config names the registry and lists metrics. Each metric has a ``kind`` (what events feed
it), the entity types it is monitored for, an optional risk model and its monitors. Kinds
are a tagged union, so a new kind is one more model in ``METRIC_KINDS``; an unknown kind
is rejected with the list of known ones.

>>> config = parse_config('''
... registry: ncap-adult-cardiac
... metrics:
...   - name: death_30d
...     kind: binary_outcome
...     outcome: death_30d
...     entities: [provider, clinician]
...     risk_model:
...       kind: logistic
...       intercept: -3.68
...       coefficients:
...         risk_factors.parsonnet: 0.077
...     monitors:
...       - {kind: ra_cusum, odds_ratio: 2.0, alert_h: 3.5, alarm_h: 4.5}
...       - {kind: ra_cusum, odds_ratio: 0.5, alert_h: 3.5, alarm_h: 4.5}
... ''')
>>> [m.name for m in config.metrics[0].monitors]
['ra_cusum_or2', 'ra_cusum_or0.5']
>>> config.metrics[0].risk_model.version
'logistic-80b47879'
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    StringConstraints,
    Tag,
    ValidationError,
    model_validator,
)

from signals.bernoulli_cusum import BernoulliCusum
from signals.monthly_xmr import MonthlyXmr
from signals.poisson_cusum import PoissonCusum
from signals.ra_cusum import RiskAdjustedCusum
from signals.ra_ewma import RiskAdjustedEwma
from signals.risk_model import LogisticRiskModel
from signals.vlad import Vlad
from streams.contract.validation import error_items

_strict = ConfigDict(extra="forbid", frozen=True)

MetricName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
EntityType = Literal["provider", "clinician", "device"]
"""Entity types a metric may be monitored for; ``segment`` and ``national`` are derived."""

FEATURE_ROOTS = ("risk_factors", "patient", "procedure", "provider")
FeaturePath = Annotated[
    str,
    StringConstraints(
        pattern=r"^(risk_factors|patient|procedure|provider)\.[A-Za-z0-9_]+(=\S(.{0,62}\S)?)?$"
    ),
]
"""A dotted path into a procedure event, e.g. ``risk_factors.parsonnet`` or ``patient.age``,
optionally naming one level of a categorical feature: ``patient.sex=F``."""


class ConfigError(ValueError):
    """A config that cannot be used: names the file, the path inside it and what is wrong."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


def _kind(value: Any) -> Any:
    return value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)


class FittedOn(BaseModel):
    """Where a fitted model came from (``vigil fit-risk-model``): a record, not used to score."""

    model_config = _strict
    metric: MetricName
    until: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    n: Annotated[int, Field(ge=0)]


class LogisticRiskModelConfig(BaseModel):
    """``logit p = intercept + Σ coefficient · feature``; features are dotted paths."""

    model_config = _strict
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
    Discriminator(_kind),
]


class _MonitorBase(BaseModel):
    model_config = _strict
    name: MetricName | None = None

    def _default_name(self, name: str) -> None:
        if self.name is None:
            object.__setattr__(self, "name", name)


class _CusumLimits(_MonitorBase):
    alert_h: Annotated[float, Field(gt=0)] | None = None
    alarm_h: Annotated[float, Field(gt=0)] | None = None

    def _check_limits(self) -> None:
        if self.alarm_h is None:
            raise ValueError("alarm_h is required")
        if self.alert_h is not None and self.alert_h >= self.alarm_h:
            raise ValueError("alert_h must be below alarm_h")


class RaCusumConfig(_CusumLimits):
    """A risk-adjusted CUSUM (``signals.ra_cusum``). Give ``alarm_h``, or ``target_arl0`` to
    have Vigil calibrate it from the metric's baseline."""

    kind: Literal["ra_cusum"]
    odds_ratio: Annotated[float, Field(gt=0)]
    target_arl0: Annotated[float, Field(gt=1)] | None = None
    _calibration: dict[str, Any] | None = PrivateAttr(default=None)

    @property
    def calibration(self) -> dict[str, Any] | None:
        """How ``alarm_h`` was calibrated from ``target_arl0`` (set by ``calibrate_config``)."""
        return self._calibration

    @model_validator(mode="after")
    def _check(self) -> RaCusumConfig:
        if self.odds_ratio == 1:
            raise ValueError("odds_ratio 1 detects no change: use > 1 (worse) or < 1 (better)")
        if self.target_arl0 is not None and self.alarm_h is not None:
            raise ValueError("give alarm_h or target_arl0, not both")
        if self.target_arl0 is None:
            self._check_limits()
        self._default_name(f"ra_cusum_or{self.odds_ratio:g}")
        return self

    def build(self) -> RiskAdjustedCusum:
        if self.alarm_h is None:
            raise ValueError(f"monitor {self.name}: target_arl0 has not been calibrated")
        return RiskAdjustedCusum(self.odds_ratio, self.alarm_h, self.alert_h)


class BernoulliCusumConfig(_CusumLimits):
    """An unadjusted Bernoulli CUSUM against a constant rate ``p0``."""

    kind: Literal["bernoulli_cusum"]
    p0: Annotated[float, Field(gt=0, lt=1)]
    odds_ratio: Annotated[float, Field(gt=0)]

    @model_validator(mode="after")
    def _check(self) -> BernoulliCusumConfig:
        if self.odds_ratio == 1:
            raise ValueError("odds_ratio 1 detects no change: use > 1 (worse) or < 1 (better)")
        self._check_limits()
        self._default_name(f"bernoulli_cusum_or{self.odds_ratio:g}")
        return self

    def build(self) -> BernoulliCusum:
        assert self.alarm_h is not None
        return BernoulliCusum(self.p0, self.odds_ratio, self.alarm_h, self.alert_h)


class VladConfig(_MonitorBase):
    """Variable life-adjusted display: cumulative expected − observed. No limit unless set."""

    kind: Literal["vlad"]
    alert_below: Annotated[float, Field(lt=0)] | None = None
    alarm_below: Annotated[float, Field(lt=0)] | None = None

    @model_validator(mode="after")
    def _check(self) -> VladConfig:
        if (self.alert_below is not None and self.alarm_below is not None
                and self.alarm_below >= self.alert_below):
            raise ValueError("alarm_below must be below alert_below")
        self._default_name("vlad")
        return self

    def build(self) -> Vlad:
        return Vlad(self.alert_below, self.alarm_below)


class RaEwmaConfig(_MonitorBase):
    """Risk-adjusted EWMA of y − p with exact-variance limits (both directions)."""

    kind: Literal["ra_ewma"]
    smoothing: Annotated[float, Field(gt=0, le=1)] = 0.01
    alarm_width: Annotated[float, Field(gt=0)] = 3.0
    alert_width: Annotated[float, Field(gt=0)] | None = None
    burn_in: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _check(self) -> RaEwmaConfig:
        if self.alert_width is not None and self.alert_width >= self.alarm_width:
            raise ValueError("alert_width must be below alarm_width")
        self._default_name(f"ra_ewma_l{self.smoothing:g}")
        return self

    def build(self) -> RiskAdjustedEwma:
        return RiskAdjustedEwma(self.smoothing, self.alarm_width, self.alert_width, self.burn_in)


class XmrConfig(_MonitorBase):
    """Making Data Count XmR rules on the entity's monthly O/E ratio (or rate)."""

    kind: Literal["xmr"]
    measure: Literal["oe_ratio", "rate"] = "oe_ratio"
    min_months: Annotated[int, Field(ge=3)] = 12
    screen_outliers: bool = True

    @model_validator(mode="after")
    def _check(self) -> XmrConfig:
        self._default_name(f"xmr_{self.measure}")
        return self

    def build(self) -> MonthlyXmr:
        return MonthlyXmr(self.measure, self.min_months, self.screen_outliers)


class PoissonCusumConfig(_CusumLimits):
    """A Poisson CUSUM on revisions against implant-years at risk."""

    kind: Literal["poisson_cusum"]
    rate_ratio: Annotated[float, Field(gt=0)]

    @model_validator(mode="after")
    def _check(self) -> PoissonCusumConfig:
        if self.rate_ratio == 1:
            raise ValueError("rate_ratio 1 detects no change: use > 1 (worse) or < 1 (better)")
        self._check_limits()
        self._default_name(f"poisson_cusum_rr{self.rate_ratio:g}")
        return self

    def build(self, benchmark_rate: float) -> PoissonCusum:
        assert self.alarm_h is not None
        return PoissonCusum(benchmark_rate, self.rate_ratio, self.alarm_h, self.alert_h)


BinaryMonitorConfig = Annotated[
    Annotated[RaCusumConfig, Tag("ra_cusum")]
    | Annotated[BernoulliCusumConfig, Tag("bernoulli_cusum")]
    | Annotated[VladConfig, Tag("vlad")]
    | Annotated[RaEwmaConfig, Tag("ra_ewma")]
    | Annotated[XmrConfig, Tag("xmr")],
    Discriminator(_kind),
]
ExposureMonitorConfig = Annotated[
    Annotated[PoissonCusumConfig, Tag("poisson_cusum")],
    Discriminator(_kind),
]
MONITOR_KINDS = ("ra_cusum", "bernoulli_cusum", "vlad", "ra_ewma", "xmr", "poisson_cusum")

Segment = Literal["sex", "imd_quintile", "ethnic_group", "age_band"]


class DriftConfig(BaseModel):
    """Calibration drift of the risk model, watched nationally on y − p (river)."""

    model_config = _strict
    detector: Literal["adwin", "page_hinkley"] = "adwin"
    delta: Annotated[float, Field(gt=0, lt=1)] = 0.002


class BaselineConfig(BaseModel):
    """The in-control patient mix that ``target_arl0`` monitors are calibrated on: a file of
    predicted risks, one per line (relative paths are relative to the config file)."""

    model_config = _strict
    risks: Path


def _unique_monitor_names(monitors: list[Any]) -> None:
    names = [m.name for m in monitors]
    duplicates = sorted({n for n in names if names.count(n) > 1 and n})
    if duplicates:
        raise ValueError(f"monitors: names must be unique, repeated: {', '.join(duplicates)}")


class BinaryOutcomeMetric(BaseModel):
    """A yes/no outcome per procedure (e.g. death within 30 days), risk-adjusted."""

    model_config = _strict
    name: MetricName
    kind: Literal["binary_outcome"]
    outcome: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    entities: Annotated[list[EntityType], Field(min_length=1)]
    risk_model: RiskModelConfig
    monitors: Annotated[list[BinaryMonitorConfig], Field(min_length=1)]
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
        _unique_monitor_names(self.monitors)
        needs_baseline = [m.name for m in self.monitors
                          if isinstance(m, RaCusumConfig) and m.target_arl0 is not None]
        if needs_baseline and self.baseline is None:
            raise ValueError(
                f"monitors {', '.join(map(str, needs_baseline))} give target_arl0: "
                "declare the baseline patient mix (baseline: {risks: FILE})"
            )
        return self


class Level1Config(BaseModel):
    """NJR outlier levels for implants (see ``signals.ptir_outlier``)."""

    model_config = _strict
    min_ratio: Annotated[float, Field(gt=1)] = 2.0
    min_primaries: Annotated[int, Field(ge=1)] = 100
    level2_ratio_few: Annotated[float, Field(gt=1)] = 2.0
    level2_ratio_many: Annotated[float, Field(gt=1)] = 1.5
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95


class DeviceExposureMetric(BaseModel):
    """Revisions of implanted devices per implant-year at risk, in event time."""

    model_config = _strict
    name: MetricName
    kind: Literal["device_exposure"]
    entities: Annotated[list[Literal["device"]], Field(min_length=1, max_length=1)]
    benchmark_per_100_years: Annotated[float, Field(gt=0)]
    monitors: list[ExposureMonitorConfig] = Field(default_factory=list)
    level1: Level1Config = Field(default_factory=Level1Config)

    @model_validator(mode="after")
    def _unique(self) -> DeviceExposureMetric:
        _unique_monitor_names(self.monitors)
        return self

    @property
    def benchmark_rate(self) -> float:
        """Revisions per implant-year."""
        return self.benchmark_per_100_years / 100.0


class ParticipationMetric(BaseModel):
    """Case ascertainment: submitted / expected cases per provider and period."""

    model_config = _strict
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


METRIC_KINDS = ("binary_outcome", "device_exposure", "participation")
MetricConfig = Annotated[
    Annotated[BinaryOutcomeMetric, Tag("binary_outcome")]
    | Annotated[DeviceExposureMetric, Tag("device_exposure")]
    | Annotated[ParticipationMetric, Tag("participation")],
    Discriminator(_kind),
]


class VigilConfig(BaseModel):
    """A registry's metric configuration."""

    model_config = _strict
    registry: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    metrics: Annotated[list[MetricConfig], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_names(self) -> VigilConfig:
        names = [m.name for m in self.metrics]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"metrics: names must be unique, repeated: {', '.join(duplicates)}")
        return self


def parse_config(text: str, source: str = "<config>") -> VigilConfig:
    """Parse and validate a YAML config; raise ``ConfigError`` listing every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(source, [f"{where}not valid YAML: {problem}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(source, ["the config must be a mapping with 'registry' and 'metrics'"])
    try:
        return VigilConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(source, _problems(error)) from None


def load_config(path: str | Path) -> VigilConfig:
    """Read and validate a config file, and calibrate any ``target_arl0`` monitors."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(str(path), [f"cannot read: {error.strerror}"]) from None
    return calibrate_config(parse_config(text, str(path)), path.parent, str(path))


def read_risks(path: Path) -> list[float]:
    """Predicted risks, one per line (blank lines and ``#`` comments ignored)."""
    risks = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{path}:{number}: not a number") from None
        if not 0 < value < 1:
            raise ValueError(f"{path}:{number}: a risk must lie strictly between 0 and 1")
        risks.append(value)
    if not risks:
        raise ValueError(f"{path}: no risks")
    return risks


def calibrate_config(config: VigilConfig, base: Path, source: str) -> VigilConfig:
    """Solve ``alarm_h`` for every monitor that gives ``target_arl0``, by Markov chain on
    its metric's baseline patient mix, and record how (``calibration``)."""
    problems = []
    for i, metric in enumerate(config.metrics):
        if not isinstance(metric, BinaryOutcomeMetric) or metric.baseline is None:
            continue
        targets = [m for m in metric.monitors
                   if isinstance(m, RaCusumConfig) and m.target_arl0 is not None]
        if not targets:
            continue
        path = metric.baseline.risks
        path = path if path.is_absolute() else base / path
        try:
            risks = read_risks(path)
        except (OSError, ValueError) as error:
            problems.append(f"metrics[{i}].baseline.risks: {error}")
            continue
        # scipy is heavy to import: only configs that ask for calibration pay for it.
        from signals.calibration import h_for_arl0

        for monitor in targets:
            assert monitor.target_arl0 is not None
            h = h_for_arl0(monitor.target_arl0, monitor.odds_ratio, risks)
            if monitor.alert_h is not None and monitor.alert_h >= h:
                problems.append(f"metrics[{i}].monitors: {monitor.name}: alert_h "
                                f"{monitor.alert_h} is not below the calibrated h {h:.4f}")
                continue
            object.__setattr__(monitor, "alarm_h", h)
            monitor._calibration = {
                "method": "markov", "grid": 1000, "target_arl0": monitor.target_arl0,
                "h": h, "baseline": str(metric.baseline.risks), "patients": len(risks),
            }
    if problems:
        raise ConfigError(source, problems)
    return config


_KIND_TAGS = {"logistic", *MONITOR_KINDS, *METRIC_KINDS}



def _problems(error: ValidationError) -> list[str]:
    problems = []
    for path, message, item in error_items(error, hide=_KIND_TAGS | {"[key]"}):
        if item["type"] == "union_tag_invalid":
            ctx = item.get("ctx") or {}
            message = f"unknown kind {ctx.get('tag')!r}; known kinds: {ctx.get('expected_tags')}"
            path += ".kind"
        elif item["type"] == "union_tag_not_found":
            message = "Field required"
            path += ".kind"
        elif item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "string_pattern_mismatch" and "risk_model.coefficients" in path:
            message = (
                "a feature must be a dotted path starting with one of "
                + ", ".join(FEATURE_ROOTS)
                + " (e.g. risk_factors.parsonnet), optionally with =level for a category"
                " (e.g. patient.sex=F)"
            )
        problems.append(f"{path}: {message}" if path else message)
    return [re.sub(r"\s+", " ", p) for p in problems]
