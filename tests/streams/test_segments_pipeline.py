"""Inequality segments: the same monitors run nationally per segment, so a worse outcome for
one group shows up as a signal of its own (entity type ``segment``)."""

from __future__ import annotations

from collections import Counter

from streams.cli.main import main
from streams.synthetic import SyntheticRegistry, synthetic_events
from tests.support.configs import SEGMENTS
from tests.support.events import read_jsonl


def test_deprived_group_is_flagged_as_a_segment(tmp_path):
    spec = SyntheticRegistry(procedures=8000, seed=5, invalid_fraction=0.0,
                             imd_decile_odds={1: 2.0, 2: 2.0})
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(synthetic_events(spec)) + "\n")
    config = tmp_path / "config.yaml"
    config.write_text(SEGMENTS)
    out = tmp_path / "out"
    assert main(["replay", str(events), "--config", str(config), "--out", str(out)]) == 0
    monitors = read_jsonl(out / "monitors.jsonl")
    segments = {m["entity_id"] for m in monitors if m["entity_type"] == "segment"}
    assert {"sex=Male", "sex=Female", "imd_quintile=1", "imd_quintile=5",
            "age_band=80+", "ethnic_group=White"} <= segments
    alarms = Counter(s["entity_id"] for s in read_jsonl(out / "signals.jsonl")
                     if s["entity_type"] == "segment" and s["level"] == "alarm"
                     and s["direction"] == "worse")
    # Every other segment holds some deprived patients too (a fifth of them), so it drifts
    # a little; the deprived quintile stands out in alarms and in observed / expected.
    (most, count), (_, runner_up) = alarms.most_common(2)
    assert most == "imd_quintile=1" and count >= 3 * runner_up
    ratios = {m["entity_id"]: m["observed"] / m["expected"] for m in monitors
              if m["entity_type"] == "segment" and m["monitor"] == "ra_cusum_or2"}
    assert ratios["imd_quintile=1"] > 1.5
    assert max(r for k, r in ratios.items() if k != "imd_quintile=1") < 1.35
