"""``vigil config reference`` and ``python -m streams.docs.settings_reference``: print the
configuration reference (:mod:`streams.docs.settings_table`), or with ``--write-readme``
rewrite the README's generated sections (this table and the escalation rules,
:mod:`streams.docs.readme_sections`); ``--check`` exits 1 when they are out of date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streams.docs import readme_sections
from streams.docs.settings_table import (
    OTHER_VARIABLES,
    SettingRow,
    describe_default,
    describe_type,
    environment_names,
    setting_rows,
    settings_reference_markdown,
    source_environment_names,
)

__all__ = [
    "OTHER_VARIABLES",
    "SettingRow",
    "add_commands",
    "describe_default",
    "describe_type",
    "environment_names",
    "main",
    "setting_rows",
    "settings_reference_markdown",
    "source_environment_names",
]


def cmd_reference(args: argparse.Namespace) -> int:
    print(settings_reference_markdown(), end="")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``vigil config reference``, joining ``vigil config`` if it is registered
    already (``streams.cli.worker`` registers ``config check``): call this after it."""
    config = subparsers.choices.get("config")
    if config is None:
        config = subparsers.add_parser("config", help="configuration tools")
        actions = config.add_subparsers(dest="config_command", required=True,
                                        metavar="ACTION")
    else:
        actions = next(a for a in config._actions
                       if isinstance(a, argparse._SubParsersAction))
    p = actions.add_parser("reference",
                           help="print the settings (VIGIL_* variables) as a Markdown table")
    p.set_defaults(func=cmd_reference)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m streams.docs.settings_reference",
        description="Print the settings reference, or regenerate the README's generated "
                    "sections (settings reference and escalation rules).")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write-readme", nargs="?", const="README.md", metavar="README",
                       help="rewrite the generated sections of README (default README.md)")
    group.add_argument("--check", nargs="?", const="README.md", metavar="README",
                       help="exit 1 if README's generated sections are out of date")
    args = parser.parse_args(argv)
    if args.write_readme:
        changed = readme_sections.write(Path(args.write_readme))
        print(f"{args.write_readme}: " + (f"regenerated {', '.join(changed)}" if changed
                                          else "up to date"))
        return 0
    if args.check:
        stale = readme_sections.stale(Path(args.check))
        if stale:
            print(f"{args.check}: out of date: {', '.join(stale)}; run python -m "
                  f"streams.docs.settings_reference --write-readme", file=sys.stderr)
            return 1
        return 0
    print(settings_reference_markdown(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
