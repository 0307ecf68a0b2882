"""A malformed record on an internal topic (anyone may write to Kafka) is quarantined by
the stage that reads it, alone: it neither raises out of the batch (which would stop the
worker, and again at every restart) nor leaves state that stalls the watermark."""

from __future__ import annotations

import json
from pathlib import Path

import structlog

from streams.bundled_samples import sample_paths
from streams.pipeline.config import load_config
from streams.pipeline.core import Pipeline
from tests.support.stage_runs import LONG_LATENESS, Stages

BAD_MARKS = [["0", "soon", False, [1]], ["0", 5, "yes", [1]], ["0", 5, False, "v"], "m", 7]
BAD_ITEMS = [{"k": ["t", "e", "d"], "r": "x", "src": [0, 0], "ev": "{}"}, {"k": 1}, 3]


def test_bad_marks_and_items_are_quarantined_and_the_rest_goes_on(tmp_path: Path) -> None:
    structlog.reset_defaults()
    lines = [x for x in sample_paths()[0].read_bytes().splitlines() if x.strip()]
    config = load_config(sample_paths()[1])
    clean = Stages(Pipeline(config), 1, LONG_LATENESS)
    clean.feed(clean.events(lines))
    clean.pump()
    clean.idle()
    clean.pump()
    stages = Stages(Pipeline(config), 1, LONG_LATENESS)
    for mark in BAD_MARKS:  # first, so that they would poison everything after them
        stages.topics["episodes"][0].append(json.dumps({"i": [], "m": [mark]}).encode())
        stages.topics["observations"][0].append(json.dumps({"i": [], "m": mark}).encode())
    stages.topics["episodes"][0].append(json.dumps({"i": BAD_ITEMS}).encode())
    stages.topics["observations"][0].append(json.dumps({"i": BAD_ITEMS}).encode())
    stages.topics["episodes"][0].append(b'{"i": "not a list"}')
    stages.feed(stages.events(lines))
    stages.pump()
    stages.idle()
    stages.pump()
    assert stages.signals == clean.signals and stages.signals
    assert stages.monitors(config) == clean.monitors(config)
    quarantined = [d for d in stages.dead_letters if d["reason_code"] == "internal_error"]
    assert len(quarantined) == 2 * len(BAD_MARKS) + 2 * len(BAD_ITEMS) + 1
