"""Calibration drift of the risk model, watched nationally, raises an operator-level
``risk_model_drift`` signal when the outcome rate moves away from the model."""

from __future__ import annotations

from streams.cli.main import main
from streams.synthetic import SyntheticRegistry, synthetic_events
from tests.support.configs import DRIFT
from tests.support.events import read_jsonl


def test_drift_fires_after_the_model_goes_stale_and_not_before(tmp_path):
    calibrated = SyntheticRegistry(procedures=3000, seed=8, invalid_fraction=0.0,
                                   late_outcome_fraction=0.0)
    stale = SyntheticRegistry(procedures=3000, seed=9, invalid_fraction=0.0,
                              late_outcome_fraction=0.0, intercept=-2.9,
                              start=calibrated.start.replace(year=2027))
    events = tmp_path / "e.jsonl"
    events.write_text("\n".join([*synthetic_events(calibrated), *synthetic_events(stale)]))
    config = tmp_path / "c.yaml"
    config.write_text(DRIFT)
    out = tmp_path / "out"
    assert main(["replay", str(events), "--config", str(config), "--out", str(out)]) == 0
    drift = [s for s in read_jsonl(out / "signals.jsonl") if s["monitor"] == "risk_model_drift"]
    assert drift, "no drift signal"
    first = drift[0]
    assert first["entity_type"] == "national" and first["monitor_kind"] == "calibration_drift"
    assert first["direction"] == "worse" and first["n"] > 3000
    assert first["details"]["mean_after"] > first["details"]["mean_before"]
    national = [m for m in read_jsonl(out / "monitors.jsonl") if m["entity_type"] == "national"]
    assert national[0]["n"] == 6000
