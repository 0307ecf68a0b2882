"""Funnel plot SVG and CSV output."""

from __future__ import annotations

import csv
import io
import math
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest

from signals.funnel import FunnelInput, funnel_snapshot, snapshot_curves
from streams.dashboard.funnel_svg import funnel_csv, render_funnel_svg

SVG = "{http://www.w3.org/2000/svg}"
ROWS = [
    FunnelInput("RXF", 45, 20.0),  # alarm, worse
    FunnelInput("RR8", 33, 20.0),  # alert, worse
    FunnelInput("RAE", 20, 20.0),
    FunnelInput("R&D <1>", 11, 20.0),  # alert, better; a name that needs escaping
    FunnelInput("RCB", 8, 20.0),  # alarm, better
    FunnelInput("RWA", 52, 48.5),
]


def points(root: ET.Element) -> list[ET.Element]:
    return [c for c in root.iter(f"{SVG}circle") if "point" in c.get("class", "").split()]


def test_svg_parses_with_one_point_per_entity() -> None:
    snap = funnel_snapshot(ROWS)
    svg = render_funnel_svg(snap, snapshot_curves(snap), "Mortality & <friends>")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    pts = points(root)
    assert len(pts) == len(ROWS)
    assert {p.get("data-entity") for p in pts} == {r.entity_id for r in ROWS}
    status = {p.get("data-entity"): p.get("data-status") for p in pts}
    assert status == {
        "RXF": "alarm-worse", "RR8": "alert-worse", "RAE": "within",
        "R&D <1>": "alert-better", "RCB": "alarm-better", "RWA": "within",
    }  # fmt: skip
    assert root.find(f"{SVG}title").text == "Mortality & <friends>"  # type: ignore[union-attr]


def test_svg_draws_both_limits_on_both_sides_and_the_target() -> None:
    snap = funnel_snapshot(ROWS)
    root = ET.fromstring(render_funnel_svg(snap, snapshot_curves(snap), "t"))
    limits = [p for p in root.iter(f"{SVG}path") if p.get("class") == "limit"]
    assert sorted((p.get("data-level"), p.get("data-side")) for p in limits) == [
        ("0.95", "lower"), ("0.95", "upper"), ("0.998", "lower"), ("0.998", "upper"),
    ]  # fmt: skip
    assert all(p.get("d", "").startswith("M") for p in limits)
    assert any(e.get("class") == "target" for e in root.iter(f"{SVG}line"))


def test_svg_labels_the_outliers_only() -> None:
    snap = funnel_snapshot(ROWS)
    root = ET.fromstring(render_funnel_svg(snap, snapshot_curves(snap), "t"))
    group = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "labels")
    assert sorted(t.text or "" for t in group) == sorted(["RXF", "RR8", "R&D <1>", "RCB"])


def test_svg_with_overdispersion_states_tau2() -> None:
    observed = [16, 36, 25, 49, 9, 25, 64, 25, 36, 16]
    rows = [FunnelInput(f"T{i}", o, 25.0) for i, o in enumerate(observed)]
    snap = funnel_snapshot(rows, overdispersion=True)
    svg = render_funnel_svg(snap, snapshot_curves(snap), "t")
    assert "overdispersion-adjusted" in svg and "τ² = 0.05053" in svg
    assert len(points(ET.fromstring(svg))) == 10


def test_csv_round_trips() -> None:
    snap = funnel_snapshot(ROWS)
    table = list(csv.DictReader(io.StringIO(funnel_csv(snap))))
    assert [r["entity_id"] for r in table] == [r.entity_id for r in ROWS]
    first = table[0]
    assert (first["level"], first["direction"]) == ("alarm", "worse")
    assert float(first["ratio"]) == 2.25
    assert float(first["alarm_upper"]) == pytest.approx(1.902094, abs=1e-6)
    assert (table[2]["level"], table[2]["direction"]) == ("", "")


def test_svg_of_the_cardiac_surgery_data() -> None:
    data = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "cardiacsurgery.csv"
    if not data.exists():
        pytest.skip("../shared/data not present (a user's clone has no shared folder)")
    observed: dict[str, float] = defaultdict(float)
    expected: dict[str, float] = defaultdict(float)
    with data.open() as f:
        for r in csv.DictReader(f):
            if int(r["date"]) < 730:  # Phase II only
                continue
            parsonnet = int(r["Parsonnet"])
            key = f"surgeon {r['surgeon']}"
            observed[key] += int(r["status"]) == 1 and int(r["time"]) <= 30
            expected[key] += 1 / (1 + math.exp(3.790488 - 0.0798444 * parsonnet))
    snap = funnel_snapshot([FunnelInput(k, observed[k], expected[k]) for k in sorted(observed)])
    assert sum(observed.values()) == 253  # the README's Phase II deaths within 30 days
    root = ET.fromstring(render_funnel_svg(snap, snapshot_curves(snap), "30-day mortality"))
    assert len(points(root)) == 7
