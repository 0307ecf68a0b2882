"""``vigil case list|show|ack|respond|confirm|screen-out|withdraw|signoff|note``, on the log.

The CLI rebuilds the cases from the escalation log (``--log URL``, else
``$VIGIL_ESCALATION_LOG``, else ``sqlite:///vigil-escalation.db``, as for ``vigil audit``)
and appends actions to it; a running service picks them up on its next refresh, and its
dispatcher sends whatever the action requested (a sign-off releasing a CQC letter, say).
The log must exist already: a mistyped URL is an error (exit 2), not a new empty log.

Who acts is the principal of a token, as on the case API: ``--token-file PATH`` or
``$VIGIL_API_TOKEN`` holds a token of ``VIGIL_API_TOKENS`` (role ``operator``), and the log
records that token's name. ``--by`` is optional; when given it must be that name (exit 2
otherwise), so a script cannot claim to be somebody else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from notifiers.case_decisions import CaseActionError
from notifiers.cli.log_options import add_log_option, log_url, open_existing
from notifiers.engine import EscalationEngine, UnknownCase
from notifiers.http_api import Principal, principal_for, principals_from
from streams.console import EXIT_USAGE, refused, usage_error
from streams.secret_policy import mask_url
from streams.settings_loading import load_settings

TOKEN_VARIABLE = "VIGIL_API_TOKEN"

ACTIONS = {"ack": "acknowledge", "respond": "respond", "confirm": "confirm",
           "withdraw": "withdraw", "signoff": "signoff", "note": "note",
           "screen-out": "screen_out"}


@contextmanager
def _engine(args: argparse.Namespace) -> Iterator[EscalationEngine | None]:
    """An engine (no rules: each case carries its policy) on the log, closed afterwards."""
    log = open_existing(args)
    if isinstance(log, str):
        print(f"vigil case: {mask_url(log_url(args))}: {log}", file=sys.stderr)
        yield None
        return
    try:
        yield EscalationEngine(log, packs=_pack_source(args))
    finally:
        log.close()


def _pack_source(args: argparse.Namespace) -> Any:
    """The look-back pack source an action's notice draws on: the events file
    ``VIGIL_LOOKBACK_EVENTS`` replayed with ``--config``'s metrics; None without both (the
    notice then says why no pack is attached)."""
    config = getattr(args, "config", None)
    settings = load_settings() if config is not None else None
    if config is None or settings is None or settings.lookback_events is None:
        return None
    from streams.lookback.source import configured_pack_source
    from streams.pipeline.config import load_config
    from streams.pipeline.core import Pipeline

    return configured_pack_source(settings.lookback_events, Pipeline(load_config(config)))


def _row(case: dict[str, Any]) -> str:
    due = case["respond_by"] or "-"
    return (f"{case['case_id']}  {case['status']:<16} {case['level']:<5} "
            f"{case['metric']} {case['entity_type']} {case['entity_id']} {case['direction']}  "
            f"{case['policy']}/{case['stage'] or '-'}  due {due}")


def cmd_list(args: argparse.Namespace) -> int:
    with _engine(args) as engine:
        if engine is None:
            return EXIT_USAGE
        cases = [c.to_dict() for c in engine.cases(status=args.status)]
    for case in cases:
        print(_row(case))
    print(json.dumps({"cases": len(cases), "case_ids": [c["case_id"] for c in cases]}))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with _engine(args) as engine:
        if engine is None:
            return EXIT_USAGE
        try:
            case = engine.case(args.case_id).to_dict()
            history = engine.history(args.case_id)
        except UnknownCase:
            return refused(f"vigil case: no case {args.case_id}")
    print(_row(case))
    for entry in history:
        print(f"  {entry.seq:>6} {entry.at.isoformat()} {entry.kind}")
    print(json.dumps(case))
    return 0


def _token(args: argparse.Namespace) -> str | None:
    path: Path | None = getattr(args, "token_file", None)
    if path is not None:
        return path.read_text().strip()
    return os.environ.get(TOKEN_VARIABLE) or None


def acting_principal(args: argparse.Namespace) -> Principal | str:
    """The operator whose token the command was given, or why there is none (one line)."""
    prefix = f"vigil case {args.case_command}"
    try:
        token = _token(args)
    except OSError as error:
        return f"{prefix}: cannot read --token-file {args.token_file}: {error.strerror}"
    if not token:
        return (f"{prefix}: no token; set {TOKEN_VARIABLE} or --token-file to your token "
                "from VIGIL_API_TOKENS (who acts is the token's principal)")
    settings = load_settings()
    if settings is None:
        return f"{prefix}: the settings are invalid (see above)"
    principal = principal_for(principals_from(settings.api_principals()), token)
    if principal is None:
        return f"{prefix}: the token is not one of VIGIL_API_TOKENS"
    if principal.role != "operator":
        return f"{prefix}: {principal.name} has the {principal.role} role, which may only read"
    if args.by is not None and args.by != principal.name:
        return f"{prefix}: --by {args.by!r} is not the token's principal ({principal.name})"
    return principal


def cmd_act(args: argparse.Namespace) -> int:
    details = {"kind": args.kind} if getattr(args, "kind", None) else {}
    principal = acting_principal(args)
    if isinstance(principal, str):
        return usage_error(principal)
    args.by = principal.name
    with _engine(args) as engine:
        if engine is None:
            return EXIT_USAGE
        try:
            entries = engine.act(args.case_id, ACTIONS[args.case_command], by=principal.name,
                                 note=args.note, details=details)
            case = engine.case(args.case_id).to_dict()
        except UnknownCase:
            return refused(f"vigil case: no case {args.case_id}")
        except CaseActionError as error:
            return refused(f"vigil case: {error}")
    print(f"{args.case_command} recorded on {args.case_id} by {args.by}: now {case['status']}"
          f" at {case['policy']}/{case['stage'] or '-'}")
    print(json.dumps({"case_id": args.case_id, "status": case["status"],
                      "stage": case["stage"], "logged": [e.kind for e in entries]}))
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``vigil case …``."""
    case = subparsers.add_parser("case", help="list, show and act on escalation cases")
    sub = case.add_subparsers(dest="case_command", required=True, metavar="ACTION")

    def with_log(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        add_log_option(p)
        return p

    p = with_log(sub.add_parser("list", help="list cases"))
    p.add_argument("--status", choices=["open", "awaiting_signoff", "monitoring", "closed",
                                        "active"])
    p.set_defaults(func=cmd_list)
    p = with_log(sub.add_parser("show", help="a case and its log history"))
    p.add_argument("case_id")
    p.set_defaults(func=cmd_show)
    helps = {"ack": "record the provider's acknowledgement",
             "respond": "record the provider's response (data corrected or explanation)",
             "confirm": "confirm the alarm after screening or review",
             "screen-out": "close a case in screening, nobody outside told (--note: why)",
             "withdraw": "withdraw the case",
             "signoff": "sign off the stage waiting for it (releases regulator letters)",
             "note": "add a note"}
    for name, text in helps.items():
        p = with_log(sub.add_parser(name, help=text))
        p.add_argument("case_id")
        p.add_argument("--token-file", type=Path,
                       help=f"file holding your API token (default: ${TOKEN_VARIABLE}); its "
                            "principal in VIGIL_API_TOKENS is who acts")
        p.add_argument("--by", help="optional check: must equal the token's principal name")
        p.add_argument("--note", help="free text recorded with the action")
        p.add_argument("--config", type=Path,
                       help="the metric config: with VIGIL_LOOKBACK_EVENTS, a preliminary "
                            "notice this action writes carries its look-back pack")
        if name == "respond":
            p.add_argument("--kind", choices=["data_corrected", "explanation"])
        p.set_defaults(func=cmd_act)
