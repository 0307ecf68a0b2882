"""``vigil demo``: the whole system on one laptop, in one command (:mod:`streams.demo`)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from streams.demo import DEFAULT_PORT, run_demo
from streams.synthetic_feed import add_feed_arguments


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("demo", help="broker, worker, escalation, SMTP sink and a "
                              "synthetic feed with outliers, with the dashboard")
    p.add_argument("--rate", type=float, default=200.0,
                   help="events per second fed to the worker (default 200)")
    p.add_argument("--seconds", type=float, help="stop after this many seconds")
    p.add_argument("--out", type=Path, default=Path("vigil-demo"),
                   help="folder for logs, escalation log, outbox and mail (default vigil-demo/)")
    p.add_argument("--port", type=int, help=f"dashboard port (default {DEFAULT_PORT} if free)")
    add_feed_arguments(p, procedures=1_000_000, bad_clinician=3.0, better_provider=0.4,
                       bad_device=4.0, low_ascertainment=0.55)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(run_demo(args))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 0
