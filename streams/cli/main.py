"""The ``vigil`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from importlib import import_module, resources
from pathlib import Path
from typing import BinaryIO

from streams.contract.events import json_schema
from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.config import ConfigError, load_config
from streams.pipeline.core import Pipeline
from streams.pipeline.replay import replay
from streams.settings import VigilSettings
from streams.telemetry import configure_logging

EXIT_USAGE = 2

COMMANDS: dict[str, str | tuple[str, ...]] = {
    "run": "streams.cli.worker",
    "produce": "streams.cli.worker",
    "config": ("streams.cli.worker", "streams.docs.settings_reference"),
    "simulate": "streams.cli.simulate",
    "demo": "streams.cli.demo",
    "funnel": "streams.cli.funnel",
    "fit-risk-model": "streams.cli.risk_model",
    "arl": "streams.cli.calibration",
    "calibrate": "streams.cli.calibration",
    "audit": "notifiers.cli.audit",
    "rules": "notifiers.cli.rules",
    "case": "notifiers.cli.case",
}
"""Each command and the module that adds it with ``add_commands(subparsers)``. Only the
module of the command being run is imported (some import scipy, river or faust), so
``vigil replay`` starts quickly; ``vigil --help`` imports them all."""


def sample_paths() -> tuple[Path, Path]:
    """The bundled synthetic registry sample and its metric config."""
    root = resources.files("streams") / "samples"
    return Path(str(root / "ncap-sample.jsonl")), Path(str(root / "ncap.yaml"))


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
        print("vigil replay: --config is required with an events file", file=sys.stderr)
        return EXIT_USAGE
    if args.escalate is not None:
        from notifiers.rules import RulesError, load_rules

        try:  # a bad rules file is refused before any work is done
            load_rules(args.escalate)
        except RulesError as error:
            print("\n".join(error.errors), file=sys.stderr)
            return EXIT_USAGE
    try:
        config = load_config(config_path)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    pseudonymiser = VigilSettings().pseudonymiser() or Pseudonymiser.ephemeral()
    pipeline = Pipeline(config)
    out = Path(args.out)
    if str(events) == "-":
        summary = replay(_lines(sys.stdin.buffer, None), pipeline, out, pseudonymiser)
    else:
        path = Path(events)
        try:
            stream = path.open("rb")
        except OSError as error:
            print(f"vigil replay: cannot read {path}: {error.strerror}", file=sys.stderr)
            return EXIT_USAGE
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


def _modules(entry: str | tuple[str, ...]) -> tuple[str, ...]:
    return (entry,) if isinstance(entry, str) else entry


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, only the module adding that command is imported."""
    parser = argparse.ArgumentParser(
        prog="vigil", description="Safety-signal alerting for clinical audits and registries."
    )
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (env VIGIL_LOG_LEVEL)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("replay", help="run a file of events through the monitors")
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

    p = sub.add_parser("schema", help="print the event contract's JSON Schema")
    p.set_defaults(func=cmd_schema)

    if command in ("replay", "schema"):
        modules: list[str] = []
    else:
        chosen = [COMMANDS[command]] if command in COMMANDS else list(COMMANDS.values())
        modules = list(dict.fromkeys(m for entry in chosen for m in _modules(entry)))
    for module in modules:
        import_module(module).add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if argv and argv[0] == "--log-level" and len(argv) > 2:
        command = argv[2]
    args = build_parser(command).parse_args(argv)
    configure_logging(args.log_level or VigilSettings().log_level)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
