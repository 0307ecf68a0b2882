"""Recent chart history per entity, for the dashboard: a bounded ring buffer of points.

The monitors table keeps only each entity's current monitor state; a chart needs its recent
past. :class:`ChartHistory` is fed by the read model (:mod:`streams.dashboard.read_model`)
with each entity's state as every batch left it (one changelog record) and with every
signal, and keeps per entity the last ``maxlen`` points ``(n, statistic per monitor, vlad,
observed, expected, at)`` where ``vlad`` = Σ(p − y) = expected − observed and ``at`` is the
event time of the entity's last observation in the registry's time zone (Europe/London,
wall-clock ISO text without an offset, so a browser anywhere draws the date the registry
reads). A signal adds a *peak* at its own ``n`` with the crossing statistic, so a CUSUM's
peak shows even when the chart restarted from 0 within the same batch.

Granularity: one point per entity per batch (batches are small at demo rates, so nearly
one per observation), plus one per signal. Memory only, rebuilt from the topics at start.

>>> history = ChartHistory(maxlen=3)
>>> monitors = [{"monitor": "ra_cusum_or2", "monitor_kind": "ra_cusum", "direction": "worse",
...              "statistic": 1.5, "n": 10, "observed": 2, "expected": 1.25,
...              "state": {"alert_h": 3.5, "alarm_h": 4.5}}]
>>> history.record("death_30d", "provider", "R1A", monitors, at="2026-01-05T09:00:00")
>>> history.series("death_30d", "provider", "R1A")["points"]
[[10, [1.5], -0.75, 2, 1.25, '2026-01-05T09:00:00']]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from notifiers.working_days import LONDON
from streams.contract.signal import Signal

EntityKey = tuple[str, str, str]
MARKER_FIELDS = ("signal_id", "monitor", "level", "direction", "n", "statistic", "threshold",
                 "occurred_at", "observed", "expected")


def registry_time(moment: datetime | str | None) -> str | None:
    """An instant as the registry's wall-clock time (Europe/London), ISO text, no offset.

    >>> registry_time("2026-07-01T12:00:00+00:00"), registry_time("2026-01-01T12:00:00Z")
    ('2026-07-01T13:00:00', '2026-01-01T12:00:00')
    >>> registry_time(None) is None
    True
    """
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(LONDON)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


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
        self._peaks: dict[EntityKey, deque[tuple[Any, str, float | None, str | None]]] = {}
        self._signals: dict[EntityKey, deque[dict[str, Any]]] = {}
        self._monitors: dict[EntityKey, list[dict[str, Any]]] = {}
        self.updates = 0

    def entities(self) -> list[EntityKey]:
        return sorted(set(self._points) | set(self._signals))

    def record(self, metric: str, entity_type: str, entity_id: str,
               monitors: Sequence[Mapping[str, Any]], at: str | None = None) -> None:
        """One point from an entity's monitor records (as ``Pipeline.monitor_records`` or a
        metric kind's ``records`` give them, in configured order) at event time ``at``."""
        if not monitors:
            return
        key = (metric, entity_type, entity_id)
        first = monitors[0]
        observed, expected = first.get("observed"), first.get("expected")
        vlad = _difference(expected, observed)
        stats = [_number(m.get("statistic")) for m in monitors]
        self._buffer(key).append([first.get("n"), stats, vlad, observed, expected, at])
        self._monitors[key] = [_describe(m) for m in monitors]
        self.updates += 1

    def record_signal(self, crossing: Signal) -> None:
        """A crossing: a marker, and a peak at its ``n`` holding the crossing statistic."""
        signal = crossing.to_dict()  # the marker holds JSON values, as the web page reads them
        key = (signal["metric"], signal["entity_type"], signal["entity_id"])
        at = registry_time(signal.get("occurred_at"))
        peaks = self._peaks.setdefault(key, deque(maxlen=self.max_signals))
        peaks.append((signal.get("n"), str(signal["monitor"]), _number(signal.get("statistic")),
                      at))
        marks = self._signals.setdefault(key, deque(maxlen=self.max_signals))
        marks.append({**{k: signal.get(k) for k in MARKER_FIELDS}, "at": at})
        self.updates += 1

    def record_many(self, entities: Iterable[tuple[EntityKey, Sequence[Mapping[str, Any]]]],
                    signals: Iterable[Signal]) -> None:
        """A batch: its signals, then each entity's end state."""
        for signal in signals:
            self.record_signal(signal)
        for (metric, entity_type, entity_id), monitors in entities:
            self.record(metric, entity_type, entity_id, monitors)

    def series(self, metric: str, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        """Everything known about one entity's charts, JSON-ready, points in ``n`` order
        (peaks among them, each before the state at its ``n``; a peak's other monitors
        are ``None``); ``None`` if unknown."""
        key = (metric, entity_type, entity_id)
        if key not in self._points and key not in self._signals:
            return None
        monitors = self._monitors.get(key, [])
        names = [m["monitor"] for m in monitors]
        # A peak comes before the state at its n: the batch's end state has the restart.
        ordered = [(_order(p[0]), 1, list(p)) for p in self._points.get(key, ())]
        for n, monitor, statistic, at in self._peaks.get(key, ()):
            if monitor in names and n is not None:
                stats: list[float | None] = [None] * len(names)
                stats[names.index(monitor)] = statistic
                ordered.append((_order(n), 0, [n, stats, None, None, None, at]))
        ordered.sort(key=lambda item: item[:2])
        points = [point for _, _, point in ordered]
        return {"metric": metric, "entity_type": entity_type, "entity_id": entity_id,
                "monitors": monitors, "points": points,
                "signals": list(self._signals.get(key, ()))}

    def _buffer(self, key: EntityKey) -> deque[list[Any]]:
        points = self._points.get(key)
        if points is None:
            points = self._points[key] = deque(maxlen=self.maxlen)
        return points


def _order(n: Any) -> float:
    return float(n) if isinstance(n, int | float) else -1.0


def _difference(expected: Any, observed: Any) -> float | None:
    if _number(expected) is None or _number(observed) is None:
        return None
    return float(expected) - float(observed)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _describe(record: Mapping[str, Any]) -> dict[str, Any]:
    """A monitor's name, kind, direction and limits (CUSUM ``h``, participation floors, or
    the NJR levels of a PTIR ratio: Level 2 as the alert, Level 1 as the alarm).

    >>> _describe({"monitor": "ptir_level", "monitor_kind": "ptir", "n": 150,
    ...     "state": {"level1_ratio": 2.0, "level2_ratio_many": 1.5, "level2_ratio_few": 2.0,
    ...               "min_primaries": 100}})["alert"]
    1.5
    """
    state = record.get("state") or {}
    alert = state.get("alert_h", state.get("alert_below"))
    alarm = state.get("alarm_h", state.get("alarm_below"))
    if record.get("monitor_kind") == "ptir":  # NJR levels on the PTIR ratio
        few = (record.get("n") or 0) < state.get("min_primaries", 100)
        alert = state.get("level2_ratio_few" if few else "level2_ratio_many")
        alarm = state.get("level1_ratio")
    return {"monitor": record.get("monitor"), "kind": record.get("monitor_kind"),
            "direction": record.get("direction"), "alert": alert, "alarm": alarm,
            "below": "alert_below" in state}
