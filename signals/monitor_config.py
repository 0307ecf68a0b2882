"""How a configurable monitor is described in a metric config, validated and built.

Each configurable monitor kind has a pydantic model beside its class (``RaCusumConfig`` in
``signals.ra_cusum``, ...): its parameters, checked when the config is loaded, and a
``build(context)`` that returns the monitor. A config that validates therefore builds, and
``streams.pipeline.registry.monitors`` lists which model goes with which class.

>>> from signals.ra_cusum import RaCusumConfig
>>> config = RaCusumConfig(kind="ra_cusum", odds_ratio=2, alert_h=3.5, alarm_h=4.5)
>>> config.name, type(config.build(BuildContext())).__name__
('ra_cusum_or2', 'RiskAdjustedCusum')
"""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

STRICT = ConfigDict(extra="forbid", frozen=True)
"""Config models refuse unknown fields and never change once validated."""

MonitorName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class BuildContext(NamedTuple):
    """What a metric tells its monitors when it builds them."""

    benchmark_rate: float | None = None
    """The metric's benchmark event rate per unit of exposure, for exposure charts."""


class MonitorConfig(BaseModel):
    """The fields every configurable monitor has: its ``kind`` and a ``name`` that defaults
    to one derived from its parameters (``default_name``)."""

    model_config = STRICT
    kind: str
    name: MonitorName | None = None

    def default_name(self) -> str:
        """The name used when the config gives none."""
        return self.kind

    @model_validator(mode="after")
    def _named(self) -> Self:
        if self.name is None:
            object.__setattr__(self, "name", self.default_name())
        return self

    def build(self, context: BuildContext) -> Any:
        """The monitor this config describes, fresh."""
        raise NotImplementedError


class CusumLimits(MonitorConfig):
    """An alarm limit ``alarm_h`` and an optional alert limit below it."""

    alert_h: Annotated[float, Field(gt=0)] | None = None
    alarm_h: Annotated[float, Field(gt=0)] | None = None

    def check_limits(self) -> None:
        """Refuse a missing alarm limit or an alert limit not below it."""
        if self.alarm_h is None:
            raise ValueError("alarm_h is required")
        if self.alert_h is not None and self.alert_h >= self.alarm_h:
            raise ValueError("alert_h must be below alarm_h")
