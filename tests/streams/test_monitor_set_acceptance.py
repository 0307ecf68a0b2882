"""A seeded synthetic registry with one bad clinician (odds ×2.5), one better provider
(odds ×0.4), one bad device (revision rate ×4) and one provider submitting 55% of its cases:
each is flagged by the right monitor in the right direction (``bench/detection.py`` reports
detection delays and false signals against the ARL)."""

from __future__ import annotations

import pytest

from tests.support import synthetic_registry as reg
from tests.support.events import read_jsonl


@pytest.fixture(scope="module")
def signals(synthetic_replay):
    assert not read_jsonl(synthetic_replay / "rejected.jsonl")
    return read_jsonl(synthetic_replay / "signals.jsonl")


def alarms(signals, **match):
    return [s for s in signals if s["level"] == "alarm"
            and all(s[k] == v for k, v in match.items())]


def test_bad_clinician_alarms_worse(signals):
    found = alarms(signals, entity_type="clinician", entity_id=reg.BAD_CLINICIAN,
                   monitor="ra_cusum_or2")
    assert found and all(s["direction"] == "worse" for s in found)
    assert found[0]["observed"] > 1.5 * found[0]["expected"]


def test_better_provider_alarms_better(signals):
    found = alarms(signals, entity_type="provider", entity_id=reg.BETTER_PROVIDER,
                   monitor="ra_cusum_or0.5")
    assert found and all(s["direction"] == "better" for s in found)
    assert not alarms(signals, entity_type="provider", entity_id=reg.BETTER_PROVIDER,
                      direction="worse")


def test_bad_device_alarms_worse_and_is_level1(signals):
    cusum = alarms(signals, entity_type="device", entity_id=reg.BAD_DEVICE,
                   monitor="poisson_cusum_rr2")
    assert cusum and cusum[0]["direction"] == "worse"
    level1 = alarms(signals, entity_type="device", entity_id=reg.BAD_DEVICE, monitor="ptir_level")
    assert level1 and level1[0]["details"]["level1_candidate"]
    assert level1[0]["details"]["ptir_ratio_ci"][0] >= 2.0
    assert level1[0]["details"]["implanted"] >= 100
    others = [s for s in signals if s["monitor"] == "ptir_level" and s["level"] == "alarm"
              and s["entity_id"] != reg.BAD_DEVICE]
    assert not others


def test_low_ascertainment_alarms(signals):
    found = alarms(signals, metric="case_ascertainment", entity_id=reg.LOW_ASCERTAINMENT)
    assert found and all(s["direction"] == "worse" for s in found)
    assert found[0]["details"]["ascertainment"] < 0.6
    flagged = {s["entity_id"] for s in signals if s["metric"] == "case_ascertainment"}
    assert flagged == {reg.LOW_ASCERTAINMENT}


def test_binary_signals_carry_vlad_and_model_version(signals):
    binary = [s for s in signals if s["metric"] == "death_30d"]
    assert binary
    for s in binary:
        assert s["vlad"] == pytest.approx(s["expected"] - s["observed"])
        assert s["risk_model_version"].startswith("logistic-")
