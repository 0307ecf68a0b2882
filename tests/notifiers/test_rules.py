"""Escalation rules: validation, routing, versions, reloads, explain and the CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml

from notifiers.cli import rules as rules_commands
from notifiers.rules import (
    RulesError,
    RulesHolder,
    default_rules_path,
    load_rules,
    parse_rules,
)
from notifiers.rules_explain import explain
from tests.support.escalation import NewLog, default_rules, engine, kinds, signal

MINIMAL = """
policies:
  tell_provider:
    stages: [{name: notice, notify: provider, template: alert_notice}]
  tell_operator:
    stages: [{name: notice, notify: [operator], template: operator_notice}]
  tell_both:
    stages: [{name: notice, notify: [provider, operator], template: operator_notice}]
routes:
  - {name: audit-copy, match: {level: alarm}, policy: tell_operator, continue: true}
  - {name: alarms, match: {level: alarm, entity_type: [provider, clinician]}, policy: tell_both}
  - {name: everything, match: {}, policy: tell_provider}
"""


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vigil")
    rules_commands.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_first_match_wins_and_continue_adds_companions() -> None:
    rules = parse_rules(yaml.safe_load(MINIMAL))
    alarm = rules.route(signal("alarm"))
    # 'alarms' ends the matching and owns the case; 'audit-copy' ran alongside.
    assert [r.name for r in alarm] == ["alarms", "audit-copy"]
    alert = rules.route(signal("alert"))
    assert [r.name for r in alert] == ["everything"]
    # A device alarm passes audit-copy (continue) but not 'alarms', so 'everything' ends it.
    device = rules.route(signal("alarm", entity_type="device", entity_id="05012345678900"))
    assert [r.name for r in device] == ["everything", "audit-copy"]


def test_default_rules_route_each_model_to_its_policy() -> None:
    rules = default_rules()

    def policy(**fields: object) -> str:
        return rules.route(signal(**fields))[0].policy  # type: ignore[arg-type]

    assert policy(level="alert") == "provider_alert"
    assert policy(level="alarm") == "hqip_alarm"
    assert policy(level="alarm", entity_type="clinician", entity_id="1234567") \
        == "clinician_alarm"
    assert policy(level="alarm", entity_type="device", entity_id="05012345678900") \
        == "device_alarm"
    assert policy(level="alert", entity_type="device", entity_id="05012345678900") \
        == "device_alert"
    assert policy(level="alarm", direction="better") == "positive_outlier"
    assert policy(level="alert", metric="participation") == "non_participation"
    assert policy(level="alarm", monitor_kind="case_ascertainment") == "non_participation"
    assert policy(level="alarm", monitor_kind="risk_model_drift") == "operator_only"
    assert policy(level="alarm", entity_type="national", entity_id="ENG") == "operator_only"


def test_default_stage_timings_match_the_hqip_table() -> None:
    stages = {s.name: s for s in default_rules().policies["hqip_alarm"].stages}
    assert stages["preliminary_notice"].respond_within_working_days == 25
    assert stages["review"].respond_within_working_days == 20
    assert stages["confirmation"].respond_within_working_days == 10
    assert stages["confirmation"].requires_signoff
    assert not stages["preliminary_notice"].requires_signoff
    steps = stages["confirmation"].deadline_steps()
    assert [s.action for s in steps] == ["reminder", "notify_cqc_non_response"]
    assert set(steps[0].notify or ()) == {"chief_executive", "lead_clinician",
                                          "medical_director", "cqc", "nhs_england"}


def test_signoff_defaults_to_required_when_a_regulator_is_told() -> None:
    data = yaml.safe_load(MINIMAL)
    data["policies"]["tell_operator"]["stages"][0]["notify"] = ["operator", "mhra"]
    rules = parse_rules(data)
    assert rules.policies["tell_operator"].stages[0].requires_signoff
    assert not rules.policies["tell_provider"].stages[0].requires_signoff


def test_bad_file_is_rejected_whole_with_the_path_of_each_error(tmp_path: Path) -> None:
    data = yaml.safe_load(MINIMAL)
    data["routes"][2]["match"]["level"] = "alrm"
    data["routes"][1]["policy"] = "no_such_policy"
    data["policies"]["tell_operator"]["stages"][0]["template"] = "no_such_template"
    path = write(tmp_path, yaml.safe_dump(data))
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    errors = caught.value.errors
    assert any(e.startswith("rules.yaml: routes[2].match.level[0]: Input should be 'alert'")
               for e in errors), errors
    # Schema errors are reported first; fix them and the cross-references are checked.
    data["routes"][2]["match"]["level"] = "alarm"
    with pytest.raises(RulesError) as caught:
        load_rules(write(tmp_path, yaml.safe_dump(data)))
    assert caught.value.errors == [
        "rules.yaml: routes[1].policy: unknown policy 'no_such_policy'",
        "rules.yaml: policies.tell_operator.stages[0].template: "
        "unknown template 'no_such_template'",
    ]


@pytest.mark.parametrize(("change", "message"), [
    ({"signoff_required": False, "notify": ["cqc"]},
     "policies.p.stages[0].signoff_required: a stage that writes to a regulator (cqc, mhra, "
     "nhs_england) must"),
    ({"expects_response": True},
     "policies.p.stages[0].respond_within_working_days: required when expects_response"),
    ({"on_deadline": [{"action": "reminder"}]},
     "policies.p.stages[0].on_deadline: only a stage that expects a response"),
    ({"notify": ["coroner"]}, "policies.p.stages[0].notify[0]: Input should be 'provider'"),
    ({"surprise": 1}, "policies.p.stages[0].surprise: Extra inputs are not permitted"),
])
def test_stage_validation(change: dict, message: str) -> None:
    stage = {"name": "s", "notify": ["provider"], "template": "alert_notice", **change}
    data = {"policies": {"p": {"stages": [stage]}}, "routes": [{"policy": "p"}]}
    with pytest.raises(RulesError) as caught:
        parse_rules(data, "r.yaml", templates={"alert_notice"})
    assert any(e.startswith(f"r.yaml: {message}") for e in caught.value.errors), \
        caught.value.errors


def test_yaml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as caught:
        load_rules(write(tmp_path, "routes: [\n  - {policy: x\n"))
    assert caught.value.errors[0].startswith("rules.yaml:2:3: not valid YAML")


def test_version_is_the_content_not_the_layout(tmp_path: Path) -> None:
    plain = load_rules(write(tmp_path, MINIMAL, "a.yaml"))
    commented = load_rules(write(tmp_path, "# a comment\n" + MINIMAL.replace(
        "[operator]", "[ operator ]"), "b.yaml"))
    assert plain.version == commented.version
    changed = load_rules(write(tmp_path, MINIMAL.replace("level: alarm}", "level: alert}"),
                               "c.yaml"))
    assert changed.version != plain.version


def test_holder_keeps_the_last_good_rules_and_the_engine_logs_both(
        new_log: NewLog, tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    holder = RulesHolder(path)
    good = holder.version
    eng, _ = engine(new_log(), rules=holder)
    first = [e.payload["version"] for e in eng.log.entries(kind="rules_version")]
    assert first == [good]

    path.write_text(MINIMAL.replace("template: alert_notice", "template: nope"))
    error = eng.reload_rules()
    assert error is not None and "unknown template 'nope'" in str(error)
    assert holder.version == good  # still running the last good rules
    rejected = list(eng.log.entries(kind="rules_rejected"))
    assert rejected[0].payload["running_version"] == good
    assert eng.receive(signal("alert")).status == "opened"

    path.write_text(MINIMAL.replace("tell_provider}", "tell_operator}"))
    assert eng.reload_rules() is None
    versions = [e.payload["version"] for e in eng.log.entries(kind="rules_version")]
    assert len(versions) == 2 and versions[1] == holder.version != good
    assert eng.reload_rules() is None  # unchanged content: nothing new logged
    assert kinds(eng.log.entries(kind="rules_version")) == ["rules_version"] * 2


def test_check_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["rules", "check", str(default_rules_path())]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1])["ok"] is True
    bad = write(tmp_path, MINIMAL.replace("{level: alarm, entity", "{level: loud, entity"))
    assert run_cli(["rules", "check", str(bad)]) == 2
    captured = capsys.readouterr()
    assert "rules.yaml: routes[1].match.level[0]" in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["ok"] is False


def test_explain_is_generated_from_the_model(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    rules = default_rules()
    text = explain(rules)
    assert rules.version in text
    for name in rules.policies:
        assert f"### `{name}`" in text
    assert "| 1. screening |" in text and "| 2. preliminary_notice |" in text
    assert "25 working days" in text and "repeat interval" in text
    assert "required before anything is sent" in text
    # Change a timing in the file and the document follows.
    changed = default_rules_path().read_text().replace(
        "respond_within_working_days: 25", "respond_within_working_days: 30")
    path = write(tmp_path, changed)
    assert run_cli(["rules", "explain", str(path)]) == 0
    out = capsys.readouterr().out
    assert "30 working days" in out and "| 2. preliminary_notice |" in out
    assert load_rules(path).version in out
