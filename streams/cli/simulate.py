"""``vigil simulate``: write the synthetic registry feed with injected outliers
(:mod:`streams.synthetic_feed`) to stdout or a file, or stream it at ``--rate`` events per
second to the events topic."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from streams.console import EXIT_USAGE, usage_error
from streams.settings_loading import load_settings
from streams.synthetic import synthetic_events
from streams.synthetic_feed import add_feed_arguments, spec_from_args, stream_events


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "simulate", help="a synthetic registry feed with injected outliers (file or Kafka)")
    add_feed_arguments(p)
    p.add_argument("--out", default="-", help="JSONL file to write, - for stdout (default)")
    p.add_argument("--rate", type=float, help="stream to the events topic at this many "
                   "events/s instead (needs VIGIL_BOOTSTRAP_SERVERS)")
    p.add_argument("--seconds", type=float, help="with --rate: stop after this many seconds")
    p.set_defaults(func=cmd_simulate)


def write_events(lines: Iterable[str], out: TextIO) -> int:
    count = 0
    for line in lines:
        out.write(line + "\n")
        count += 1
    return count


def cmd_simulate(args: argparse.Namespace) -> int:
    try:
        spec, outliers = spec_from_args(args)
    except ValueError as error:
        return usage_error(f"vigil simulate: {error}")
    print(f"vigil simulate: injected outliers {json.dumps(outliers)}", file=sys.stderr)
    lines = synthetic_events(spec)
    if args.rate is None:
        if args.out == "-":
            count = write_events(lines, sys.stdout)
        else:
            with Path(args.out).open("w", encoding="utf-8") as out:
                count = write_events(lines, out)
        print(json.dumps({"events": count, "outliers": outliers}),
              file=sys.stderr if args.out == "-" else sys.stdout)
        return 0
    settings = load_settings()
    if settings is None:
        return EXIT_USAGE
    if not settings.bootstrap_servers:
        return usage_error("vigil simulate: --rate needs a Kafka cluster "
                           "(VIGIL_BOOTSTRAP_SERVERS)")
    try:
        sent = asyncio.run(stream_events(settings, lines, args.rate, seconds=args.seconds))
    except KeyboardInterrupt:
        return 0
    print(json.dumps({"topic": settings.events_topic, "events": sent, "outliers": outliers}))
    return 0
