"""Fitting a logistic risk model online (river) from a baseline, then freezing it."""

from __future__ import annotations

import math
import random

import pytest
import yaml

from signals.risk_model import LogisticRiskModel
from signals.risk_model_fit import fit_logistic, risk_model_block
from streams.pipeline.metric_kinds.binary_outcome import LogisticRiskModelConfig
from tests.support.shared_data import cardiac_surgery_rows

# glm(y ~ Parsonnet, binomial) on cardiacsurgery.csv Phase I (date < 730), y = death ≤ 30 days.
GLM_B0, GLM_B1 = -3.790488, 0.0798444


def phase_one() -> list[tuple[dict[str, int], int]]:
    return [
        ({"risk_factors.parsonnet": r["Parsonnet"]}, int(r["status"] == 1 and r["time"] <= 30))
        for r in cardiac_surgery_rows()
        if r["date"] < 730
    ]


@pytest.mark.shared_data
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cardiac_surgery_phase_one_lands_on_the_glm(seed):
    rows = phase_one()
    assert len(rows) == 1766
    model = fit_logistic(rows, seed=seed)
    b1 = model.coefficients["risk_factors.parsonnet"]
    # The brief asked for ±0.05 and ±0.003; averaged SGD over 30 passes does ~10x better.
    assert model.intercept == pytest.approx(GLM_B0, abs=0.01)
    assert b1 == pytest.approx(GLM_B1, abs=0.0005)
    assert model.version.startswith("fitted-") and model.version.endswith("-1766")


@pytest.mark.shared_data
def test_the_fit_is_deterministic_and_the_version_names_the_coefficients():
    rows = phase_one()
    first, again = fit_logistic(rows), fit_logistic(rows)
    assert first == again
    other = fit_logistic(rows, seed=5)
    assert other.version != first.version
    assert fit_logistic(rows, version="baseline-2024").version == "baseline-2024"


def _synthetic(n: int, seed: int) -> list[tuple[dict[str, object], int]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        score = min(71, int(71 * rng.betavariate(1, 3)))
        urgency = rng.choices(["elective", "urgent", "emergency"], [6, 3, 1])[0]
        female = rng.random() < 0.3
        logit = -3.5 + 0.07 * score + {"elective": 0, "urgent": 0.5, "emergency": 1.2}[urgency]
        logit += 0.3 * female
        y = int(rng.random() < 1 / (1 + math.exp(-logit)))
        rows.append(({"risk_factors.parsonnet": score, "risk_factors.urgency": urgency,
                      "risk_factors.female": female}, y))
    return rows


def test_categoricals_are_one_hot_against_the_most_frequent_level():
    model = fit_logistic(_synthetic(8000, 3), epochs=10)
    c = model.coefficients
    assert list(c) == ["risk_factors.parsonnet", "risk_factors.urgency=urgent",
                       "risk_factors.urgency=emergency", "risk_factors.female"]
    assert model.intercept == pytest.approx(-3.5, abs=0.25)
    assert c["risk_factors.parsonnet"] == pytest.approx(0.07, abs=0.01)
    assert c["risk_factors.urgency=urgent"] == pytest.approx(0.5, abs=0.25)
    assert c["risk_factors.urgency=emergency"] == pytest.approx(1.2, abs=0.25)
    assert c["risk_factors.female"] == pytest.approx(0.3, abs=0.25)
    # "elective" is the reference; unseen levels count as the reference too.
    p = model.predict_values([10, "elective", False])
    assert model.predict_values([10, "salvage", False]) == p


def test_a_constant_numeric_feature_stays_in_the_model_with_coefficient_zero():
    rows = [({"x": float(i % 7), "k": 3}, int(i % 5 == 0)) for i in range(500)]
    model = fit_logistic(rows, epochs=3)
    assert model.coefficients["k"] == 0.0
    assert model.feature_paths() == ("x", "k")


@pytest.mark.parametrize(("rows", "message"), [
    ([], "no rows"),
    ([({"x": 1}, 0), ({"x": 2}, 0)], "nothing to learn"),
    ([({"x": 1}, 2)], "must be 0 or 1"),
    ([({"x": 1}, 0), ({"y": 1}, 1)], "every row needs"),
    ([({"x": 1}, 0), ({"x": "a"}, 1)], "both numbers and strings"),
    ([({"x": None}, 0), ({"x": 1}, 1)], "must be a number, boolean or string"),
])
def test_bad_baselines_are_rejected_with_a_reason(rows, message):
    with pytest.raises(ValueError, match=message):
        fit_logistic(rows)


def test_the_block_is_a_valid_config_risk_model_that_round_trips_through_yaml():
    model = LogisticRiskModel(-3.790488, {"risk_factors.parsonnet": 0.0798444,
                                          "patient.sex=F": 0.1}, "fitted-abc-1766")
    block = risk_model_block(model, "death_30d", "2026-01-01", 1766)
    parsed = LogisticRiskModelConfig.model_validate(yaml.safe_load(yaml.safe_dump(block)))
    assert parsed.build() == model
    assert parsed.fitted_on is not None and parsed.fitted_on.n == 1766
