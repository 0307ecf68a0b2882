"""matplotlib figures for files (look-back packs, reports): charts dated in event time.

Every figure is an explicit :class:`matplotlib.figure.Figure` on the Agg canvas (no pyplot,
so no global figure registry or style state), and every colour comes from
:mod:`streams.charts.palette`. :func:`png_bytes` renders one without timestamps in the file,
so the same chart always gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

import matplotlib

matplotlib.use("Agg")  # before any canvas import: files only, never a window

import matplotlib.dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from signals.funnel import FunnelSnapshot, snapshot_curves
from streams.charts.funnel_table import funnel_subtitle
from streams.charts.palette import DASH, DIRECTION, LIMIT, NEUTRAL, SERIES
from streams.lookback.trace import ChartPoint

SIZE = (8.0, 4.2)
"""Figure size in inches (at 110 dpi about 880 × 460 pixels)."""
DPI = 110


def _dash(level: str) -> tuple[int, tuple[int, ...]]:
    on, off = DASH[level]
    return (0, (on, off)) if off else (0, ())


def _limit_colour(level: str, direction: str) -> str:
    return LIMIT[level] if direction == "worse" else DIRECTION["better"]


def new_figure(size: tuple[float, float] = SIZE) -> Figure:
    """A blank figure on its own Agg canvas."""
    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def chart_figure(points: Sequence[ChartPoint], monitor_kind: str, direction: str, *,
                 title: str, excursion_index: int | None = None,
                 signal_points: Sequence[tuple[datetime, float, str]] = ()) -> Figure:
    """A CUSUM or VLAD chart against event time (when each case was counted: its
    outcome's date where that came after the procedure): the statistic, the limits in force at each
    case (a per-entity chart's limits step where they were recalibrated), the excursion
    shaded and each signal marked.

    >>> from datetime import UTC
    >>> days = [datetime(2026, 1, i, tzinfo=UTC) for i in range(1, 7)]
    >>> pts = [ChartPoint(i, at, at, f"ep{i}", 0.1, i % 2, 0.5, 0.5 * i, 0.5 * i, 2.0, 3.0)
    ...        for i, at in enumerate(days, start=1)]
    >>> figure = chart_figure(pts, "ra_cusum", "worse", title="t", excursion_index=2,
    ...                       signal_points=[(pts[-1].occurred_at, 3.0, "alarm")])
    >>> png_bytes(figure)[:4]
    b'\\x89PNG'
    """
    figure = new_figure()
    axes = figure.add_subplot()
    dates = [float(mdates.date2num(p.recorded_at)) for p in points]
    values = [p.statistic for p in points]
    vlad = monitor_kind == "vlad"
    if excursion_index is not None and points:
        axes.axvspan(dates[excursion_index], dates[-1], color=DIRECTION[direction],
                     alpha=0.15, linewidth=0, label="excursion reviewed")
    axes.plot(dates, values, color=SERIES[0], linewidth=1.2,
              label="VLAD (expected − observed)" if vlad else "CUSUM statistic")
    for level, attribute in (("alert", "alert_h"), ("alarm", "alarm_h")):
        limit = [getattr(p, attribute) for p in points]
        if all(v is None for v in limit):
            continue
        axes.step(dates, [float("nan") if v is None else v for v in limit], where="post",
                  color=_limit_colour(level, direction), linestyle=_dash(level),
                  linewidth=1.0, label=f"{level} limit")
    for at, value, level in signal_points:
        axes.plot([float(mdates.date2num(at))], [value], linestyle="none", markersize=7,
                  marker="o" if level == "alarm" else "^", color=DIRECTION[direction])
    axes.axhline(0.0, color=NEUTRAL, linewidth=0.6)
    axes.set_title(title, fontsize=10)
    axes.set_ylabel("expected − observed" if vlad else "S (log-likelihood ratio)")
    axes.set_xlabel("event date")
    axes.xaxis_date()
    locator = mdates.AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes.grid(True, color=NEUTRAL, alpha=0.2, linewidth=0.5)
    axes.legend(loc="upper left", fontsize=8, frameon=False)
    return figure


def funnel_figure(snapshot: FunnelSnapshot, *, title: str,
                  highlight: str | None = None) -> Figure:
    """Observed/expected against expected with the 95% (alert) and 99.8% (alarm) limits;
    outliers in their direction's colour and labelled, ``highlight`` (the report's entity)
    ringed and labelled; the caption says which limits (exact Poisson or
    overdispersion-adjusted, with τ²) and how many entities are beyond them."""
    figure = new_figure()
    axes = figure.add_subplot()
    curves = snapshot_curves(snapshot)
    for level_index, level in enumerate(curves.levels):
        name = "alert" if level < 0.99 else "alarm"
        for band, direction in ((curves.lower, "better"), (curves.upper, "worse")):
            axes.plot(curves.expected, band[level_index], color=_limit_colour(name, direction),
                      linestyle=_dash(name), linewidth=1.0,
                      label=f"{level:.1%} limits" if direction == "worse" else None)
    axes.axhline(curves.target, color=NEUTRAL, linewidth=0.8)
    for point in snapshot.points:
        colour = NEUTRAL if point.direction is None else DIRECTION[point.direction.value]
        axes.plot([point.expected], [point.ratio], marker="o", markersize=5, color=colour,
                  linestyle="none")
        if point.entity_id == highlight:
            axes.plot([point.expected], [point.ratio], marker="o", markersize=11,
                      color=SERIES[0], markerfacecolor="none", linestyle="none")
        if point.entity_id == highlight or point.level is not None:
            axes.annotate(point.entity_id, (point.expected, point.ratio),
                          textcoords="offset points", xytext=(8, 6), fontsize=8,
                          color=SERIES[0] if point.direction is None
                          else DIRECTION[point.direction.value])
    axes.set_xscale("log")
    axes.set_xlabel("expected events (E)")
    axes.set_ylabel("observed / expected")
    axes.set_title(f"{title}\n{funnel_subtitle(snapshot)}", fontsize=9)
    axes.grid(True, color=NEUTRAL, alpha=0.2, linewidth=0.5)
    axes.legend(loc="upper right", fontsize=8, frameon=False)
    return figure


def text_figure(title: str, lines: Sequence[str], size: tuple[float, float] = (8.27, 11.69)
                ) -> Figure:
    """A page of text (A4 portrait by default) for a PDF report."""
    figure = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(figure)
    figure.text(0.07, 0.95, title, fontsize=14, weight="bold", va="top", color=SERIES[0])
    y = 0.91
    for line in lines:
        figure.text(0.07, y, line, fontsize=8.5, va="top", family="monospace",
                    color=SERIES[0])
        y -= 0.017
    return figure


def svg_text(figure: Figure) -> str:
    """The figure as SVG text, without a date stamp (reproducible text); its words are
    ``<text>`` (searchable, read by screen readers), not outlines."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "vigil"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG, without a software or date stamp (reproducible bytes)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
