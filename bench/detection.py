"""Detection on the seeded synthetic registry with injected outliers (the monitor-set
acceptance registry): delay to the first alarm for each injected outlier, and false alarms
among in-control entities against what the Markov-chain ARL predicts.

    .venv/bin/python bench/detection.py
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the registry lives in tests/

from signals.markov_arl import markov_arl, poisson_markov_arl
from streams.cli.main import main
from streams.synthetic import SYNTHETIC_EVENT_TIMES, clinician_codes
from tests.support import synthetic_registry as reg

# The synthetic feed runs ahead of today: widen the event-time window for it.
for _name, _value in SYNTHETIC_EVENT_TIMES.items():
    os.environ.setdefault(_name, _value)


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def first_alarm(signals, **match):
    for s in signals:
        if s["level"] == "alarm" and all(s[k] == v for k, v in match.items()):
            return s
    return None


def main_() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        events, config = reg.write_registry(Path(tmp))
        out = Path(tmp) / "out"
        main(["--log-level", "ERROR", "replay", str(events), "--config", str(config),
              "--out", str(out)])
        signals = read(out / "signals.jsonl")
        monitors = read(out / "monitors.jsonl")
        risks = [1 / (1 + math.exp(-(-3.68 + 0.077 * json.loads(line)["risk_factors"]
                                     ["parsonnet"])))
                 for line in events.read_text().splitlines()
                 if '"procedure"' in line]
    start = reg.SPEC.start

    def days(s):
        from datetime import datetime
        return (datetime.fromisoformat(s["occurred_at"]) - start).days

    print("Detection of injected outliers (first alarm):")
    cases = [
        ("bad clinician (odds x2.5)", dict(entity_type="clinician",
                                           entity_id=reg.BAD_CLINICIAN,
                                           monitor="ra_cusum_or2")),
        ("better provider (odds x0.4)", dict(entity_type="provider",
                                             entity_id=reg.BETTER_PROVIDER,
                                             monitor="ra_cusum_or0.5")),
        ("bad device (revisions x4), Poisson CUSUM", dict(entity_id=reg.BAD_DEVICE,
                                                          monitor="poisson_cusum_rr2")),
        ("bad device, NJR Level 1", dict(entity_id=reg.BAD_DEVICE, monitor="ptir_level")),
        ("provider submitting 55%", dict(entity_id=reg.LOW_ASCERTAINMENT,
                                         metric="case_ascertainment")),
    ]
    for label, match in cases:
        s = first_alarm(signals, **match)
        if s is None:
            print(f"  {label}: NOT DETECTED")
            continue
        unit = "monthly returns" if match.get("metric") == "case_ascertainment" else (
            "implants" if s["entity_type"] == "device" else "patients")
        print(f"  {label}: {s['direction']} alarm after {s['n']} {unit}, "
              f"day {days(s)} (observed {s['observed']}, expected {s['expected']:.1f})")

    print("\nFalse alarms among in-control entities (R = 2 and R = 1/2 charts, h = 4.5):")
    out_of_control = {("provider", reg.BETTER_PROVIDER), ("clinician", reg.BAD_CLINICIAN),
                      ("provider", reg.PROVIDERS[2])}  # the bad clinician's trust
    out_of_control |= {("clinician", c) for c in clinician_codes(5, 3)}  # better trust's
    alarms = Counter()
    predicted = Counter()
    arl = {r: markov_arl(4.5, r, risks) for r in (2.0, 0.5)}
    for m in monitors:
        key = (m["entity_type"], m["entity_id"])
        if m["metric"] != "death_30d" or key in out_of_control:
            continue
        r = 2.0 if m["monitor"] == "ra_cusum_or2" else 0.5
        predicted[m["entity_type"], r] += m["n"] / arl[r]
    for s in signals:
        key = (s["entity_type"], s["entity_id"])
        if s["metric"] == "death_30d" and s["level"] == "alarm" and key not in out_of_control:
            alarms[s["entity_type"], 2.0 if s["monitor"] == "ra_cusum_or2" else 0.5] += 1
    for key in sorted(predicted):
        print(f"  {key[0]:9s} R={key[1]:<3}: {alarms[key]} false alarms, "
              f"ARL predicts {predicted[key]:.1f} (ARL0 {arl[key[1]]:.0f} patients)")

    print("\nDevices (Poisson CUSUM rr=2, h = 5, per-update exposure mix):")
    device_alarms = sum(1 for s in signals if s["monitor"] == "poisson_cusum_rr2"
                        and s["level"] == "alarm" and s["entity_id"] != reg.BAD_DEVICE)
    expected = 0.0
    for m in monitors:
        if m["monitor"] == "poisson_cusum_rr2" and m["entity_id"] != reg.BAD_DEVICE:
            state = m["state"]
            steps = state["n"]
            per_step = state["exposure"] / steps
            expected += steps / poisson_markov_arl(5.0, 2.0, 0.015, per_step,
                                                   exposure_first=True)
    print(f"  {device_alarms} false alarms among {len(reg.DEVICES) - 1} in-control devices; "
          f"ARL predicts {expected:.2f} (mean exposure per update)")


if __name__ == "__main__":
    main_()
