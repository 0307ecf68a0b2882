"""Field types and checks shared by the metric config models of every metric kind."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import StringConstraints

from signals.monitor_config import STRICT

__all__ = ["FEATURE_ROOTS", "STRICT", "EntityType", "FeaturePath", "MetricName", "kind_of",
           "unique_monitor_names"]

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


def kind_of(value: Any) -> Any:
    """The ``kind`` tag of raw config data or of a model (the unions' discriminator).

    >>> kind_of({"kind": "vlad"}), kind_of([1])
    ('vlad', None)
    """
    return value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)


def unique_monitor_names(monitors: list[Any]) -> None:
    """Refuse two monitors of one metric with the same name."""
    names = [m.name for m in monitors]
    duplicates = sorted({n for n in names if names.count(n) > 1 and n})
    if duplicates:
        raise ValueError(f"monitors: names must be unique, repeated: {', '.join(duplicates)}")
