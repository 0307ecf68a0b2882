"""Vega-Lite specifications of the dashboard's charts: pure functions of chart data and the
palette (:mod:`streams.charts.palette`), which the page renders with vega-embed.

Every chart is by event date (the registry's wall-clock time, as
:func:`streams.dashboard.chart_history.registry_time` writes it: ISO text without an
offset, which the browser reads as local time, so it shows the date the registry reads).
Limits are rules: alert dashed, alarm solid (:data:`~streams.charts.palette.DASH`), coloured
by level; a signal's excursion (from the point after the statistic last stood at 0 to the
signal) is shaded in its direction's colour.

>>> view = {"monitors": [{"monitor": "ra", "kind": "ra_cusum", "direction": "worse",
...     "alert": 3.5, "alarm": 4.5, "below": False,
...     "points": [[1, 0.0, "2026-01-01T10:00:00"], [2, 4.8, "2026-01-02T10:00:00"]],
...     "signals": [{"n": 2, "at": "2026-01-02T10:00:00", "level": "alarm",
...                  "direction": "worse", "statistic": 4.8}],
...     "excursions": [{"start_at": "2026-01-02T10:00:00", "end_at": "2026-01-02T10:00:00",
...                     "level": "alarm"}]}],
...     "vlad": [], "observed": [], "expected": []}
>>> spec = monitor_spec(view["monitors"][0], 0)
>>> spec["$schema"].endswith("v5.json"), [layer["mark"]["type"] for layer in spec["layer"]]
(True, ['rect', 'line', 'rule', 'rule', 'point'])
>>> spec["layer"][2]["mark"]["strokeDash"], spec["layer"][3]["mark"]["strokeDash"]
([4, 3], [1, 0])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from streams.charts.palette import PALETTE

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
LEVELS = ("alert", "alarm")
FUNNEL_LEVELS = {0.95: "alert", 0.998: "alarm"}
ONE_ROW: dict[str, Any] = {"values": [{}]}
"""The data of a layer drawn from constants alone (a limit's ``datum``): a layer with no
data of its own and none to inherit draws nothing."""
X_DATE = {"field": "at", "type": "temporal", "title": "event date",
          "axis": {"labelAngle": 0, "labelOverlap": True, "format": "%-d %b %y"}}


def _base(title: str, layers: list[dict[str, Any]], height: int = 160) -> dict[str, Any]:
    return {"$schema": SCHEMA, "title": {"text": title, "anchor": "start", "fontSize": 12},
            "width": "container", "height": height, "layer": layers,
            "config": {"view": {"stroke": None}, "axis": {"labelFontSize": 10,
                                                          "titleFontSize": 10}}}


def _direction_scale(palette: Mapping[str, Any]) -> dict[str, Any]:
    return {"domain": ["worse", "better"],
            "range": [palette["direction"]["worse"], palette["direction"]["better"]]}


def monitor_spec(monitor: Mapping[str, Any], index: int,
                 palette: Mapping[str, Any] = PALETTE) -> dict[str, Any]:
    """One monitor's chart (CUSUM, PTIR ratio, participation…): its statistic by date,
    its alert and alarm limits, its signals and their excursions shaded."""
    colour = palette["series"][index % len(palette["series"])]
    worse = palette["direction"].get(monitor.get("direction") or "worse",
                                     palette["direction"]["worse"])
    values = [{"n": n, "value": value, "at": at} for n, value, at in monitor["points"]
              if at is not None]
    layers: list[dict[str, Any]] = [
        # The latest excursion only: earlier ones overlap it when the history kept is short.
        {"data": {"values": [dict(e) for e in monitor.get("excursions", [])[-1:]
                             if e.get("start_at") and e.get("end_at")]},
         "mark": {"type": "rect", "color": worse, "opacity": 0.15},
         "encoding": {"x": {"field": "start_at", "type": "temporal"},
                      "x2": {"field": "end_at"},
                      "tooltip": [{"field": "start_at", "type": "temporal",
                                   "title": "excursion from", "format": "%-d %b %Y %H:%M"},
                                  {"field": "end_at", "type": "temporal", "title": "to",
                                   "format": "%-d %b %Y %H:%M"}]}},
        {"data": {"values": values},
         "mark": {"type": "line", "color": colour, "strokeWidth": 1.5, "interpolate": "step-after"},
         "encoding": {"x": X_DATE,
                      "y": {"field": "value", "type": "quantitative", "title": "statistic"},
                      "tooltip": [{"field": "at", "type": "temporal", "title": "date",
                                   "format": "%-d %b %Y %H:%M"},
                                  {"field": "n", "title": "n"},
                                  {"field": "value", "title": "statistic", "format": ".2f"}]}},
    ]
    for level in LEVELS:
        limit = monitor.get(level)
        if isinstance(limit, int | float):
            layers.append({"data": ONE_ROW,
                           "mark": {"type": "rule", "color": palette["limit"][level],
                                    "strokeDash": list(palette["dash"][level]),
                                    "strokeWidth": 1.2},
                           "encoding": {"y": {"datum": limit},
                                        "tooltip": {"value": f"{level} limit {limit:g}"}}})
    signals = [{"at": s.get("at"), "value": s.get("statistic"), "level": s.get("level"),
                "direction": s.get("direction")} for s in monitor.get("signals", [])
               if s.get("at") and isinstance(s.get("statistic"), int | float)]
    layers.append({"data": {"values": signals},
                   "mark": {"type": "point", "filled": True, "size": 60},
                   "encoding": {"x": {"field": "at", "type": "temporal"},
                                "y": {"field": "value", "type": "quantitative"},
                                "color": {"field": "direction", "type": "nominal",
                                          "scale": _direction_scale(palette), "legend": None},
                                "shape": {"field": "level", "type": "nominal",
                                          "scale": {"domain": ["alert", "alarm"],
                                                    "range": ["triangle-up", "diamond"]},
                                          "legend": None},
                                "tooltip": [{"field": "level"}, {"field": "direction"},
                                            {"field": "at", "type": "temporal",
                                             "format": "%-d %b %Y %H:%M"},
                                            {"field": "value", "format": ".2f"}]}})
    title = {"ptir": "PTIR ratio (lower confidence limit) against NJR levels"}.get(
        str(monitor.get("kind")), f"{monitor.get('monitor')} ({monitor.get('direction')})")
    return _base(title, layers)


def vlad_spec(view: Mapping[str, Any], palette: Mapping[str, Any] = PALETTE) -> dict[str, Any]:
    """The VLAD curve (expected − observed: statistical lives saved) by date.

    >>> vlad_spec({"vlad": [[1, 0.2, "2026-01-01T00:00:00"]]})["layer"][1]["data"]["values"]
    [{'n': 1, 'value': 0.2, 'at': '2026-01-01T00:00:00'}]
    """
    values = [{"n": n, "value": v, "at": at} for n, v, at in view["vlad"] if at is not None]
    return _base("VLAD: expected − observed", [
        {"data": ONE_ROW,
         "mark": {"type": "rule", "color": palette["neutral"], "strokeDash": [2, 3]},
         "encoding": {"y": {"datum": 0}}},
        {"data": {"values": values},
         # Points as well as the line: a chart with one point so far still shows it.
         "mark": {"type": "line", "color": palette["series"][2], "strokeWidth": 1.5,
                  "point": {"filled": True, "size": 16, "color": palette["series"][2]}},
         "encoding": {"x": X_DATE, "y": {"field": "value", "type": "quantitative",
                                         "title": "E − O"},
                      "tooltip": [{"field": "at", "type": "temporal",
                                   "format": "%-d %b %Y %H:%M"},
                                  {"field": "value", "format": ".2f"}]}}])


def observed_expected_spec(view: Mapping[str, Any], palette: Mapping[str, Any] = PALETTE
                           ) -> dict[str, Any]:
    """Cumulative observed against expected by date.

    >>> spec = observed_expected_spec({"observed": [[1, 1, "d"]], "expected": [[1, 0.2, "d"]]})
    >>> [v["series"] for v in spec["data"]["values"]]
    ['observed', 'expected']
    """
    values = ([{"series": "observed", "value": v, "at": at, "n": n}
               for n, v, at in view["observed"] if at is not None]
              + [{"series": "expected", "value": v, "at": at, "n": n}
                 for n, v, at in view["expected"] if at is not None])
    spec = _base("Observed and expected", [{
        "mark": {"type": "line", "strokeWidth": 1.5, "point": {"filled": True, "size": 16}},
        "encoding": {"x": X_DATE, "y": {"field": "value", "type": "quantitative",
                                        "title": "count"},
                     "color": {"field": "series", "type": "nominal",
                               "scale": {"domain": ["observed", "expected"],
                                         "range": [palette["series"][0], palette["neutral"]]},
                               "legend": {"orient": "top-left", "title": None}},
                     "strokeDash": {"field": "series", "type": "nominal",
                                    "scale": {"domain": ["observed", "expected"],
                                              "range": [[1, 0], [5, 3]]}, "legend": None},
                     "tooltip": [{"field": "series"}, {"field": "at", "type": "temporal",
                                                       "format": "%-d %b %Y %H:%M"},
                                 {"field": "value", "format": ".2f"}]}}])
    spec["data"] = {"values": values}
    return spec


def chart_specs(view: Mapping[str, Any], palette: Mapping[str, Any] = PALETTE
                ) -> list[dict[str, Any]]:
    """Every chart of one entity (``streams.dashboard.data.chart_view``): one per monitor,
    then VLAD and observed/expected where the metric has them.

    >>> [c["id"] for c in chart_specs({"monitors": [], "vlad": [], "observed": [[1, 1, "d"]],
    ...                                "expected": [[1, 1.0, "d"]]})]
    ['observed-expected']
    """
    out = [{"id": f"monitor-{m['monitor']}", "kind": m.get("kind"),
            "spec": monitor_spec(m, i, palette)}
           for i, m in enumerate(view.get("monitors", []))]
    if view.get("vlad"):
        out.append({"id": "vlad", "kind": "vlad", "spec": vlad_spec(view, palette)})
    if view.get("observed") and view.get("expected"):
        out.append({"id": "observed-expected", "kind": "oe",
                    "spec": observed_expected_spec(view, palette)})
    return out


def funnel_spec(view: Mapping[str, Any], palette: Mapping[str, Any] = PALETTE
                ) -> dict[str, Any]:
    """A funnel plot (``streams.dashboard.data.funnel_view``): O/E per entity against its
    expected count, the 95% (alert, dashed) and 99.8% (alarm, solid) limits, the target 1,
    outliers coloured by direction and labelled.

    >>> spec = funnel_spec({"metric": "m", "entity_type": "provider", "target": 1.0,
    ...     "points": [{"entity_id": "A", "expected": 10.0, "ratio": 3.0, "level": "alarm",
    ...                 "direction": "worse", "observed": 30}],
    ...     "limits": [{"level": 0.95, "expected": [1.0, 10.0], "lower": [0.1, 0.5],
    ...                 "upper": [3.0, 1.6]}]})
    >>> [layer["mark"]["type"] for layer in spec["layer"]]
    ['rule', 'line', 'line', 'point', 'text']
    """
    layers: list[dict[str, Any]] = [
        {"data": ONE_ROW, "mark": {"type": "rule", "color": palette["neutral"]},
         "encoding": {"y": {"datum": view.get("target", 1.0)}}}]
    for limit in view.get("limits", []):
        level = FUNNEL_LEVELS.get(float(limit["level"]), "alarm")
        for side in ("upper", "lower"):
            values = [{"expected": e, "ratio": r}
                      for e, r in zip(limit["expected"], limit[side], strict=True)]
            layers.append({
                "data": {"values": values},
                "mark": {"type": "line", "color": palette["limit"][level],
                         "strokeDash": list(palette["dash"][level]), "strokeWidth": 1.1,
                         "clip": True},
                "encoding": {"x": {"field": "expected", "type": "quantitative",
                                   "scale": {"type": "log"}, "title": "expected (log)"},
                             "y": {"field": "ratio", "type": "quantitative",
                                   "title": "observed / expected"},
                             "tooltip": {"value": f"{limit['level']:.1%} limit"}}})
    points = [dict(p, status=p.get("direction") or "within")
              for p in view.get("points", []) if p.get("expected")]
    colour = {"field": "status", "type": "nominal", "legend": {"orient": "top-right",
                                                               "title": None},
              "scale": {"domain": ["worse", "better", "within"],
                        "range": [palette["direction"]["worse"], palette["direction"]["better"],
                                  palette["neutral"]]}}
    layers.append({"data": {"values": points},
                   "mark": {"type": "point", "filled": True, "size": 45},
                   "encoding": {"x": {"field": "expected", "type": "quantitative",
                                      "scale": {"type": "log"}},
                                "y": {"field": "ratio", "type": "quantitative"},
                                "color": colour,
                                "shape": {"field": "level", "type": "nominal",
                                          "scale": {"domain": ["alert", "alarm"],
                                                    "range": ["triangle-up", "diamond"]},
                                          "legend": None},
                                "tooltip": [{"field": "entity_id", "title": "entity"},
                                            {"field": "observed"},
                                            {"field": "expected", "format": ".1f"},
                                            {"field": "ratio", "title": "O/E", "format": ".2f"},
                                            {"field": "level"}]}})
    layers.append({"data": {"values": [p for p in points if p.get("level")]},
                   "mark": {"type": "text", "dx": 6, "align": "left", "fontSize": 10},
                   "encoding": {"x": {"field": "expected", "type": "quantitative",
                                      "scale": {"type": "log"}},
                                "y": {"field": "ratio", "type": "quantitative"},
                                "text": {"field": "entity_id"}}})
    spec = _base(f"{view.get('metric')} by {view.get('entity_type')}: O/E with 95% and "
                 "99.8% limits", layers, height=260)
    return spec


def is_spec(value: Any) -> bool:
    """Whether ``value`` looks like a Vega-Lite spec this module made.

    >>> is_spec(funnel_spec({"points": [], "limits": []})), is_spec({})
    (True, False)
    """
    return isinstance(value, Mapping) and value.get("$schema") == SCHEMA and isinstance(
        value.get("layer"), Sequence)
