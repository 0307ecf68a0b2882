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
    StringConstraints,
    Tag,
    ValidationError,
    model_validator,
)

from signals.ra_cusum import RiskAdjustedCusum
from signals.risk_model import LogisticRiskModel

_strict = ConfigDict(extra="forbid", frozen=True)

MetricName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
EntityType = Literal["provider", "clinician", "device"]

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


class RaCusumConfig(BaseModel):
    """A risk-adjusted CUSUM (``signals.ra_cusum``)."""

    model_config = _strict
    kind: Literal["ra_cusum"]
    name: MetricName | None = None
    odds_ratio: Annotated[float, Field(gt=0)]
    alert_h: Annotated[float, Field(gt=0)] | None = None
    alarm_h: Annotated[float, Field(gt=0)]

    @model_validator(mode="after")
    def _check(self) -> RaCusumConfig:
        if self.odds_ratio == 1:
            raise ValueError("odds_ratio 1 detects no change: use > 1 (worse) or < 1 (better)")
        if self.alert_h is not None and self.alert_h >= self.alarm_h:
            raise ValueError("alert_h must be below alarm_h")
        if self.name is None:
            object.__setattr__(self, "name", f"ra_cusum_or{self.odds_ratio:g}")
        return self

    def build(self) -> RiskAdjustedCusum:
        return RiskAdjustedCusum(self.odds_ratio, self.alarm_h, self.alert_h)


MONITOR_KINDS: dict[str, type[BaseModel]] = {"ra_cusum": RaCusumConfig}
MonitorConfig = Annotated[
    Annotated[RaCusumConfig, Tag("ra_cusum")],
    Discriminator(_kind),
]


class BinaryOutcomeMetric(BaseModel):
    """A yes/no outcome per procedure (e.g. death within 30 days), risk-adjusted."""

    model_config = _strict
    name: MetricName
    kind: Literal["binary_outcome"]
    outcome: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    entities: Annotated[list[EntityType], Field(min_length=1)]
    risk_model: RiskModelConfig
    monitors: Annotated[list[MonitorConfig], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> BinaryOutcomeMetric:
        if len(set(self.entities)) != len(self.entities):
            raise ValueError("entities: each entity type may appear once")
        names = [m.name for m in self.monitors]
        duplicates = sorted({n for n in names if names.count(n) > 1 and n})
        if duplicates:
            raise ValueError(f"monitors: names must be unique, repeated: {', '.join(duplicates)}")
        return self


METRIC_KINDS: dict[str, type[BaseModel]] = {"binary_outcome": BinaryOutcomeMetric}
MetricConfig = Annotated[
    Annotated[BinaryOutcomeMetric, Tag("binary_outcome")],
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
    """Read and validate a config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(str(path), [f"cannot read: {error.strerror}"]) from None
    return parse_config(text, str(path))


_KIND_TAGS = {"logistic", *MONITOR_KINDS, *METRIC_KINDS}


def _problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        loc = [p for p in item["loc"] if p not in _KIND_TAGS and p != "[key]"]
        path = ""
        for part in loc:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = item["msg"].removeprefix("Value error, ")
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
