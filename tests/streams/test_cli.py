"""The CLI's command table matches what each module registers."""

from __future__ import annotations

import argparse
from importlib import import_module

from streams.cli.main import COMMANDS, build_parser


def test_command_table_matches_the_modules():
    for command, entry in COMMANDS.items():
        modules = (entry,) if isinstance(entry, str) else entry
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        for module in modules:
            import_module(module).add_commands(sub)
        assert command in sub.choices, command
        assert set(sub.choices) <= set(COMMANDS), (command, set(sub.choices) - set(COMMANDS))


def test_full_parser_has_every_command():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(COMMANDS) | {"replay", "schema"} == set(sub.choices)
