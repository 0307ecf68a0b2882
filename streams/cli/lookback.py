"""``vigil lookback``: the look-back pack of one signal or case, from a file of events
(``streams.lookback``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from streams.console import usage_error


def _case(args: argparse.Namespace) -> dict[str, Any] | str:
    """The case as ``Case.to_dict()`` from the escalation log, or why not."""
    from notifiers.cli.log_options import open_existing
    from notifiers.engine import EscalationEngine, UnknownCase

    log = open_existing(args)
    if isinstance(log, str):
        return log
    try:
        return EscalationEngine(log).case(args.case).to_dict()
    except UnknownCase:
        return f"no case {args.case} in the escalation log"
    finally:
        log.close()


def cmd_lookback(args: argparse.Namespace) -> int:
    from streams.cli.inputs import config_and_events
    from streams.lookback.files import FILE_NAMES, render_files, zip_files
    from streams.lookback.source import SignalNotFound, pack_for_signal, read_events
    from streams.pipeline.core import Pipeline

    inputs = config_and_events("vigil lookback", args.config, args.events)
    if isinstance(inputs, int):
        return inputs
    config, events_path = inputs
    case: dict[str, Any] | None = None
    signal: dict[str, Any] | None = None
    signal_id = args.signal
    if args.case:
        found = _case(args)
        if isinstance(found, str):
            return usage_error(f"vigil lookback: {found}")
        case, signal = found, dict(found["last_signal"])
        signal_id = str(signal["signal_id"])
    try:
        pack = pack_for_signal(read_events(events_path), Pipeline(config),
                               signal_id=signal_id, signal=signal, case=case)
    except (SignalNotFound, ValueError) as error:
        return usage_error(f"vigil lookback: {error}")
    files = render_files(pack)
    out = Path(args.out) / pack.pack_id
    out.mkdir(parents=True, exist_ok=True)
    for name in FILE_NAMES:
        (out / name).write_bytes(files[name])
    archive = Path(args.out) / f"{pack.pack_id}.zip"
    archive.write_bytes(zip_files(files, pack.pack_id))
    excursion = pack.summary["excursion"]
    print(json.dumps({"pack": str(archive), "folder": str(out), "signal_id": signal_id,
                      "case_id": pack.summary["case_id"], "episodes": len(pack.episodes),
                      "excursion_start": excursion["start"],
                      "signal_at": excursion["signal"]}), file=sys.stdout)
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    from notifiers.cli.log_options import add_log_option

    p = subparsers.add_parser("lookback", help="look-back pack of a signal or case: the "
                              "episodes of its excursion, chart and response form")
    p.add_argument("--events", required=True, help="the events file (JSON lines)")
    p.add_argument("--config", required=True, help="the metric config")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--signal", help="a signal_id (as in signals.jsonl)")
    which.add_argument("--case", help="a case_id in the escalation log (its latest signal)")
    add_log_option(p)
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_lookback)
