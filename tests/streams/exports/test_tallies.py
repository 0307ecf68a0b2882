"""The counts behind published figures agree with an independent count from the events
themselves and with the monitors' own totals in ``monitors.jsonl``."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from streams.contract.pseudonym import Pseudonymiser
from streams.exports.tallies import Tallies
from streams.pipeline.config import load_config
from streams.pipeline.core import Pipeline
from streams.pipeline.replay import replay


def raw_counts(events: Path) -> dict[str, Counter]:
    """Straight from the JSON lines (the file has no invalid lines): procedures and deaths
    per provider and per patient ICB, implants and revisions per device, submissions."""
    outcomes: dict[str, bool] = {}
    procedures = []
    counts: dict[str, Counter] = defaultdict(Counter)
    for line in events.read_text().splitlines():
        event = json.loads(line)
        kind = event["event_type"]
        if kind == "procedure":
            procedures.append(event)
            for device in event.get("devices", []):
                counts["implants"][device["gtin"]] += 1
            if "death_30d" in event.get("outcomes", {}):
                outcomes[event["episode_id"]] = event["outcomes"]["death_30d"]
        elif kind == "outcome":
            outcomes[event["episode_id"]] = event["outcomes"]["death_30d"]
        elif kind == "revision":
            for device in event["devices"]:
                counts["revisions"][device["gtin"]] += 1
        elif kind == "submission":
            counts["submitted"][event["provider"]["ods_code"]] += event["submitted"]
            counts["expected_cases"][event["provider"]["ods_code"]] += event["expected"]
    for event in procedures:
        if event["episode_id"] not in outcomes:
            continue
        died = int(outcomes[event["episode_id"]])
        icb = event["patient"]["icb_code"]
        for key, value in (("provider", event["provider"]["ods_code"]), ("icb", icb)):
            counts[f"n_{key}"][value] += 1
            counts[f"deaths_{key}"][value] += died
    return counts


def metric_of(tallies: Tallies, kind: str) -> str:
    return next(m for m, k in tallies.kinds.items() if k == kind)


def test_counts_match_the_events(every_kind: tuple[Path, Path], whole: Tallies,
                                 yearly: Tallies) -> None:
    raw = raw_counts(every_kind[0])
    death = metric_of(whole, "binary_outcome")
    device = metric_of(whole, "device_exposure")
    participation = metric_of(whole, "participation")
    for ods, n in raw["n_provider"].items():
        cell = whole.entities[death, "provider", ods, "all"]
        assert (cell.n, cell.observed) == (n, raw["deaths_provider"][ods])
        by_year = [c for k, c in yearly.entities.items() if k[:3] == (death, "provider", ods)]
        assert sum(c.n for c in by_year) == n and len(by_year) >= 2
    for icb, n in raw["n_icb"].items():
        cell = whole.icbs[death, icb]
        assert (cell.n, cell.observed) == (n, raw["deaths_icb"][icb])
    assert len(raw["n_icb"]) > 3 and "unknown" not in {icb for _, icb in whole.icbs}
    for gtin, implants in raw["implants"].items():
        cell = whole.entities[device, "device", gtin, "all"]
        assert (cell.n, cell.observed) == (implants, raw["revisions"][gtin])
    assert sum(whole.icbs[device, icb].observed for m, icb in whole.icbs if m == device) == \
        sum(raw["revisions"].values())
    for ods, submitted in raw["submitted"].items():
        cell = whole.entities[participation, "provider", ods, "all"]
        assert (cell.observed, cell.n) == (submitted, raw["expected_cases"][ods])


def test_totals_match_the_monitors(every_kind: tuple[Path, Path], whole: Tallies,
                                   tmp_path: Path) -> None:
    events, config = every_kind
    with events.open("rb") as lines:
        replay(lines, Pipeline(load_config(config)), tmp_path, Pseudonymiser.ephemeral())
    checked = 0
    for line in (tmp_path / "monitors.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["monitor_kind"] not in ("ra_cusum", "poisson_cusum"):
            continue
        key = (record["metric"], record["entity_type"], record["entity_id"], "all")
        cell = whole.entities[key]
        assert cell.observed == record["observed"], key
        assert cell.expected == pytest.approx(record["expected"], rel=1e-9), key
        if record["monitor_kind"] == "ra_cusum":
            assert cell.n == record["n"], key
        checked += 1
    assert checked > 10


def test_national_rows_sum_the_providers(yearly: Tallies) -> None:
    death = metric_of(yearly, "binary_outcome")
    for (metric, period), national in yearly.national.items():
        if metric != death:
            continue
        cells = [c for k, c in yearly.entities.items()
                 if k[0] == metric and k[1] == "provider" and k[3] == period]
        assert sum(c.n for c in cells) == national.n
        assert math.isclose(sum(c.expected or 0 for c in cells), national.expected or 0)
