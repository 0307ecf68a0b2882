"""The ``vigil`` command line: the parser, built from the command modules, and ``main``.

No command module is imported here by name: :data:`COMMANDS` lists module paths, and only
the module of the command being run is imported (some import scipy, river or faust), so
``vigil replay`` starts quickly; ``vigil --help`` imports them all.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import import_module

from pydantic import ValidationError

from streams.console import usage_error
from streams.settings import VigilSettings
from streams.settings_loading import is_settings_error, settings_problem
from streams.telemetry import configure_logging

COMMANDS: dict[str, str | tuple[str, ...]] = {
    "replay": "streams.cli.replay",
    "schema": "streams.cli.replay",
    "run": "streams.cli.worker",
    "produce": "streams.cli.worker",
    "config": ("streams.cli.worker", "streams.docs.settings_reference"),
    "simulate": "streams.cli.simulate",
    "demo": "streams.cli.demo",
    "funnel": "streams.cli.funnel",
    "fit-risk-model": "streams.cli.risk_model",
    "arl": "streams.cli.calibration",
    "calibrate": "streams.cli.calibration",
    "budget": "streams.cli.budget",
    "lookback": "streams.cli.lookback",
    "report": "streams.cli.report",
    "export": "streams.cli.export",
    "audit": "notifiers.cli.audit",
    "rules": "notifiers.cli.rules",
    "case": "notifiers.cli.case",
}
"""Each command and the modules that add it with ``add_commands(subparsers)``, in the order
``vigil --help`` lists them."""


def _modules(entry: str | tuple[str, ...]) -> tuple[str, ...]:
    return (entry,) if isinstance(entry, str) else entry


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, only the modules adding that command are imported.

    >>> sub = build_parser("schema")._subparsers._group_actions[0]
    >>> sorted(sub.choices)
    ['replay', 'schema']
    """
    parser = argparse.ArgumentParser(
        prog="vigil", description="Safety-signal alerting for clinical audits and registries."
    )
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (env VIGIL_LOG_LEVEL)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = [COMMANDS[command]] if command in COMMANDS else list(COMMANDS.values())
    for module in dict.fromkeys(m for entry in chosen for m in _modules(entry)):
        import_module(module).add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` names; its exit status.

    Two failures are handled here, once for every command: a ``VIGIL_*`` value the
    settings refuse (exit 2 with one line naming it, :func:`settings_problem`), and the
    reader of standard output going away (``vigil … | head``): the rest of the output is
    dropped and the command exits 1 quietly, as the Python documentation's note on SIGPIPE
    advises.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if argv and argv[0] == "--log-level" and len(argv) > 2:
        command = argv[2]
    args = build_parser(command).parse_args(argv)
    try:
        configure_logging(args.log_level or VigilSettings().log_level)
        return int(args.func(args))
    except ValidationError as error:
        if not is_settings_error(error):
            raise
        return usage_error(settings_problem(error))
    except BrokenPipeError:
        # The reader went away (``| head``): point stdout at /dev/null so the interpreter's
        # final flush cannot fail again, and say so in one line, as for any usage problem.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return usage_error("vigil: output closed before the command finished (broken pipe)")


if __name__ == "__main__":
    sys.exit(main())
