"""``vigil budget``: expected false alarms a year per route, checked against a simulation
of the same charts in control."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from notifiers.rules import default_rules_path, load_rules
from signals.observations import Outcome
from signals.ra_cusum import RiskAdjustedCusum
from streams.cli.main import main
from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.budget import false_alarm_budget
from streams.pipeline.config import parse_config
from streams.pipeline.core import Pipeline

CONFIG = """
registry: r
metrics:
  - name: death_30d
    kind: binary_outcome
    outcome: death_30d
    entities: [provider]
    risk_model: {kind: logistic, intercept: -3.68, coefficients: {risk_factors.parsonnet: 0.077}}
    monitors:
      - {kind: ra_cusum, odds_ratio: 2.0, alert_h: 2.0, alarm_h: 3.0}
      - {kind: ra_cusum, odds_ratio: 0.5, alarm_h: 3.0}
"""


def _events(path: Path) -> Path:
    rng = random.Random(3)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    cases = []
    for i in range(30):
        for _ in range(50 + 10 * i):  # 50 to 340 cases a year, two years
            for year in (0, 1):
                at = start + timedelta(days=365 * year + rng.uniform(0, 365))
                parsonnet = min(71, int(71 * rng.betavariate(1, 3)))
                p = 1 / (1 + math.exp(3.68 - 0.077 * parsonnet))
                cases.append((at, f"P{i:02d}", parsonnet, rng.random() < p))
    cases.sort()
    path.write_text("".join(json.dumps({
        "event_id": f"e{n}", "event_type": "procedure", "registry": "r",
        "occurred_at": at.isoformat(), "episode_id": f"ep{n}", "provider": {"ods_code": ods},
        "risk_factors": {"parsonnet": s}, "outcomes": {"death_30d": died}}) + "\n"
        for n, (at, ods, s, died) in enumerate(cases)))
    return path


def test_the_budget_matches_a_simulation_of_its_charts(tmp_path: Path) -> None:
    structlog.reset_defaults()
    events = _events(tmp_path / "events.jsonl")
    pipeline = Pipeline(parse_config(CONFIG))
    with events.open("rb") as lines:
        budget = false_alarm_budget(lines, pipeline, load_rules(default_rules_path()),
                                    Pseudonymiser(b"k" * 32))
    expected = budget.by_category()
    assert expected["CQC"] == expected["MHRA"] == 0
    assert len(budget.charts) == 30 * 3  # two alarm limits and one alert limit each
    # Simulate each alarm chart in control for 40 years of its own volume and mix.
    rng = random.Random(11)
    years = 40
    simulated = dict.fromkeys(expected, 0.0)
    for chart in budget.charts:
        if chart.level != "alarm":
            continue
        mix = _mix(events, chart.entity_id)
        odds = 2.0 if chart.monitor == "ra_cusum_or2" else 0.5
        cusum = RiskAdjustedCusum(odds, chart.h)
        alarms = 0
        for _ in range(round(chart.cases_per_year * years)):
            p = rng.choice(mix)
            if cusum.update(Outcome(int(rng.random() < p), p)) is not None:
                alarms += 1
        simulated[chart.category] += alarms / years
    total_expected = sum(expected.values())
    total_simulated = sum(simulated.values())
    print(f"expected {expected}; simulated {simulated}")
    # Poisson error of the simulated count: within 3 standard errors.
    error = math.sqrt(total_expected * years) / years
    assert abs(total_simulated - total_expected) < 3 * error
    assert abs(simulated["provider letters"] - expected["provider letters"]) < 3 * error


def _mix(events: Path, ods: str) -> list[float]:
    risks = []
    for line in events.read_text().splitlines():
        event = json.loads(line)
        if event["provider"]["ods_code"] == ods:
            risks.append(1 / (1 + math.exp(3.68 - 0.077 * event["risk_factors"]["parsonnet"])))
    return risks


def test_the_command_prints_the_budget(tmp_path: Path, capsys) -> None:
    structlog.reset_defaults()
    events = _events(tmp_path / "events.jsonl")
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    assert main(["budget", "--config", str(config), "--events", str(events), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["charts"] == 60 and out["false_alarms_per_year"]["provider letters"] > 0
    assert set(out["false_alarms_per_year"]) == {"provider letters", "CQC", "MHRA",
                                                 "operator only"}
