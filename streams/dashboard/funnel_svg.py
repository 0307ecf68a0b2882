"""Funnel plot output: a self-contained SVG drawing and a CSV table of a funnel snapshot.

Both are pure functions returning text, so that the CLI or a report job decides where the
text goes. The SVG is written by hand (no plotting library): axes with ticks, the alert and
alarm limit curves above and below the target line, one circle per entity coloured by its
outlier status, and the outliers labelled. Colours are the Okabe–Ito palette, which readers
with colour-vision deficiency can tell apart.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from signals.funnel import FunnelLimits, FunnelPoint, FunnelSnapshot
from streams.charts.palette import DASH, DIRECTION, LIMIT, NEUTRAL, SKY_BLUE

# The one palette (streams.charts.palette), as the dashboard's Vega-Lite funnel uses it.
STATUS_COLOURS = {
    "within": NEUTRAL,
    "alert-worse": LIMIT["alert"],
    "alarm-worse": DIRECTION["worse"],
    "alert-better": SKY_BLUE,
    "alarm-better": DIRECTION["better"],
}
STATUS_NAMES = {
    "within": "Within 95% limits",
    "alert-worse": "Alert, worse",
    "alarm-worse": "Alarm, worse",
    "alert-better": "Alert, better",
    "alarm-better": "Alarm, better",
}
ALERT_LINE = (f'stroke="{LIMIT["alert"]}" stroke-width="1.2" '
              f'stroke-dasharray="{" ".join(str(d) for d in DASH["alert"])}"')
ALARM_LINE = f'stroke="{LIMIT["alarm"]}" stroke-width="1.6"'

CSV_COLUMNS = (
    "entity_id", "observed", "expected", "ratio", "alert_lower", "alert_upper",
    "alarm_lower", "alarm_upper", "level", "direction",
)  # fmt: skip


def point_status(point: FunnelPoint) -> str:
    """``within``, or ``<level>-<direction>`` such as ``alarm-worse``."""
    if point.level is None or point.direction is None:
        return "within"
    return f"{point.level.value}-{point.direction.value}"


def render_funnel_svg(
    snapshot: FunnelSnapshot,
    curves: FunnelLimits,
    title: str,
    x_label: str = "Expected",
    y_label: str = "Observed / expected",
    width: int = 800,
    height: int = 520,
) -> str:
    """Draw ``snapshot`` over the limit ``curves`` as an SVG document string.

    Examples
    --------
    >>> from signals.funnel import FunnelInput, funnel_snapshot, snapshot_curves
    >>> snap = funnel_snapshot([FunnelInput("RXF", 30, 15.0), FunnelInput("RR8", 20, 20.0)])
    >>> svg = render_funnel_svg(snap, snapshot_curves(snap), "30-day mortality")
    >>> svg.startswith("<svg"), svg.count('class="point ')
    (True, 2)
    """
    left, right, top, bottom = 70, 170, 56, 60
    pw, ph = width - left - right, height - top - bottom
    ratios = [p.ratio for p in snapshot.points]
    t = snapshot.target
    x_max = max(float(np.max(curves.expected)), max(p.expected for p in snapshot.points))
    y_lo = max(0.0, min(0.7 * t, 0.9 * min(ratios)))
    y_hi = max(1.3 * t, 1.1 * max(ratios))
    x_ticks, y_ticks = _ticks(0.0, x_max * 1.02), _ticks(y_lo, y_hi)
    x0, x1 = x_ticks[0], x_ticks[-1]
    y0, y1 = y_ticks[0], y_ticks[-1]

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" '
        'font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<defs><clipPath id="plot-area"><rect x="{left}" y="{top}" width="{pw}" '
        f'height="{ph}"/></clipPath></defs>',
        f'<text x="{left}" y="24" font-size="16" font-weight="bold">{escape(title)}</text>',
        f'<text x="{left}" y="42" fill="#555555">{escape(_subtitle(snapshot, curves))}</text>',
    ]
    out.append('<g class="grid" stroke="#eeeeee">')
    out += [f'<line x1="{sx(v):.2f}" y1="{top}" x2="{sx(v):.2f}" y2="{top + ph}"/>'
            for v in x_ticks]  # fmt: skip
    out += [f'<line x1="{left}" y1="{sy(v):.2f}" x2="{left + pw}" y2="{sy(v):.2f}"/>'
            for v in y_ticks]  # fmt: skip
    out.append("</g>")
    out.append('<g class="axes" stroke="#333333">')
    out.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}"/>')
    out.append("</g>")
    out.append('<g class="tick-labels" fill="#333333">')
    out += [
        f'<text x="{sx(v):.2f}" y="{top + ph + 16}" text-anchor="middle">{_fmt(v)}</text>'
        for v in x_ticks
    ]
    out += [
        f'<text x="{left - 6}" y="{sy(v) + 4:.2f}" text-anchor="end">{_fmt(v)}</text>'
        for v in y_ticks
    ]
    out.append("</g>")
    out.append(
        f'<text x="{left + pw / 2:.2f}" y="{height - 16}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    out.append(
        f'<text transform="translate(18 {top + ph / 2:.2f}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )

    out.append('<g class="limits" clip-path="url(#plot-area)" fill="none">')
    out.append(
        f'<line class="target" x1="{left}" y1="{sy(t):.2f}" x2="{left + pw}" y2="{sy(t):.2f}" '
        'stroke="#333333" stroke-width="1"/>'
    )
    alarm_level = max(curves.levels)
    for k, level in enumerate(curves.levels):
        style = ALARM_LINE if level == alarm_level else ALERT_LINE
        for side, values in (("lower", curves.lower[k]), ("upper", curves.upper[k])):
            path = _path(curves.expected, values, sx, sy, y0, y1)
            if path:
                out.append(
                    f'<path class="limit" data-level="{level:g}" data-side="{side}" '
                    f'd="{path}" {style}/>'
                )
    out.append("</g>")

    out.append('<g class="points">')
    for p in sorted(snapshot.points, key=lambda p: p.level is not None):
        status = point_status(p)
        tip = (
            f"{p.entity_id}: O = {_fmt(p.observed)}, E = {_fmt(p.expected)}, "
            f"O/E = {p.ratio:.3f}"
        )
        out.append(
            f'<circle class="point {status}" cx="{sx(p.expected):.2f}" cy="{sy(p.ratio):.2f}" '
            f'r="4" fill="{STATUS_COLOURS[status]}" stroke="#333333" stroke-width="0.5" '
            f"data-entity={quoteattr(p.entity_id)} data-status=\"{status}\">"
            f"<title>{escape(tip)}</title></circle>"
        )
    out.append("</g>")
    out.append('<g class="labels" fill="#222222" font-size="11">')
    placed: list[tuple[float, float, float]] = []  # (x, baseline y, width) of labels so far
    for p in sorted(snapshot.outliers, key=lambda p: (p.expected, -p.ratio)):
        x, w = sx(p.expected) + 6, 6.5 * len(p.entity_id)
        # Points crowd at small E: try the label above the point, then alternately further
        # up and down, keeping the first place inside the plot that clears earlier labels.
        y = sy(p.ratio) - 6
        for shift in (0, -12, 12, -24, 24, -36, 36, -48, 48, -60, 60):
            cand = sy(p.ratio) - 6 + shift
            inside = top + 10 <= cand <= top + ph - 2
            if inside and not any(
                abs(cand - py) < 12 and x < px + pw_ and px < x + w for px, py, pw_ in placed
            ):
                y = cand
                break
        placed.append((x, y, w))
        out.append(f'<text x="{x:.2f}" y="{y:.2f}">{escape(p.entity_id)}</text>')
    out.append("</g>")
    out += _legend(left + pw + 16, top, curves, alarm_level)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def funnel_csv(snapshot: FunnelSnapshot) -> str:
    """The snapshot as CSV text, one row per entity; empty ``level``/``direction`` = within.

    >>> from signals.funnel import FunnelInput, funnel_snapshot
    >>> snap = funnel_snapshot([FunnelInput("RXF", 30, 15.0)])
    >>> print(funnel_csv(snap), end="")  # doctest: +ELLIPSIS
    entity_id,observed,expected,ratio,alert_lower,alert_upper,alarm_lower,alarm_upper,level,direction
    RXF,30.0,15.0,2.0,0.5596924...,1.649347...,0.386265...,2.082907...,alert,worse
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in snapshot.points:
        writer.writerow(
            [
                p.entity_id, repr(p.observed), repr(p.expected), repr(p.ratio),
                repr(p.alert_lower), repr(p.alert_upper), repr(p.alarm_lower),
                repr(p.alarm_upper), p.level.value if p.level else "",
                p.direction.value if p.direction else "",
            ]
        )  # fmt: skip
    return buf.getvalue()


def _subtitle(snapshot: FunnelSnapshot, curves: FunnelLimits) -> str:
    levels = " and ".join(f"{100 * lv:g}%" for lv in curves.levels)
    if curves.tau2 is None:
        kind = "exact Poisson limits"
    else:
        kind = f"overdispersion-adjusted limits (τ² = {curves.tau2:.4g}, {curves.transform})"
    outliers = len(snapshot.outliers)
    return (
        f"{levels} {kind}; target {snapshot.target:g}; {len(snapshot.points)} entities, "
        f"{outliers} beyond the alert limit"
    )


def _legend(x: float, y: float, curves: FunnelLimits, alarm_level: float) -> list[str]:
    out = [f'<g class="legend" transform="translate({x:.2f} {y:.2f})">']
    row = 0
    for level in sorted(curves.levels):
        style = ALARM_LINE if level == alarm_level else ALERT_LINE
        name = "alarm" if level == alarm_level else "alert"
        out.append(f'<line x1="0" y1="{row * 18 + 6}" x2="24" y2="{row * 18 + 6}" {style}/>')
        out.append(f'<text x="30" y="{row * 18 + 10}">{100 * level:g}% limit ({name})</text>')
        row += 1
    row += 1
    for status, colour in STATUS_COLOURS.items():
        out.append(
            f'<circle cx="12" cy="{row * 18 + 6}" r="4" fill="{colour}" stroke="#333333" '
            'stroke-width="0.5"/>'
        )
        out.append(f'<text x="30" y="{row * 18 + 10}">{STATUS_NAMES[status]}</text>')
        row += 1
    out.append("</g>")
    return out


def _path(
    xs: Sequence[float] | np.ndarray,
    ys: Sequence[float] | np.ndarray,
    sx: Callable[[float], float],
    sy: Callable[[float], float],
    y0: float,
    y1: float,
) -> str:
    # Values far outside the axis are pinned just beyond it: the clip path hides the overshoot
    # while the curve still leaves the plot at the right place.
    span = y1 - y0
    parts = []
    for x, y in zip(xs, ys, strict=True):
        if not math.isfinite(float(y)):
            continue
        y = min(max(float(y), y0 - span), y1 + span)
        parts.append(f"{'M' if not parts else 'L'}{sx(float(x)):.2f},{sy(y):.2f}")
    return " ".join(parts)


def _ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    """Round-numbered ticks covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    count = math.ceil((hi - start) / step - 1e-9)
    return [round(start + i * step, 10) for i in range(count + 1)]


def _fmt(v: float) -> str:
    return f"{v:g}"

