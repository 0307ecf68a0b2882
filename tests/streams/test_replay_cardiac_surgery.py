"""Replay of the real cardiac-surgery data (spcadjust; Steiner 2000 lineage) against an
independent, straightforward computation written here."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest

from streams.cli.main import main
from tests.support.cardiac_surgery import (
    ALARM_H,
    ALERT_H,
    died_within_30_days,
    events_from_rows,
    risk,
    surgeon_gmc,
)
from tests.support.configs import CARDIAC_DEMO
from tests.support.events import read_jsonl, write_jsonl
from tests.support.shared_data import cardiac_surgery_rows


def straightforward_signals(rows):
    """Steiner's chart written out plainly, per entity and direction."""
    stats = defaultdict(float)
    counts = defaultdict(int)
    alerted = defaultdict(bool)
    found = []
    for row in rows:
        y = 1 if died_within_30_days(row) else 0
        p = risk(row["Parsonnet"])
        for entity in (("provider", "RCS"), ("clinician", surgeon_gmc(row["surgeon"]))):
            for name, r in (("worse", 2.0), ("better", 0.5)):
                key = (*entity, name)
                counts[key] += 1
                s = max(0.0, stats[key] + y * math.log(r) - math.log(1 - p + r * p))
                if s == 0.0:
                    alerted[key] = False
                if s >= ALARM_H:
                    found.append((*key, counts[key], "alarm", s))
                    s, alerted[key] = 0.0, False
                elif s >= ALERT_H and not alerted[key]:
                    found.append((*key, counts[key], "alert", s))
                    alerted[key] = True
                stats[key] = s
    return found, stats, counts


def run_replay(tmp_path, name, events):
    events_file = write_jsonl(tmp_path / f"{name}.jsonl", events)
    config = tmp_path / "config.yaml"
    config.write_text(CARDIAC_DEMO)
    out = tmp_path / name
    assert main(["replay", str(events_file), "--config", str(config), "--out", str(out)]) == 0
    return out


def as_tuples(signals):
    return [(s["entity_type"], s["entity_id"], s["monitor"], s["n"], s["level"], s["statistic"])
            for s in signals]


@pytest.fixture(scope="module")
def rows():
    return cardiac_surgery_rows()


def test_replay_matches_independent_computation(tmp_path, rows):
    out = run_replay(tmp_path, "inline", events_from_rows(rows, late_outcomes=False))
    signals = read_jsonl(out / "signals.jsonl")
    expected, stats, counts = straightforward_signals(rows)
    assert len(signals) == len(expected) > 10
    got = sorted(as_tuples(signals))
    for g, e in zip(got, sorted(expected), strict=True):
        assert g[:5] == e[:5]
        assert g[5] == pytest.approx(e[5], rel=1e-12)
    monitors = read_jsonl(out / "monitors.jsonl")
    assert len(monitors) == 2 * (1 + 7)  # one provider and seven surgeons, two directions
    for m in monitors:
        key = (m["entity_type"], m["entity_id"], m["monitor"])
        assert m["n"] == counts[key]
        assert m["statistic"] == pytest.approx(stats[key], rel=1e-12, abs=1e-12)
    assert not read_jsonl(out / "rejected.jsonl")


def test_late_outcomes_give_identical_signals(tmp_path, rows):
    inline = run_replay(tmp_path, "inline", events_from_rows(rows, late_outcomes=False))
    late = run_replay(tmp_path, "late", events_from_rows(rows, late_outcomes=True))
    assert read_jsonl(late / "signals.jsonl") == read_jsonl(inline / "signals.jsonl")
    assert read_jsonl(late / "monitors.jsonl") == read_jsonl(inline / "monitors.jsonl")
