"""The configurable monitor kinds: kind → config model, class and an example config.

>>> [kind for kind in MONITORS]
['ra_cusum', 'bernoulli_cusum', 'vlad', 'ra_ewma', 'xmr', 'poisson_cusum']
>>> from signals.observations import Exposure
>>> kinds_for(Exposure)
('poisson_cusum',)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import Discriminator, Tag

from signals.bernoulli_cusum import BernoulliCusum, BernoulliCusumConfig
from signals.monitor import Monitor
from signals.monitor_config import MonitorConfig
from signals.monthly_xmr import MonthlyXmr, XmrConfig
from signals.poisson_cusum import PoissonCusum, PoissonCusumConfig
from signals.ra_cusum import RaCusumConfig, RiskAdjustedCusum
from signals.ra_ewma import RaEwmaConfig, RiskAdjustedEwma
from signals.vlad import Vlad, VladConfig
from streams.pipeline.config_types import kind_of


@dataclass(frozen=True)
class MonitorKind:
    """One configurable monitor kind."""

    kind: str
    config: type[MonitorConfig]
    monitor: type[Monitor]
    example: dict[str, Any]
    """A valid config for it that raises signals on the synthetic registry (conformance)."""

    @property
    def observation_type(self) -> type:
        """The observation family its monitor's ``update`` takes."""
        return self.monitor.observation_type


MONITORS: dict[str, MonitorKind] = {k.kind: k for k in (
    MonitorKind("ra_cusum", RaCusumConfig, RiskAdjustedCusum,
                {"kind": "ra_cusum", "odds_ratio": 2.0, "alert_h": 1.5, "alarm_h": 2.5}),
    MonitorKind("bernoulli_cusum", BernoulliCusumConfig, BernoulliCusum,
                {"kind": "bernoulli_cusum", "p0": 0.05, "odds_ratio": 2.0, "alert_h": 1.5,
                 "alarm_h": 2.5}),
    MonitorKind("vlad", VladConfig, Vlad,
                {"kind": "vlad", "alert_below": -1.0, "alarm_below": -2.0}),
    MonitorKind("ra_ewma", RaEwmaConfig, RiskAdjustedEwma,
                {"kind": "ra_ewma", "smoothing": 0.05, "alarm_width": 2.0, "alert_width": 1.0}),
    MonitorKind("xmr", XmrConfig, MonthlyXmr,
                {"kind": "xmr", "min_months": 3}),
    MonitorKind("poisson_cusum", PoissonCusumConfig, PoissonCusum,
                {"kind": "poisson_cusum", "rate_ratio": 2.0, "alert_h": 1.0, "alarm_h": 2.0}),
)}


def kinds_for(*families: type) -> tuple[str, ...]:
    """The monitor kinds whose observation family is one of ``families``, in registry order."""
    return tuple(k.kind for k in MONITORS.values() if k.observation_type in families)


def monitor_configs(*families: type) -> Any:
    """The discriminated union of the config models of the monitor kinds taking one of
    ``families``: the type of a metric's ``monitors`` items."""
    members = [Annotated[MONITORS[kind].config, Tag(kind)] for kind in kinds_for(*families)]
    if not members:
        raise ValueError("no monitor kind takes these observations")
    return Annotated[Union[tuple(members)], Discriminator(kind_of)]  # noqa: UP007


def monitor_class(kind: str) -> type[Monitor]:
    """The class of a registered monitor kind (to rebuild one from its state)."""
    return MONITORS[kind].monitor
