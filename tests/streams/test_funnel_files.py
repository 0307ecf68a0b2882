"""Funnel plot files: the CSV table and the matplotlib figure (SVG, PNG) ``vigil funnel``
writes, in the one palette."""

from __future__ import annotations

import csv
import io
import math
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest

from signals.funnel import FunnelInput, funnel_snapshot
from streams.charts import palette
from streams.charts.figures import funnel_figure, svg_text
from streams.charts.funnel_table import funnel_csv, funnel_subtitle

SVG = "{http://www.w3.org/2000/svg}"
ROWS = [
    FunnelInput("RXF", 45, 20.0),  # alarm, worse
    FunnelInput("RR8", 33, 20.0),  # alert, worse
    FunnelInput("RAE", 20, 20.0),
    FunnelInput("R&D <1>", 11, 20.0),  # alert, better; a name that needs escaping
    FunnelInput("RCB", 8, 20.0),  # alarm, better
    FunnelInput("RWA", 52, 48.5),
]


def texts(svg: str) -> list[str]:
    return ["".join(t.itertext()) for t in ET.fromstring(svg).iter(f"{SVG}text")]


def test_svg_parses_and_labels_the_outliers_only() -> None:
    svg = svg_text(funnel_figure(funnel_snapshot(ROWS), title="Mortality & <friends>"))
    words = texts(svg)
    assert "Mortality & <friends>" in words[-2:] or any("Mortality & <friends>" in w
                                                        for w in words)
    labelled = {w for w in words if w in {r.entity_id for r in ROWS}}
    assert labelled == {"RXF", "RR8", "R&D <1>", "RCB"}


def test_figure_colours_are_the_palettes() -> None:
    svg = svg_text(funnel_figure(funnel_snapshot(ROWS), title="t"))
    used = {c.lower() for c in re.findall(r"#[0-9a-fA-F]{6}", svg)}
    allowed = {c.lower() for c in [*palette.DIRECTION.values(), *palette.LIMIT.values(),
                                   *palette.SERIES, palette.NEUTRAL, "#ffffff"]}
    assert used <= allowed, used - allowed
    assert palette.DIRECTION["worse"].lower() in used
    assert palette.DIRECTION["better"].lower() in used


def test_caption_says_which_limits() -> None:
    plain = funnel_snapshot(ROWS)
    assert "exact Poisson limits" in funnel_subtitle(plain)
    spread = funnel_snapshot(ROWS + [FunnelInput(f"R{i:02d}", 20 + (-1) ** i * 9, 20.0)
                                     for i in range(6)], overdispersion=True)
    assert "overdispersion-adjusted" in funnel_subtitle(spread)
    assert "τ² = " in funnel_subtitle(spread)


def test_csv_round_trips() -> None:
    snap = funnel_snapshot(ROWS)
    table = list(csv.DictReader(io.StringIO(funnel_csv(snap))))
    assert [r["entity_id"] for r in table] == [r.entity_id for r in ROWS]
    first = table[0]
    assert (first["level"], first["direction"]) == ("alarm", "worse")
    assert float(first["ratio"]) == 2.25
    assert float(first["alarm_upper"]) == pytest.approx(1.902094, abs=1e-6)
    assert (table[2]["level"], table[2]["direction"]) == ("", "")


def test_funnel_of_the_cardiac_surgery_data() -> None:
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
    assert len(list(csv.DictReader(io.StringIO(funnel_csv(snap))))) == 7
    ET.fromstring(svg_text(funnel_figure(snap, title="30-day mortality")))
