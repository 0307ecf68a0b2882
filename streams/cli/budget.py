"""``vigil budget``: the false alarms a year to expect, per route, were every entity in
control (``streams.pipeline.budget``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from streams.console import usage_error


def cmd_budget(args: argparse.Namespace) -> int:
    from notifiers.rules import RulesError, default_rules_path, load_rules
    from streams.contract.pseudonym import Pseudonymiser
    from streams.pipeline.budget import CATEGORIES, false_alarm_budget
    from streams.pipeline.config import ConfigError, load_config
    from streams.pipeline.core import Pipeline

    try:
        config = load_config(args.config)
        rules = load_rules(args.rules or default_rules_path())
    except ConfigError as error:
        return usage_error(error)
    except RulesError as error:
        return usage_error("\n".join(error.errors))
    events = Path(args.events)
    if not events.is_file():
        return usage_error(f"vigil budget: --events {events} not found")
    with events.open("rb") as lines:
        budget = false_alarm_budget(lines, Pipeline(config), rules, Pseudonymiser.ephemeral())
    result = {
        "years_of_events": round(budget.years, 3),
        "charts": len({(c.metric, c.entity_type, c.entity_id, c.monitor)
                       for c in budget.charts}),
        "false_alarms_per_year": {k: round(v, 3) for k, v in budget.by_category().items()},
        "false_alerts_per_year": {k: round(v, 3)
                                  for k, v in budget.by_category("alert").items()},
        "false_alarms_per_year_by_route": {k: round(v, 3)
                                           for k, v in sorted(budget.by_route().items())},
        "note": "in control, from each chart's limit, its entity's cases a year and case "
                "mix (risk-adjusted CUSUMs only); counted under who each route's first "
                "stage writes to",
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['charts']} charts over {result['years_of_events']} years of events; "
          "expected false signals a year, were every entity in control:")
    print(f"  {'route':18s} {'alarms':>9s} {'alerts':>9s}")
    for name in CATEGORIES:
        print(f"  {name:18s} {result['false_alarms_per_year'][name]:9.2f} "
              f"{result['false_alerts_per_year'][name]:9.2f}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("budget", help="expected false alarms a year, per route")
    p.add_argument("--config", required=True)
    p.add_argument("--events", required=True, help="events giving volumes and case mixes")
    p.add_argument("--rules", help="rules file (default: the bundled rules)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_budget)
