"""``fit-risk-model`` (registered by ``streams.cli.risk_model.add_commands``)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import numpy as np
import pytest
import yaml

from streams.cli.risk_model import add_commands
from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.baseline import baseline_rows
from streams.pipeline.config import load_config, parse_config
from streams.pipeline.core import Pipeline
from streams.synthetic import SyntheticRegistry, synthetic_events
from tests.support.configs import EXAMPLE, SAMPLE
from tests.support.events import outcome, procedure, write_jsonl

UNTIL = "2027-03-01"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vigil")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """20,000 procedures from logit p = −3.68 + 0.077·parsonnet (~13,000 before UNTIL)."""
    folder = tmp_path_factory.mktemp("fit")
    events = folder / "events.jsonl"
    lines = synthetic_events(SyntheticRegistry(procedures=20000, seed=11))
    events.write_text("\n".join(lines) + "\n")
    config = SAMPLE
    return events, config


def glm(rows) -> np.ndarray:
    """Maximum likelihood by Newton–Raphson: the reference the online fit should reach."""
    x = np.array([[1.0, *(float(v) for v in f.values())] for f, _ in rows])
    y = np.array([y for _, y in rows], dtype=float)
    beta = np.zeros(x.shape[1])
    for _ in range(25):
        p = 1 / (1 + np.exp(-x @ beta))
        beta += np.linalg.solve(x.T @ (x * (p * (1 - p))[:, None]), x.T @ (y - p))
    return beta


def test_the_command_prints_a_block_close_to_the_glm_and_the_truth(synthetic, tmp_path, capsys):
    events, config = synthetic
    out = tmp_path / "risk_model.yaml"
    code = run(["fit-risk-model", "--events", str(events), "--config", str(config),
                "--metric", "death_30d", "--until", UNTIL, "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out == out.read_text()
    block = yaml.safe_load(captured.out)["risk_model"]
    b0, b1 = block["intercept"], block["coefficients"]["risk_factors.parsonnet"]

    # n is every valid procedure before --until (all of them get an outcome in the file).
    until = datetime(2027, 3, 1, tzinfo=UTC)
    first: dict[str, str] = {}  # the synthetic feed repeats some event_ids: invalid
    for line in events.read_text().splitlines():
        if line.startswith('{"event_id": "proc-'):
            event = json.loads(line)
            first.setdefault(event["event_id"], event["occurred_at"])
    expected_n = sum(datetime.fromisoformat(t) < until for t in first.values())
    assert block["fitted_on"] == {"metric": "death_30d", "until": UNTIL, "n": expected_n}
    assert block["version"].endswith(f"-{expected_n}")

    rows = baseline_rows(events.read_bytes().splitlines(), load_config(config), "death_30d",
                         until, Pseudonymiser.ephemeral()).rows
    reference = glm(rows)
    assert b0 == pytest.approx(reference[0], abs=0.01)
    assert b1 == pytest.approx(reference[1], abs=0.0005)
    # And the generating model, within sampling error (about 3 standard errors).
    assert b0 == pytest.approx(-3.68, abs=0.15)
    assert b1 == pytest.approx(0.077, abs=0.006)

    summary = json.loads(captured.err.strip().splitlines()[-1])
    assert summary["rows"] == expected_n and summary["rejected"] > 0


def test_the_block_drops_into_a_config_the_pipeline_runs(synthetic, capsys):
    events, config = synthetic
    assert run(["fit-risk-model", "--events", str(events), "--config", str(config),
                "--metric", "death_30d", "--until", "2026-04-01", "--epochs", "3",
                "--version", "baseline-q1"]) == 0
    block = yaml.safe_load(capsys.readouterr().out)["risk_model"]
    data = yaml.safe_load(EXAMPLE)
    data["metrics"][0]["risk_model"] = block
    pipeline = Pipeline(parse_config(yaml.safe_dump(data)))
    assert pipeline.kinds["death_30d"].model.version == "baseline-q1"


def test_categorical_features_of_the_configured_model_are_fitted(synthetic, capsys):
    events, _ = synthetic
    config = events.parent / "sex.yaml"
    config.write_text(EXAMPLE.replace(
        "risk_factors.parsonnet: 0.077", "risk_factors.parsonnet: 0.077\n        patient.sex=F: 0"
    ))
    assert run(["fit-risk-model", "--events", str(events), "--config", str(config),
                "--metric", "death_30d", "--until", "2026-04-01", "--epochs", "5"]) == 0
    coefficients = yaml.safe_load(capsys.readouterr().out)["risk_model"]["coefficients"]
    [(sex_level, effect)] = [(k, v) for k, v in coefficients.items() if k.startswith("patient")]
    assert sex_level in ("patient.sex=F", "patient.sex=M")  # the rarer one; no true effect
    assert abs(effect) < 0.5


def test_outcomes_arriving_later_are_joined_and_later_procedures_left_out(tmp_path):
    lines = [
        procedure("a", parsonnet=10, died=True, day=0),
        procedure("b", parsonnet=20, day=1),
        procedure("c", parsonnet=30, died=False, day=5),  # after --until
        outcome("b-out", "ep-b", False, day=6),
        procedure("d", parsonnet=5, day=2),  # never gets an outcome
        {"event_id": "bad"},
    ]
    baseline = baseline_rows(
        [json.dumps(e) for e in lines], parse_config(EXAMPLE), "death_30d",
        datetime(2020, 1, 4, tzinfo=UTC), Pseudonymiser.ephemeral(),
    )
    assert baseline.rows == [({"risk_factors.parsonnet": 10}, 1),
                             ({"risk_factors.parsonnet": 20}, 0)]
    assert baseline.summary() == {"rows": 2, "events": 6, "rejected": 1,
                                  "procedures_after_until": 1, "awaiting_outcome": 1}


def test_usage_errors(synthetic, tmp_path, capsys):
    events, config = synthetic
    base = ["fit-risk-model", "--events", str(events), "--config", str(config)]
    assert run([*base, "--metric", "nope", "--until", UNTIL]) == 2
    assert "metric 'nope' is not in the config; it has death_30d" in capsys.readouterr().err
    assert run([*base, "--metric", "death_30d", "--until", "soon"]) == 2
    assert "is not a date" in capsys.readouterr().err
    assert run([*base, "--metric", "death_30d", "--until", "2000-01-01"]) == 1
    assert "cannot fit 'death_30d' on 0 observations" in capsys.readouterr().err
    missing = ["fit-risk-model", "--events", str(tmp_path / "none.jsonl"), "--config",
               str(config), "--metric", "death_30d", "--until", UNTIL]
    assert run(missing) == 2
    assert "cannot read" in capsys.readouterr().err


def test_write_jsonl_helper_is_compatible(tmp_path):
    path = write_jsonl(tmp_path / "e.jsonl", [procedure("x", died=True)])
    rows = baseline_rows(path.read_bytes().splitlines(), parse_config(EXAMPLE),
                         "death_30d", datetime(2030, 1, 1, tzinfo=UTC),
                         Pseudonymiser.ephemeral()).rows
    assert rows == [({"risk_factors.parsonnet": 10}, 1)]
