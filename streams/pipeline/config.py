"""The metric configuration (YAML): which metrics a registry monitors, and how.

A config names the registry and lists metrics. Each metric has a ``kind`` (what events feed
it), the entity types it is monitored for, an optional risk model and its monitors. Kinds
are a tagged union generated from ``streams.pipeline.registry`` (each kind's config model
lives in its own module); an unknown kind is rejected with the list of known ones.

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

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import yaml
from pydantic import BaseModel, Field, StringConstraints, ValidationError, model_validator

from signals.ra_cusum import RaCusumConfig
from streams.contract.validation import error_items
from streams.pipeline.config_types import FEATURE_ROOTS, STRICT
from streams.pipeline.metric_kinds.binary_outcome import RISK_MODEL_KINDS, BinaryOutcomeMetric
from streams.pipeline.registry.metrics import METRICS, metric_configs
from streams.pipeline.registry.monitors import MONITORS


class ConfigError(ValueError):
    """A config that cannot be used: names the file, the path inside it and what is wrong."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


if TYPE_CHECKING:
    MetricConfig = Any
else:
    MetricConfig = metric_configs()


class VigilConfig(BaseModel):
    """A registry's metric configuration."""

    model_config = STRICT
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
        if not isinstance(metric, BinaryOutcomeMetric) or metric.baseline is None \
                or metric.baseline.risks is None:
            continue
        if not metric.baseline.risks.is_absolute():  # relative to the config file
            object.__setattr__(metric.baseline, "risks", base / metric.baseline.risks)
        targets = [m for m in metric.monitors
                   if isinstance(m, RaCusumConfig) and m.target_arl0 is not None]
        if not targets:
            continue
        path = metric.baseline.risks
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


_KIND_TAGS = {*RISK_MODEL_KINDS, *MONITORS, *METRICS}



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
