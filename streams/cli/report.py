"""``vigil report``: per-registry and per-entity outlier reports (HTML and PDF) from a file of
events and, optionally, the escalation log (``streams.reports``)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from streams.console import usage_error


def cmd_report(args: argparse.Namespace) -> int:
    from streams.cli.inputs import config_and_events
    from streams.lookback.source import read_events
    from streams.pipeline.core import Pipeline
    from streams.reports.assembly import read_cases
    from streams.reports.render import render_report

    inputs = config_and_events("vigil report", args.config, args.events)
    if isinstance(inputs, int):
        return inputs
    config, events_path = inputs
    only = None
    if args.entity:
        entity_type, _, entity_id = args.entity.partition(":")
        if not entity_id:
            return usage_error("vigil report: --entity is TYPE:ID, e.g. provider:RXF")
        only = (entity_type, entity_id)
    log = None
    if args.log:
        from notifiers.cli.log_options import open_existing

        log = open_existing(args)
        if isinstance(log, str):
            return usage_error(f"vigil report: {log}")
    from streams.reports.assembly import gather

    try:
        data = gather(read_events(events_path), Pipeline(config), only)
        entities = [only] if only else data.entities_with("alarm")
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        jobs = [(None, f"report-{data.registry}")] + [
            (e, f"report-{e[0]}-{re.sub(r'[^A-Za-z0-9._-]', '_', e[1])}") for e in entities]
        for entity, stem in jobs:
            cases = None if log is None else read_cases(log, entity)
            html, pdf = render_report(data, entity, cases)
            (out / f"{stem}.html").write_text(html, encoding="utf-8")
            (out / f"{stem}.pdf").write_bytes(pdf)
            written += [str(out / f"{stem}.html"), str(out / f"{stem}.pdf")]
    finally:
        if log is not None:
            log.close()
    print(json.dumps({"registry": data.registry, "entities": len(entities),
                      "files": written}))
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="per-registry and per-entity outlier reports "
                              "(HTML and PDF)")
    p.add_argument("--events", required=True, help="the events file (JSON lines)")
    p.add_argument("--config", required=True, help="the metric config")
    p.add_argument("--entity", help="one entity, TYPE:ID (default: every entity with an "
                                    "alarm)")
    p.add_argument("--log", help="escalation log URL, for the case history (optional)")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_report)
