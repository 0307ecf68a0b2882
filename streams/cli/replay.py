"""``vigil replay`` and ``vigil schema``: the event file through the monitors, no Kafka; and
the event contract's JSON Schema."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from streams.bundled_samples import sample_paths
from streams.console import EXIT_USAGE, usage_error
from streams.contract.events import json_schema
from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.config import ConfigError, load_config
from streams.pipeline.core import Pipeline
from streams.pipeline.replay import replay
from streams.settings_loading import load_settings


def _lines(stream: BinaryIO, total: int | None) -> Iterator[bytes]:
    if not sys.stderr.isatty():
        yield from stream
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr, desc="replay") as bar:
        pending = 0
        for line in stream:
            pending += len(line)
            if pending >= 1 << 20:
                bar.update(pending)
                pending = 0
            yield line
        bar.update(pending)


def cmd_replay(args: argparse.Namespace) -> int:
    events, config_path = args.events, args.config
    if events is None:
        events, sample_config = sample_paths()
        config_path = config_path or sample_config
        print(f"replaying the bundled synthetic sample {events}", file=sys.stderr)
    if config_path is None:
        return usage_error("vigil replay: --config is required with an events file")
    if args.escalate is not None:
        from notifiers.rules import RulesError, load_rules

        try:  # a bad rules file is refused before any work is done
            load_rules(args.escalate)
        except RulesError as error:
            return usage_error("\n".join(error.errors))
    try:
        config = load_config(config_path)
    except ConfigError as error:
        return usage_error(error)
    settings = load_settings()
    if settings is None:
        return EXIT_USAGE
    problems = settings.secret_problems()  # the same refusal as vigil run and config check
    if problems:
        return usage_error(f"vigil replay: {'; '.join(problems)}")
    pseudonymiser = settings.pseudonymiser() or Pseudonymiser.ephemeral()
    pipeline = Pipeline(config, settings.join_window())
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return usage_error(f"vigil replay: --out {out} is a file; it names the output folder")
    except OSError as error:
        return usage_error(f"vigil replay: cannot create --out folder {out}: {error.strerror}")
    if args.escalate is not None and args.log is not None:
        from notifiers.log.escalation_log import open_log

        try:  # a log that cannot be opened is refused before any work is done
            open_log(args.log).close()
        except Exception as error:  # the boundary: any failure to open is the user's to fix
            return usage_error(f"vigil replay: --log {args.log}: {error}")
    if str(events) == "-":
        summary = replay(_lines(sys.stdin.buffer, None), pipeline, out, pseudonymiser)
    else:
        path = Path(events)
        try:
            stream = path.open("rb")
        except OSError as error:
            return usage_error(f"vigil replay: cannot read {path}: {error.strerror}")
        with stream:
            summary = replay(_lines(stream, path.stat().st_size), pipeline, out, pseudonymiser)
    report = summary.as_dict()
    print(
        f"{report['lines']} events: {report['accepted']} accepted, {report['rejected']} rejected; "
        f"{report['signals']} signals from {report['monitors']} monitors "
        f"in {report['seconds']} s; outputs in {out}/"
    )
    if args.escalate is not None:
        from notifiers.replay_escalation import escalate_replay_outputs

        escalation = escalate_replay_outputs(
            out, args.escalate, log_url=args.log, outbox=args.outbox,
            events=None if str(events) == "-" else events,
        )
        print(escalation.line())
        report["escalation"] = escalation.as_dict()
    print(json.dumps(report))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``replay`` and ``schema``."""
    p = subparsers.add_parser("replay", help="run a file of events through the monitors")
    p.add_argument("events", nargs="?", help="JSONL events file, or - for stdin "
                   "(default: the bundled synthetic sample)")
    p.add_argument("--config", type=Path, help="metric configuration (YAML)")
    p.add_argument("--out", default="vigil-out", help="output folder (default: vigil-out)")
    p.add_argument("--escalate", metavar="RULES", help="then run the signals through "
                   "escalation with these rules, on simulated time following event time")
    p.add_argument("--log", metavar="URL", help="escalation log for --escalate "
                   "(default: sqlite:///OUT/escalation.db)")
    p.add_argument("--outbox", metavar="DIR", type=Path,
                   help="outbox folder for --escalate (default: OUT/outbox)")
    p.set_defaults(func=cmd_replay)

    p = subparsers.add_parser("schema", help="print the event contract's JSON Schema")
    p.set_defaults(func=cmd_schema)
