"""Issue 13, item 1: limits by false-alarm probability over a horizon, per entity.

A seeded in-control registry of 240 providers whose yearly volumes spread over a factor of
20 (20 to 400 cases), two years, the first the baseline. With per-entity limits for a 20%
chance of a false alarm within a year, the fraction of charts that alarm in the second
year is within the binomial 95% interval of 20% overall and in the lowest and highest
volume thirds. With one fixed ``h`` (calibrated so that the *average* provider has that
chance) it is not: small providers almost never alarm, large ones far too often. Twelve
injected outliers (odds ×3 in the second year) are still found; the detection delays of
both schemes are printed.
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from scipy import stats

from signals.entity_limits import RiskMix, entity_limit
from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.config import parse_config
from streams.pipeline.core import Pipeline
from streams.pipeline.replay import replay

KEY = Pseudonymiser(b"k" * 32)
PROVIDERS, TARGET, OUTLIERS = 240, 0.2, 12
START, UNTIL = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
INTERCEPT, SLOPE = -3.68, 0.077

PER_ENTITY = f"""
registry: r
metrics:
  - name: death_30d
    kind: binary_outcome
    outcome: death_30d
    entities: [provider]
    risk_model: {{kind: logistic, intercept: {INTERCEPT},
                  coefficients: {{risk_factors.parsonnet: {SLOPE}}}}}
    baseline: {{since: 2026-01-01, until: 2027-01-01, min_cases: 10}}
    monitors:
      - {{kind: ra_cusum, odds_ratio: 2.0, false_alarm_probability: {TARGET},
          horizon_days: 365}}
"""


def _fixed(h: float) -> str:
    return PER_ENTITY.replace(
        f"false_alarm_probability: {TARGET},\n          horizon_days: 365",
        f"alarm_h: {h}").replace(", min_cases: 10", "")


def _risk(parsonnet: int) -> float:
    return 1 / (1 + math.exp(-(INTERCEPT + SLOPE * parsonnet)))


def _registry(seed: int) -> tuple[list[bytes], dict[str, int], set[str]]:
    """Events in event-time order, each provider's yearly volume, the outliers."""
    rng = random.Random(seed)
    volumes = {f"P{i:03d}": round(20 * 20 ** (i / (PROVIDERS - 1))) for i in range(PROVIDERS)}
    outliers = set(rng.sample(sorted(volumes), OUTLIERS))
    cases = []
    for ods, volume in volumes.items():
        for year in (0, 1):
            for _ in range(volume):
                at = START + timedelta(days=365 * year + rng.uniform(0, 365))
                parsonnet = min(71, int(71 * rng.betavariate(1, 3)))
                p = _risk(parsonnet)
                if year == 1 and ods in outliers:
                    odds = 3 * p / (1 - p)
                    p = odds / (1 + odds)
                cases.append((at, ods, parsonnet, rng.random() < p))
    cases.sort()
    lines = [json.dumps({
        "event_id": f"e{i}", "event_type": "procedure", "registry": "r",
        "occurred_at": at.isoformat(), "episode_id": f"ep{i}", "provider": {"ods_code": ods},
        "risk_factors": {"parsonnet": parsonnet}, "outcomes": {"death_30d": died},
    }).encode() for i, (at, ods, parsonnet, died) in enumerate(cases)]
    return lines, volumes, outliers


def _alarms(tmp_path: Path, name: str, config: str, lines: list[bytes]
            ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Each provider's first alarm in the second year, and the monitor records."""
    structlog.reset_defaults()
    out = tmp_path / name
    replay(lines, Pipeline(parse_config(config)), out, KEY)
    first: dict[str, dict[str, Any]] = {}
    for line in (out / "signals.jsonl").read_text().splitlines():
        signal = json.loads(line)
        at = datetime.fromisoformat(signal["occurred_at"])
        if signal["level"] == "alarm" and at >= UNTIL:
            first.setdefault(signal["entity_id"], signal)
    monitors = [json.loads(x) for x in (out / "monitors.jsonl").read_text().splitlines()]
    return first, monitors


def _interval(n: int) -> tuple[int, int]:
    """The binomial 95% interval of the count of alarms among ``n`` in-control charts."""
    return int(stats.binom.ppf(0.025, n, TARGET)), int(stats.binom.ppf(0.975, n, TARGET))


@pytest.fixture(scope="module")
def registry() -> tuple[list[bytes], dict[str, int], set[str]]:
    return _registry(seed=13)


def _thirds(volumes: dict[str, int], outliers: set[str]) -> list[list[str]]:
    ordered = sorted((ods for ods in volumes if ods not in outliers), key=volumes.__getitem__)
    third = len(ordered) // 3
    return [ordered[:third], ordered[third:2 * third], ordered[2 * third:]]


def _rates(first: dict[str, Any], groups: list[list[str]]) -> list[tuple[int, int]]:
    return [(sum(ods in first for ods in group), len(group)) for group in groups]


def test_per_entity_limits_hold_the_false_alarm_probability_at_every_volume(
        tmp_path: Path, registry: Any) -> None:
    lines, volumes, outliers = registry
    first, monitors = _alarms(tmp_path, "per-entity", PER_ENTITY, lines)
    in_control = [ods for ods in volumes if ods not in outliers]
    groups = [in_control, *_thirds(volumes, outliers)]
    rates = _rates(first, groups)
    print("per-entity limits, alarms in year 2 (all, low, middle, high third):", rates)
    for (count, n), label in zip(rates, ("all", "low", "middle", "high"), strict=True):
        low, high = _interval(n)
        assert low <= count <= high, f"{label}: {count} of {n} outside [{low}, {high}]"
    # Every chart says how it was calibrated, and its limit grows with its volume.
    calibrations = {m["entity_id"]: m["calibration"] for m in monitors}
    assert all(c["false_alarm_probability"] == TARGET and c["from"] == "baseline"
               and abs(c["achieved"] - TARGET) < 0.01 for c in calibrations.values())
    assert calibrations["P000"]["patients"] == 20 and calibrations["P239"]["patients"] == 400
    assert calibrations["P000"]["h"] < calibrations["P239"]["h"]
    signal = next(iter(first.values()))
    assert signal["details"]["calibration"]["h"] == signal["threshold"]


def test_one_fixed_limit_does_not(tmp_path: Path, registry: Any) -> None:
    lines, volumes, outliers = registry
    mix = RiskMix()
    rng = random.Random(0)
    for _ in range(20_000):
        mix.add(_risk(min(71, int(71 * rng.betavariate(1, 3)))))
    average = round(sum(volumes.values()) / len(volumes))
    h = entity_limit(TARGET, average, 2.0, mix).h
    first, _ = _alarms(tmp_path, "fixed", _fixed(h), lines)
    rates = _rates(first, _thirds(volumes, outliers))
    print(f"one fixed h = {h:.3f} (a {TARGET:.0%} chance for the average provider, "
          f"{average} cases a year), alarms in year 2 by volume third:", rates)
    outside = [(count, n) for count, n in (rates[0], rates[2])
               if not _interval(n)[0] <= count <= _interval(n)[1]]
    assert len(outside) == 2  # the lowest third too few, the highest too many
    assert rates[0][0] < rates[2][0]


def test_injected_outliers_are_still_found(tmp_path: Path, registry: Any) -> None:
    lines, volumes, outliers = registry
    per_entity, _ = _alarms(tmp_path, "per-entity", PER_ENTITY, lines)
    mix = RiskMix()
    rng = random.Random(0)
    for _ in range(20_000):
        mix.add(_risk(min(71, int(71 * rng.betavariate(1, 3)))))
    average = round(sum(volumes.values()) / len(volumes))
    fixed, _ = _alarms(tmp_path, "fixed", _fixed(entity_limit(TARGET, average, 2.0, mix).h),
                       lines)

    def delay(first: dict[str, Any], ods: str) -> str:
        signal = first.get(ods)
        if signal is None:
            return "not found"
        days = (datetime.fromisoformat(signal["occurred_at"]) - UNTIL).days
        return f"{days} days"

    for ods in sorted(outliers, key=volumes.__getitem__):
        print(f"outlier {ods} ({volumes[ods]} cases/year): per-entity {delay(per_entity, ods)}"
              f", fixed {delay(fixed, ods)}")
    assert sum(ods in per_entity for ods in outliers) >= OUTLIERS * 2 // 3
