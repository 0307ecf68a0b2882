"""One module per metric kind: what events feed it, which entities it updates, and how its
observations drive the monitors in ``signals``. The pipeline dispatches to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from signals.crossing import Crossing

Entities = tuple[tuple[str, str], ...]


class Observation(NamedTuple):
    """One thing to tell the monitors of some entities, for one metric.

    ``values`` depend on the metric kind: ``(y, p)`` for a binary outcome, ``("implant" |
    "revision", POSIX seconds)`` for device exposure, ``(period, submitted, expected)`` for
    participation. ``entities`` lists (entity_type, entity_id) pairs in configured order.
    """

    metric: str
    values: tuple[Any, ...]
    entities: Entities
    event_id: str
    episode_id: str | None
    occurred_at: datetime
    provider: str | None



class Finding(NamedTuple):
    """A monitor that crossed a limit, with what a signal needs to say about it."""

    monitor: str
    monitor_kind: str
    crossing: Crossing
    direction: str
    n: int
    observed: float | None
    expected: float | None
    details: dict[str, Any] | None = None


def direction_of(monitor: Any) -> str:
    """The direction a monitor's latest crossing points (two-sided charts say which side)."""
    last = getattr(monitor, "last_direction", None)
    return (last or monitor.direction).value
