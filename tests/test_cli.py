"""The CLI's command table matches what each module registers."""

from __future__ import annotations

import argparse
from importlib import import_module

from streams.cli import COMMANDS, build_parser


def test_command_table_matches_the_modules():
    for module in set(COMMANDS.values()):
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        import_module(module).add_commands(sub)
        registered = set(sub.choices)
        assert registered == {c for c, m in COMMANDS.items() if m == module}, module


def test_full_parser_has_every_command():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(COMMANDS) | {"replay", "schema"} == set(sub.choices)
