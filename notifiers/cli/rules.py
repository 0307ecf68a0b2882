"""``vigil rules explain RULES`` and ``vigil rules check RULES``."""

from __future__ import annotations

import argparse
import json
import sys

from notifiers.rules import RulesError, default_rules_path, load_rules
from notifiers.rules_explain import explain
from streams.console import EXIT_USAGE


def _load(path: str):  # type: ignore[no-untyped-def]
    try:
        return load_rules(path), None
    except RulesError as error:
        return None, error


def cmd_check(args: argparse.Namespace) -> int:
    rules, error = _load(args.rules)
    if error is not None:
        for line in error.errors:
            print(line, file=sys.stderr)
        print(json.dumps({"ok": False, "errors": error.errors}))
        return EXIT_USAGE
    assert rules is not None
    print(f"{args.rules}: {len(rules.routes)} routes, {len(rules.policies)} policies; "
          f"version {rules.version}")
    print(json.dumps({"ok": True, "version": rules.version, "routes": len(rules.routes),
                      "policies": sorted(rules.policies)}))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    rules, error = _load(args.rules)
    if error is not None:
        for line in error.errors:
            print(line, file=sys.stderr)
        return EXIT_USAGE
    assert rules is not None
    print(explain(rules, args.rules), end="")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``vigil rules …``."""
    rules = subparsers.add_parser("rules", help="check or explain escalation rules")
    sub = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    default = str(default_rules_path())
    p = sub.add_parser("check", help="validate a rules file (exit 2 if invalid)")
    p.add_argument("rules", nargs="?", default=default, help="rules YAML (default: bundled)")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("explain", help="print the rules as Markdown for safety teams")
    p.add_argument("rules", nargs="?", default=default, help="rules YAML (default: bundled)")
    p.set_defaults(func=cmd_explain)
