"""Outlier reports rendered: standalone HTML (Jinja2, autoescaped, images as data URIs) and
PDF (matplotlib's ``PdfPages``: text pages, then the figures), in memory."""

from __future__ import annotations

import base64
import io
import textwrap
from collections.abc import Sequence
from typing import Any

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from notifiers.funnel_position import funnel_position
from streams.charts.figures import chart_figure, funnel_figure, png_bytes, text_figure
from streams.lookback.files import environment, number
from streams.reports.assembly import Entity, RegistryData, latest_pack, signals_of
from streams.reports.methods import methods_lines


def _signal_rows(data: RegistryData, entity: Entity | None) -> list[dict[str, Any]]:
    rows = []
    for s in signals_of(data, entity):
        ratio = s.observed / s.expected if s.observed is not None and s.expected else None
        rows.append({"date": s.occurred_at.date().isoformat(),
                     "entity": f"{s.entity_type} {s.entity_id}", "metric": s.metric,
                     "monitor": s.monitor, "level": s.level.value,
                     "direction": s.direction.value, "statistic": s.statistic,
                     "threshold": s.threshold, "observed": s.observed,
                     "expected": s.expected, "ratio": ratio})
    return rows


def _charts(data: RegistryData, entity: Entity) -> list[tuple[Figure, dict[str, Any]]]:
    charts = []
    for key, trace in sorted(data.traces.items()):
        if (key.entity_type, key.entity_id) != entity or not trace.points:
            continue
        pack = latest_pack(data, key)
        marks = [(p.recorded_at, s.statistic, s.level.value)
                 for s in trace.signals for p in trace.points if p.n == s.n]
        title = f"{key.metric} · {key.entity_type} {key.entity_id} · {key.monitor}"
        figure = chart_figure(trace.points, trace.monitor_kind, trace.direction, title=title,
                              excursion_index=pack.excursion_index if pack else None,
                              signal_points=marks)
        if pack is not None:
            x = pack.summary["excursion"]
            caption = (f"{title}: {len(trace.signals)} signal(s); the latest "
                       f"{pack.summary['level']}'s excursion ({x['episodes']} episodes, "
                       f"{x['start'][:10]} to {x['signal'][:10]}) shaded.")
        else:
            caption = f"{title}: no signal."
        charts.append((figure, {"caption": caption,
                                "episodes": pack.episodes if pack else ()}))
    return charts


def _funnels(data: RegistryData, entity: Entity | None) -> list[tuple[Figure, dict[str, Any]]]:
    out = []
    for (metric, entity_type), snapshot in data.funnels.items():
        if entity is not None and entity_type != entity[0]:
            continue
        highlight = entity[1] if entity else None
        position = None
        if highlight is not None:
            point = next((p for p in snapshot.points if p.entity_id == highlight), None)
            if point is None:
                continue
            position = f"{entity_type} {highlight}: " + funnel_position(point.observed,
                                                                          point.expected)
        caption = f"{metric}: observed / expected by {entity_type}"
        out.append((funnel_figure(snapshot, title=caption, highlight=highlight),
                    {"caption": caption, "position": position}))
    return out


def _png(figure: Figure) -> str:
    return base64.b64encode(png_bytes(figure)).decode("ascii")


def _text_pages(title: str, lines: Sequence[str], per_page: int = 50) -> list[Figure]:
    wrapped: list[str] = []
    for line in lines:
        wrapped += textwrap.wrap(line, 100, subsequent_indent="    ") or [""]
    return [text_figure(title if i == 0 else f"{title} (continued)",
                        wrapped[i:i + per_page])
            for i in range(0, max(len(wrapped), 1), per_page)]


def render_report(data: RegistryData, entity: Entity | None = None,
                  cases: list[Any] | None = None) -> tuple[str, bytes]:
    """The report (per entity with ``entity``, else per registry) as (HTML, PDF bytes);
    ``cases`` are ``assembly.CaseRecord`` values, ``None`` when no log was read."""
    if entity is None:
        title = f"Outlier report: registry {data.registry}"
        charts: list[tuple[Figure, dict[str, Any]]] = []
        for alarmed in data.entities_with("alarm"):
            charts += _charts(data, alarmed)
    else:
        title = f"Outlier report: {entity[0]} {entity[1]} ({data.registry})"
        charts = _charts(data, entity)
    funnels = _funnels(data, entity)
    signals = _signal_rows(data, entity)
    methods = methods_lines(data.pipeline, data.records, entity)
    report = {"title": title, "registry": data.registry, "events": data.events,
              "first": data.first, "last": data.last, "signals": signals,
              "charts": [{**meta, "png": _png(f)} for f, meta in charts],
              "funnels": [{**meta, "png": _png(f)} for f, meta in funnels],
              "cases": cases, "methods": methods}
    html = environment("streams.reports").get_template("report.html.j2").render(r=report)
    lines = [f"Registry {data.registry}; events {data.first} to {data.last} (event time).",
             "", "Signals:"]
    lines += [f"  {s['date']}  {s['entity']}  {s['metric']}/{s['monitor']}  {s['level']} "
              f"{s['direction']}  S {number(s['statistic'])} vs {number(s['threshold'])}  "
              f"O {number(s['observed'])} E {number(s['expected'])} "
              f"O/E {number(s['ratio'], 2)}" for s in signals] or ["  none"]
    lines += ["", "Case history:"]
    if cases is None:
        lines.append("  no escalation log was given: not included")
    for case in cases or []:
        c = case.case
        lines.append(f"  case {c['case_id']}: {c['metric']} {c['entity_type']} "
                     f"{c['entity_id']} {c['direction']} {c['level']}, {c['status']}")
        lines += [f"    {at}  {kind}" for at, kind in case.history]
    lines += ["", "Methods:", *methods]
    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": title, "Creator": "Vigil",
                                    "CreationDate": None}) as pdf:
        for page in _text_pages(title, lines):
            pdf.savefig(page)
        for figure, _ in charts + funnels:
            pdf.savefig(figure)
    return html, buffer.getvalue()
