"""The README's generated sections match the code they are generated from, and the
generator follows the settings model (whatever fields it has when the test runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from notifiers.rules import default_rules_path, load_rules
from notifiers.rules_explain import explain
from streams.cli import worker as worker_commands
from streams.docs import readme_sections
from streams.docs.settings_reference import (
    OTHER_VARIABLES,
    add_commands,
    environment_names,
    main,
    settings_reference_markdown,
)
from streams.settings import VigilSettings

README = Path(__file__).resolve().parents[2] / "README.md"
FIX = "python -m streams.docs.settings_reference --write-readme"


def test_readme_settings_reference_is_generated() -> None:
    text = README.read_text(encoding="utf-8")
    assert readme_sections.section(text, "settings-reference") == \
        settings_reference_markdown(), f"out of date: run {FIX}"


def test_readme_rules_section_is_generated() -> None:
    text = README.read_text(encoding="utf-8")
    assert readme_sections.section(text, "rules") == readme_sections.rules_markdown(), \
        f"out of date: run {FIX}"


def test_rules_section_is_rules_explain_one_level_down() -> None:
    explained = explain(load_rules(default_rules_path()), readme_sections.RULES_SOURCE)
    lines = explained.splitlines()
    assert lines[0] == "# Escalation rules"
    body = lines[1:]
    while not body[0].strip():
        body = body[1:]
    assert readme_sections.rules_markdown().splitlines() == [
        "#" + line if line.startswith("#") else line for line in body]


def test_reference_lists_every_field_of_the_model() -> None:
    table = settings_reference_markdown()
    prefix = VigilSettings.model_config.get("env_prefix", "")
    for name, field in VigilSettings.model_fields.items():
        for env in environment_names(name, field, prefix):
            assert f"| `{env}` |" in table
    for env in OTHER_VARIABLES:
        assert f"| `{env}` |" in table
    assert "| `VIGIL_WEB_PORT` | integer, 0 to 65535 | `6066` |" in table
    assert "| `VIGIL_HMAC_KEY` | secret string | *unset* | Key for pseudonymising" in table


def test_config_reference_command(capsys: pytest.CaptureFixture[str]) -> None:
    for worker_first in (False, True):
        parser = argparse.ArgumentParser(prog="vigil")
        sub = parser.add_subparsers(dest="command", required=True)
        if worker_first:  # vigil config check is registered already: join it
            worker_commands.add_commands(sub)
        add_commands(sub)
        args = parser.parse_args(["config", "reference"])
        assert args.func(args) == 0
        assert capsys.readouterr().out == settings_reference_markdown()
        if worker_first:
            assert parser.parse_args(["config", "check", "--config", "c.yaml"]).func


def test_write_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "README.md"
    stale.write_text("# X\n\n<!-- settings-reference:start -->\nold\n"
                     "<!-- settings-reference:end -->\n\n<!-- runbook:start -->\n"
                     "<!-- runbook:end -->\n\n<!-- rules:start -->\n"
                     "<!-- rules:end -->\ntail\n")
    assert main(["--check", str(stale)]) == 1
    assert main(["--write-readme", str(stale)]) == 0
    assert main(["--check", str(stale)]) == 0
    text = stale.read_text()
    assert text.startswith("# X\n") and text.endswith("<!-- rules:end -->\ntail\n")
    assert readme_sections.write(stale) == []
    capsys.readouterr()
    with pytest.raises(ValueError, match="markers"):
        readme_sections.section("no markers", "rules")
