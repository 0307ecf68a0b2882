"""``vigil funnel`` on a replay's monitors: CSV, SVG and PNG, outliers named."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET

from streams.cli.main import main
from tests.support import synthetic_registry as reg


def test_funnel_from_replay_output(synthetic_replay, tmp_path, capsys):
    assert main(["funnel", str(synthetic_replay), "--metric", "death_30d",
                 "--out", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert report["entities"] == 8
    better = [o for o in report["outliers"] if o["entity_id"] == reg.BETTER_PROVIDER]
    assert better and better[0]["direction"] == "better"
    with open(report["csv"], newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 8
    svg = ET.parse(report["svg"]).getroot()
    labels = {"".join(t.itertext()) for t in svg.iter("{http://www.w3.org/2000/svg}text")}
    assert reg.BETTER_PROVIDER in labels
    with open(report["png"], "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_funnel_needs_a_replay_folder(tmp_path, capsys):
    assert main(["funnel", str(tmp_path), "--metric", "death_30d"]) == 2
    assert "run vigil replay first" in capsys.readouterr().err
