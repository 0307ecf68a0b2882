"""The metric configuration shown in the README loads and runs as written."""

from __future__ import annotations

import re
from pathlib import Path

from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.config import parse_config
from streams.pipeline.core import Pipeline, PipelineState
from streams.pipeline.replay import replay
from streams.synthetic import SyntheticRegistry, synthetic_events

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_config_runs(tmp_path):
    text = README.read_text()
    block = re.search(r"## Metric configuration\s+```yaml\n(.*?)```", text, re.S).group(1)
    config = parse_config(block, "README.md")
    assert [m.kind for m in config.metrics] == [
        "binary_outcome", "device_exposure", "participation"]
    spec = SyntheticRegistry(procedures=600, devices=3, submissions=True, seed=4)
    lines = [line.encode() for line in synthetic_events(spec)]
    summary = replay(lines, Pipeline(config), tmp_path, Pseudonymiser.ephemeral(),
                     PipelineState())
    assert summary.accepted > 600 and summary.monitors > 0
