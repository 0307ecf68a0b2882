"""``vigil funnel``: a funnel-plot snapshot of a metric across entities, from a replay's
``monitors.jsonl`` (observed and expected per entity), as CSV and SVG."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from streams.console import usage_error

if TYPE_CHECKING:
    from signals.funnel import FunnelInput


def funnel_inputs(monitors_file: Path, metric: str, entity_type: str) -> list[FunnelInput]:
    """Observed and expected per entity of one metric (each entity's first monitor carries
    them; every monitor of an entity sees the same observations)."""
    from signals.funnel import FunnelInput

    rows: dict[str, FunnelInput] = {}
    with monitors_file.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record["metric"] != metric or record["entity_type"] != entity_type:
                continue
            if record["entity_id"] in rows or record.get("expected") in (None, 0):
                continue
            rows[record["entity_id"]] = FunnelInput(
                record["entity_id"], float(record["observed"]), float(record["expected"])
            )
    return list(rows.values())


def cmd_funnel(args: argparse.Namespace) -> int:
    # scipy loads here, not when the CLI starts: every other command stays quick to start.
    from signals.funnel import funnel_snapshot
    from streams.charts.figures import funnel_figure, png_bytes, svg_text
    from streams.charts.funnel_table import funnel_csv

    monitors = Path(args.replay_out) / "monitors.jsonl"
    if not monitors.is_file():
        return usage_error(f"vigil funnel: {monitors} not found (run vigil replay first)")
    rows = funnel_inputs(monitors, args.metric, args.entity_type)
    if len(rows) < 2:
        return usage_error(f"vigil funnel: {len(rows)} {args.entity_type} entities with "
                           f"expected > 0 for metric {args.metric!r}; a funnel needs at least 2")
    snapshot = funnel_snapshot(rows, overdispersion=args.overdispersion,
                               min_expected=args.min_expected)
    out = Path(args.out or args.replay_out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"funnel-{args.metric}-{args.entity_type}"
    stem.with_suffix(".csv").write_text(funnel_csv(snapshot), encoding="utf-8")
    title = f"{args.metric}: observed / expected by {args.entity_type}"
    figure = funnel_figure(snapshot, title=title)
    stem.with_suffix(".svg").write_text(svg_text(figure), encoding="utf-8")
    stem.with_suffix(".png").write_bytes(png_bytes(figure))
    outliers = [
        {"entity_id": p.entity_id, "level": p.level, "direction": p.direction,
         "ratio": p.ratio}
        for p in snapshot.outliers
    ]
    print(json.dumps({"entities": len(rows), "outliers": outliers, "tau2": snapshot.tau2,
                      "csv": str(stem.with_suffix(".csv")),
                      "svg": str(stem.with_suffix(".svg")),
                      "png": str(stem.with_suffix(".png"))}))
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("funnel", help="funnel plot of a metric across entities")
    p.add_argument("replay_out", help="a vigil replay output folder (reads monitors.jsonl)")
    p.add_argument("--metric", required=True)
    p.add_argument("--entity-type", default="provider")
    p.add_argument("--overdispersion", action="store_true",
                   help="widen the limits by Spiegelhalter's additive τ² (winsorised)")
    p.add_argument("--min-expected", type=float, default=1.0,
                   help="entities with fewer expected events are drawn but not classified "
                        "(default 1; 0 classifies all, as FunnelPlotR does)")
    p.add_argument("--out", help="output folder (default: the replay folder)")
    p.set_defaults(func=cmd_funnel)
