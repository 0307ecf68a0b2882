"""The metric configuration: the documented example loads verbatim; errors are precise."""

from __future__ import annotations

import json

import pytest

from streams.cli.main import main
from streams.pipeline.config import ConfigError, load_config, parse_config
from tests.support.configs import EXAMPLE


def test_issue_example_loads_verbatim(tmp_path):
    path = tmp_path / "ncap.yaml"
    path.write_text(EXAMPLE)
    config = load_config(path)
    (metric,) = config.metrics
    assert metric.entities == ["provider", "clinician"]
    assert [(m.odds_ratio, m.alert_h, m.alarm_h) for m in metric.monitors] == [
        (2.0, 3.5, 4.5), (0.5, 3.5, 4.5)]
    model = metric.risk_model.build()
    assert round(model.predict({"risk_factors.parsonnet": 50}), 3) == 0.542


@pytest.mark.parametrize(("change", "problem"), [
    (("kind: binary_outcome", "kind: survival"),
     "metrics[0].kind: unknown kind 'survival'; known kinds: 'binary_outcome'"),
    (("kind: ra_cusum, odds_ratio: 2.0", "kind: shewhart, odds_ratio: 2.0"),
     "metrics[0].monitors[0].kind: unknown kind 'shewhart'"),
    (("odds_ratio: 2.0", "odds_ratio: 1"), "metrics[0].monitors[0]: odds_ratio 1 detects"),
    (("alert_h: 3.5, alarm_h: 4.5}", "alert_h: 5, alarm_h: 4.5}"),
     "metrics[0].monitors[0]: alert_h must be below alarm_h"),
    (("risk_factors.parsonnet", "parsonnet"),
     "metrics[0].risk_model.coefficients.parsonnet: a feature must be a dotted path"),
    (("entities: [provider, clinician]", "entities: [provider, ward]"),
     "metrics[0].entities[1]: Input should be 'provider', 'clinician' or 'device'"),
    (("outcome: death_30d", "outcome: death_30d\n    colour: red"),
     "metrics[0].colour: unknown field"),
    (("registry: ncap-adult-cardiac\n", ""), "registry: Field required"),
])
def test_errors_name_file_and_path(change, problem):
    text = EXAMPLE.replace(*change, 1)
    assert text != EXAMPLE
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "ncap.yaml")
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems
    assert str(caught.value).startswith("ncap.yaml: ")


def test_yaml_syntax_error_gives_line():
    with pytest.raises(ConfigError, match=r"x.yaml: line 2, column \d+: not valid YAML"):
        parse_config("registry: r\nmetrics: [a, : b\n", "x.yaml")


def test_schema_command_prints_json_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert set(schema["discriminator"]["mapping"]) == {
        "procedure", "outcome", "revision", "submission"}
    assert "nhs_number" in json.dumps(schema)  # documented under its input name
