"""The seeded synthetic registry with injected outliers used by the monitor-set acceptance
test and ``bench/detection.py``."""

from __future__ import annotations

from pathlib import Path

from streams.synthetic import SyntheticRegistry, clinician_codes, device_codes, provider_codes
from tests.support.configs import EXAMPLE

PROVIDERS = provider_codes(8)
BAD_CLINICIAN = clinician_codes(2, 3)[1]  # works at PROVIDERS[2]
BETTER_PROVIDER = PROVIDERS[5]
LOW_ASCERTAINMENT = PROVIDERS[6]
DEVICES = device_codes(6)
BAD_DEVICE = DEVICES[3]

SPEC = SyntheticRegistry(
    procedures=14000,
    providers=8,
    clinicians_per_provider=3,
    seed=31,
    minutes_between=(40, 110),
    late_outcome_fraction=0.3,
    invalid_fraction=0.0,
    clinician_odds={BAD_CLINICIAN: 2.5},
    provider_odds={BETTER_PROVIDER: 0.4},
    devices=6,
    revisions_per_100_years=1.5,
    device_rate_ratio={BAD_DEVICE: 4.0},
    submissions=True,
    ascertainment={LOW_ASCERTAINMENT: 0.55},
)

CONFIG = EXAMPLE + """\
  - name: valve_revision
    kind: device_exposure
    entities: [device]
    benchmark_per_100_years: 1.5
    monitors:
      - {kind: poisson_cusum, rate_ratio: 2.0, alert_h: 3.0, alarm_h: 5.0}
  - name: case_ascertainment
    kind: participation
    entities: [provider]
    alert_below: 0.8
    alarm_below: 0.6
"""
"""The foundation's example config with the monitor-set issue's two metrics beside it."""


def write_registry(folder: Path) -> tuple[Path, Path]:
    """Write the events and the config into ``folder``; return their paths."""
    from streams.synthetic import synthetic_events

    events = folder / "registry.jsonl"
    events.write_text("\n".join(synthetic_events(SPEC)) + "\n")
    config = folder / "registry.yaml"
    config.write_text(CONFIG)
    return events, config
