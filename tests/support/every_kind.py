"""A config naming every registered monitor and metric kind, and a synthetic registry that
feeds them all: what the conformance suite and the worker's every-kind test run.

>>> [m["kind"] for m in every_kind_metrics()]
['binary_outcome', 'device_exposure', 'participation']
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from streams.pipeline.registry.metrics import METRICS
from streams.pipeline.registry.monitors import MONITORS
from streams.synthetic import SyntheticRegistry, synthetic_events

REGISTRY = "ncap-adult-cardiac"

FEEDS_EVERY_KIND = SyntheticRegistry(
    procedures=2500, providers=4, clinicians_per_provider=2, seed=7,
    minutes_between=(60, 600), invalid_fraction=0.0, provider_odds={"R1C": 3.0},
    devices=3, device_rate_ratio={"05060000000023": 6.0}, revisions_per_100_years=15.0,
    submissions=True, ascertainment={"R1B": 0.7},
)
"""Late outcomes, devices with a bad one, submissions with a low-ascertainment provider,
about 19 months of event time, no invalid lines."""


def every_kind_metrics() -> list[dict[str, Any]]:
    """Each metric kind's example config with every monitor kind it accepts, by its example."""
    metrics = []
    for spec in METRICS.values():
        metric = copy.deepcopy(spec.example)
        if spec.monitor_kinds:
            metric["monitors"] = [copy.deepcopy(MONITORS[m].example) for m in spec.monitor_kinds]
        metrics.append(metric)
    return metrics


def every_kind_yaml() -> str:
    """The every-kind config as YAML text."""
    return yaml.safe_dump({"registry": REGISTRY, "metrics": every_kind_metrics()})


def write_every_kind(folder: Path) -> tuple[Path, Path]:
    """Write the events and the config into ``folder``: (events.jsonl, config.yaml)."""
    events, config = folder / "events.jsonl", folder / "config.yaml"
    events.write_text("".join(line + "\n" for line in synthetic_events(FEEDS_EVERY_KIND)))
    config.write_text(every_kind_yaml())
    return events, config
