"""Categorical features of the logistic risk model: one-hot by ``path=value``."""

from __future__ import annotations

import json
import math

import pytest

from signals.risk_model import LogisticRiskModel, logistic
from streams.contract.events import InvalidEvent, parse_event
from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.config import ConfigError, parse_config
from streams.pipeline.core import Pipeline, PipelineState
from tests.support.configs import CATEGORICAL
from tests.support.events import procedure

MODEL = LogisticRiskModel(
    -3.7,
    {
        "risk_factors.parsonnet": 0.08,
        "risk_factors.urgency=emergency": 1.1,
        "patient.sex=F": 0.12,
        "risk_factors.urgency=urgent": 0.4,
    },
    version="test-1",
)


def test_feature_paths_are_distinct_in_order_of_first_appearance():
    assert MODEL.feature_paths() == (
        "risk_factors.parsonnet", "risk_factors.urgency", "patient.sex"
    )


@pytest.mark.parametrize(("urgency", "sex", "extra"), [
    ("emergency", "F", 1.1 + 0.12),
    ("urgent", "F", 0.4 + 0.12),
    ("elective", "M", 0.0),  # both reference levels
    ("salvage", "U", 0.0),  # levels without a coefficient count as the reference
])
def test_a_string_contributes_its_level_coefficient_or_zero(urgency, sex, extra):
    expected = logistic(-3.7 + 0.08 * 12 + extra)
    assert MODEL.predict_values([12, urgency, sex]) == pytest.approx(expected)
    features = {"risk_factors.parsonnet": 12, "risk_factors.urgency": urgency,
                "patient.sex": sex}
    assert MODEL.predict(features) == pytest.approx(expected)


def test_booleans_count_as_zero_or_one():
    model = LogisticRiskModel(-2.0, {"risk_factors.diabetes": 0.5})
    assert model.predict_values([True]) == pytest.approx(logistic(-1.5))
    assert model.predict_values([False]) == pytest.approx(logistic(-2.0))


def test_a_string_on_a_numeric_feature_is_a_clear_error():
    with pytest.raises(ValueError, match=r"risk_factors\.parsonnet must be a number or boolean"):
        MODEL.predict_values(["high", "elective", "M"])


def test_a_number_on_a_categorical_only_feature_is_a_clear_error():
    with pytest.raises(ValueError, match=r"risk_factors.urgency must be a category \(string\)"):
        MODEL.predict_values([12, 3, "M"])


def test_a_path_may_have_a_numeric_coefficient_and_levels():
    model = LogisticRiskModel(-1.0, {"risk_factors.nyha": 0.3, "risk_factors.nyha=unknown": 0.7})
    assert model.predict_values([2]) == pytest.approx(logistic(-0.4))
    assert model.predict_values(["unknown"]) == pytest.approx(logistic(-0.3))


def test_the_numeric_model_is_unchanged():
    model = LogisticRiskModel(-3.68, {"parsonnet": 0.077})
    assert model.feature_paths() == ("parsonnet",)
    assert model.predict_ordered([50.0]) == pytest.approx(1 / (1 + math.exp(3.68 - 0.077 * 50)))


def test_the_model_does_not_follow_later_changes_to_the_callers_dict():
    coefficients = {"x": 1.0}
    model = LogisticRiskModel(0.0, coefficients)
    coefficients["y=a"] = 5.0
    assert model.feature_paths() == ("x",)


def test_an_empty_level_is_rejected():
    with pytest.raises(ValueError, match="a level after '=' is required"):
        LogisticRiskModel(0.0, {"patient.sex=": 1.0})


def test_the_config_accepts_path_equals_value_keys():
    model = parse_config(CATEGORICAL).metrics[0].risk_model.build()
    assert model.feature_paths() == ("risk_factors.parsonnet", "risk_factors.urgency",
                                     "patient.sex")
    assert model.version == "cat-1"


def test_the_config_still_rejects_paths_outside_the_event():
    with pytest.raises(ConfigError, match="optionally with =level"):
        parse_config(CATEGORICAL.replace("patient.sex=F", "nhs.sex=F"))


def _observe(pipeline, event):


    parsed = parse_event(json.dumps(event), Pseudonymiser.ephemeral())
    return pipeline.observe(parsed, PipelineState())


def test_the_pipeline_passes_categories_through():
    pipeline = Pipeline(parse_config(CATEGORICAL))
    event = procedure("e1", parsonnet=12, died=True, patient={"sex": "F"},
                      risk_factors={"parsonnet": 12, "urgency": "emergency"})
    [observation] = _observe(pipeline, event)
    assert observation.values[1] == pytest.approx(logistic(-3.7 + 0.08 * 12 + 1.1 + 0.12))


def test_the_pipeline_still_rejects_a_string_on_a_numeric_feature_and_a_missing_one():
    pipeline = Pipeline(parse_config(CATEGORICAL))
    bad = procedure("e2", died=True, patient={"sex": "F"},
                    risk_factors={"parsonnet": "high", "urgency": "elective"})
    with pytest.raises(InvalidEvent) as caught:
        _observe(pipeline, bad)
    assert caught.value.code == "invalid_risk_factor"
    assert "risk_factors.parsonnet must be a number" in caught.value.reason
    missing = procedure("e3", died=True, risk_factors={"parsonnet": 3, "urgency": "elective"})
    with pytest.raises(InvalidEvent) as caught:
        _observe(pipeline, missing)
    assert caught.value.code == "missing_risk_factor"
    assert "patient.sex is required" in caught.value.reason
