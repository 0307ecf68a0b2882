"""A funnel plot's table: one row per entity with its limits and classification, as CSV
(``vigil funnel`` writes it beside the figure)."""

from __future__ import annotations

import csv
import io

from signals.funnel import FunnelSnapshot, snapshot_curves

CSV_COLUMNS = (
    "entity_id", "observed", "expected", "ratio", "alert_lower", "alert_upper",
    "alarm_lower", "alarm_upper", "level", "direction",
)  # fmt: skip


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


def funnel_subtitle(snapshot: FunnelSnapshot) -> str:
    """What the limits are and what they found, for the figure's caption.

    >>> from signals.funnel import FunnelInput, funnel_snapshot
    >>> funnel_subtitle(funnel_snapshot([FunnelInput("RXF", 30, 15.0)]))
    '95% and 99.8% exact Poisson limits; target 1; 1 entities, 1 beyond the alert limit'
    """
    curves = snapshot_curves(snapshot)
    levels = " and ".join(f"{100 * level:g}%" for level in curves.levels)
    if curves.tau2 is None:
        kind = "exact Poisson limits"
    else:
        kind = f"overdispersion-adjusted limits (τ² = {curves.tau2:.4g}, {curves.transform})"
    return (f"{levels} {kind}; target {snapshot.target:g}; {len(snapshot.points)} entities, "
            f"{len(snapshot.outliers)} beyond the alert limit")
