"""``vigil export``: published figures with disclosure control (``streams.exports``), from an
events file replayed through the monitors and, for the HQIP sheet, the escalation log."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streams.console import usage_error

FORMATS = ("csv", "json", "fhir", "icb", "hqip", "all")
OUTPUTS = {"csv": "figures.csv", "json": "figures.json", "fhir": "measure-reports.json",
           "icb": "icb.csv", "hqip": "hqip-outliers.xlsx"}
"""Each format's file in ``--out``."""


def cmd_export(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from streams.bundled_samples import sample_paths
    from streams.exports.suppression import SuppressionRule

    try:
        rule = SuppressionRule(threshold=args.threshold, lowest_suppressed=args.lowest,
                               rounding_base=args.rounding)
    except ValidationError as error:
        return usage_error(f"vigil export: {error.errors()[0]['msg']}")
    wanted = [f for f in OUTPUTS if args.format in (f, "all")]
    if args.format == "all" and args.log is None:
        wanted.remove("hqip")
    if "hqip" in wanted and args.log is None:
        return usage_error("vigil export hqip: --log URL (the escalation log) is required")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return usage_error(f"vigil export: cannot create --out folder {out}: {error}")
    written: dict[str, Any] = {}
    if set(wanted) - {"hqip"}:
        events, config = args.events, args.config
        if events is None:
            events, sample_config = sample_paths()
            config = config or sample_config
        if config is None:
            return usage_error("vigil export: --config is required with --events")
        result = _figures(Path(events), Path(config), rule, wanted, out, args)
        if isinstance(result, int):
            return result
        written.update(result)
    if "hqip" in wanted:
        result = _hqip(args.log, rule, out / OUTPUTS["hqip"])
        if isinstance(result, int):
            return result
        written.update(result)
    print(json.dumps({"out": str(out), "suppression": rule.model_dump(), **written}))
    return 0


def _figures(events: Path, config_path: Path, rule: Any, wanted: list[str], out: Path,
             args: argparse.Namespace) -> dict[str, Any] | int:
    from streams.cli.inputs import config_and_events
    from streams.contract.pseudonym import Pseudonymiser
    from streams.exports.figure_files import write_csv, write_json
    from streams.exports.figures import published_figures
    from streams.exports.icb import ICB_COLUMNS, icb_rollup
    from streams.exports.measure_report import measure_bundle, measure_report
    from streams.exports.tallies import tally_events
    from streams.pipeline.core import Pipeline

    inputs = config_and_events("vigil export", config_path, events)
    if isinstance(inputs, int):
        return inputs
    config, events = inputs
    with events.open("rb") as lines:  # aggregates only: the run's own key is enough
        tallies = tally_events(lines, Pipeline(config), Pseudonymiser.ephemeral(), args.period)
    rows = published_figures(tallies, config.registry, rule)
    span = {"first": tallies.first.date().isoformat() if tallies.first else None,
            "last": tallies.last.date().isoformat() if tallies.last else None}
    about = {"registry": config.registry, "period": args.period, "events": span}
    written: dict[str, Any] = {}
    if "csv" in wanted:
        with open(out / OUTPUTS["csv"], "w", encoding="utf-8", newline="") as f:
            write_csv(rows, f)
        written["csv"] = len(rows)
    if "json" in wanted:
        with open(out / OUTPUTS["json"], "w", encoding="utf-8") as f:
            write_json(rows, rule, f, **about)
        written["json"] = len(rows)
    if "fhir" in wanted:
        first = tallies.first.date() if tallies.first else None
        last = tallies.last.date() if tallies.last else None
        today = datetime.now(UTC).date()
        reports = [measure_report(row, args.period, base=args.measure_base, first=first,
                                  last=last, generated=today) for row in rows]
        with open(out / OUTPUTS["fhir"], "w", encoding="utf-8") as f:
            json.dump(measure_bundle(reports), f, indent=2)
        written["fhir"] = len(reports)
    if "icb" in wanted:
        icb_rows = icb_rollup(tallies, rule)
        with open(out / OUTPUTS["icb"], "w", encoding="utf-8", newline="") as f:
            write_csv(icb_rows, f, ICB_COLUMNS)
        written["icb"] = len(icb_rows)
    return written


def _hqip(url: str, rule: Any, path: Path) -> dict[str, Any] | int:
    from notifiers.log.escalation_log import open_log
    from streams.exports.hqip_sheet import case_book, provider_cases, write_sheet

    try:
        log = open_log(url, create=False)
    except Exception as error:  # the boundary: any failure to open is the user's to fix
        return usage_error(f"vigil export: --log {url}: {error}")
    try:
        cases = provider_cases(case_book(log.entries()))
    finally:
        log.close()
    return {"hqip": write_sheet(cases, path, rule)}


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from streams.exports.measure_report import MEASURE_BASE

    p = subparsers.add_parser(
        "export", help="published figures with small-number suppression (CSV, JSON, FHIR "
                       "MeasureReport, ICB roll-up, HQIP outlier sheet)")
    p.add_argument("format", choices=FORMATS)
    p.add_argument("--events", type=Path, help="JSONL events (default: the bundled sample)")
    p.add_argument("--config", type=Path, help="metric configuration (YAML)")
    p.add_argument("--log", metavar="URL", help="escalation log, for hqip (e.g. "
                   "sqlite:///vigil-out/escalation.db, which replay --escalate writes)")
    p.add_argument("--out", default="vigil-export", help="output folder (default: vigil-export)")
    p.add_argument("--period", default="financial_year",
                   choices=("month", "quarter", "financial_year", "calendar_year", "all"),
                   help="reporting period of the figures (default: financial_year)")
    p.add_argument("--threshold", type=int, default=7,
                   help="largest count suppressed (default 7)")
    p.add_argument("--lowest", type=int, default=1,
                   help="smallest count suppressed; below it counts are published (default 1)")
    p.add_argument("--rounding", type=int, default=5,
                   help="round published counts to this base (default 5)")
    p.add_argument("--measure-base", default=MEASURE_BASE,
                   help="base of the metrics' canonical Measure URLs")
    p.set_defaults(func=cmd_export)
