"""Recent chart history per entity, for the dashboard: a bounded ring buffer of points.

The worker's entity stage keeps only each entity's current monitor state; a chart needs its
recent past. :class:`ChartHistory` is fed after every entity batch (see
:func:`streams.dashboard.install_dashboard`) with the batch's signals and each touched
entity's state at the end of the batch, and keeps per entity the last ``maxlen`` points
``(n, statistic per monitor, vlad, observed, expected)`` where ``vlad`` = Σ(p − y) =
expected − observed. A signal adds a point at its own ``n`` with the crossing statistic, so a
CUSUM's peak shows even when the chart restarted from 0 within the same batch.

Granularity: one point per entity per batch (batches are small at demo rates, so nearly
one per observation), plus one per signal. Memory only: a restarted worker starts its
charts afresh, and each worker holds the entities whose partitions it owns.

>>> history = ChartHistory(maxlen=3)
>>> monitors = [{"monitor": "ra_cusum_or2", "monitor_kind": "ra_cusum", "direction": "worse",
...              "statistic": 1.5, "n": 10, "observed": 2, "expected": 1.25,
...              "state": {"alert_h": 3.5, "alarm_h": 4.5}}]
>>> history.record("death_30d", "provider", "R1A", monitors)
>>> history.series("death_30d", "provider", "R1A")["points"]
[[10, [1.5], -0.75, 2, 1.25]]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from streams.contract.signal import Signal

EntityKey = tuple[str, str, str]


class ChartHistory:
    """Ring buffers of chart points and signals per (metric, entity_type, entity_id).

    Parameters
    ----------
    maxlen
        Points kept per entity (the oldest are dropped).
    max_signals
        Signals kept per entity.
    """

    def __init__(self, maxlen: int = 1500, max_signals: int = 200) -> None:
        if maxlen < 1 or max_signals < 1:
            raise ValueError("maxlen and max_signals must be positive")
        self.maxlen = maxlen
        self.max_signals = max_signals
        self._points: dict[EntityKey, deque[list[Any]]] = {}
        self._signals: dict[EntityKey, deque[dict[str, Any]]] = {}
        self._monitors: dict[EntityKey, list[dict[str, Any]]] = {}
        self.updates = 0

    def entities(self) -> list[EntityKey]:
        return sorted(self._points)

    def record(self, metric: str, entity_type: str, entity_id: str,
               monitors: Sequence[Mapping[str, Any]]) -> None:
        """One point from an entity's monitor records (as ``Pipeline.monitor_records`` or a
        metric kind's ``records`` give them, in configured order)."""
        if not monitors:
            return
        key = (metric, entity_type, entity_id)
        first = monitors[0]
        observed, expected = first.get("observed"), first.get("expected")
        vlad = _difference(expected, observed)
        stats = [_number(m.get("statistic")) for m in monitors]
        self._buffer(key).append([first.get("n"), stats, vlad, observed, expected])
        self._monitors[key] = [_describe(m) for m in monitors]
        self.updates += 1

    def record_signal(self, crossing: Signal) -> None:
        """A crossing: a marker, and a point at its ``n`` holding the crossing statistic."""
        signal = crossing.to_dict()  # the marker holds JSON values, as the web page reads them
        key = (signal["metric"], signal["entity_type"], signal["entity_id"])
        monitors = self._monitors.get(key)
        points = self._buffer(key)
        if monitors is not None:
            names = [m["monitor"] for m in monitors]
            if signal["monitor"] in names:
                observed, expected = signal.get("observed"), signal.get("expected")
                last = points[-1] if points else [None, [None] * len(names), _difference(
                    expected, observed), observed, expected]
                stats = list(last[1])
                stats[names.index(signal["monitor"])] = _number(signal.get("statistic"))
                points.append([signal.get("n"), stats, last[2], last[3], last[4]])
        marks = self._signals.setdefault(key, deque(maxlen=self.max_signals))
        marks.append({k: signal.get(k) for k in (
            "signal_id", "monitor", "level", "direction", "n", "statistic", "threshold",
            "occurred_at", "observed", "expected")})
        self.updates += 1

    def record_many(self, entities: Iterable[tuple[EntityKey, Sequence[Mapping[str, Any]]]],
                    signals: Iterable[Signal]) -> None:
        """A batch: its signals first (they happened within it), then each entity's end
        state."""
        entities = list(entities)
        for key, monitors in entities:  # so that a first-time entity's signals find names
            self._monitors.setdefault(key, [_describe(m) for m in monitors])
        for signal in signals:
            self.record_signal(signal)
        for (metric, entity_type, entity_id), monitors in entities:
            self.record(metric, entity_type, entity_id, monitors)

    def series(self, metric: str, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        """Everything known about one entity's charts, JSON-ready; ``None`` if unknown."""
        key = (metric, entity_type, entity_id)
        if key not in self._points:
            return None
        return {"metric": metric, "entity_type": entity_type, "entity_id": entity_id,
                "monitors": self._monitors.get(key, []),
                "points": [list(p) for p in self._points[key]],
                "signals": list(self._signals.get(key, ()))}

    def _buffer(self, key: EntityKey) -> deque[list[Any]]:
        points = self._points.get(key)
        if points is None:
            points = self._points[key] = deque(maxlen=self.maxlen)
        return points


def _difference(expected: Any, observed: Any) -> float | None:
    if _number(expected) is None or _number(observed) is None:
        return None
    return float(expected) - float(observed)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _describe(record: Mapping[str, Any]) -> dict[str, Any]:
    """A monitor's name, kind, direction and limits (CUSUM ``h`` or participation floors)."""
    state = record.get("state") or {}
    alert = state.get("alert_h", state.get("alert_below"))
    alarm = state.get("alarm_h", state.get("alarm_below"))
    return {"monitor": record.get("monitor"), "kind": record.get("monitor_kind"),
            "direction": record.get("direction"), "alert": alert, "alarm": alarm,
            "below": "alert_below" in state}
