"""The ``--log`` option shared by ``vigil audit`` and ``vigil case``, and opening the log it
names. These commands only read or append: they never create a log, so a mistyped URL fails
instead of starting an empty new one."""

from __future__ import annotations

import argparse
import os

from notifiers.log.escalation_log import DEFAULT_LOG_URL, EscalationLog, open_log


def add_log_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--log URL`` to ``parser``."""
    parser.add_argument(
        "--log",
        help=f"escalation log URL (default: $VIGIL_ESCALATION_LOG or {DEFAULT_LOG_URL})",
    )


def log_url(args: argparse.Namespace) -> str:
    """The URL given, else the environment's, else the default (read when the command runs).

    >>> log_url(argparse.Namespace(log="sqlite:///audit.db"))
    'sqlite:///audit.db'
    """
    return getattr(args, "log", None) or os.environ.get("VIGIL_ESCALATION_LOG") or DEFAULT_LOG_URL


def open_existing(args: argparse.Namespace) -> EscalationLog | str:
    """The log named by ``args`` (never created), or why it cannot be opened."""
    try:
        return open_log(log_url(args), create=False)
    except Exception as exc:  # the boundary: any failure to open becomes a reported value
        return f"cannot open escalation log: {exc}"
