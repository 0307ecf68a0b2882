"""``vigil replay`` applies the canonical order whatever the order of the file's lines."""

from __future__ import annotations

import random
from pathlib import Path

import structlog

from streams.bundled_samples import sample_paths
from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.config import load_config
from streams.pipeline.core import Pipeline
from streams.pipeline.replay import replay

KEY = Pseudonymiser(b"k" * 32)


def _outputs(tmp_path: Path, name: str, lines: list[bytes]) -> tuple[str, str, str, dict]:
    structlog.reset_defaults()
    out = tmp_path / name
    summary = replay(lines, Pipeline(load_config(sample_paths()[1])), out, KEY)
    return ((out / "signals.jsonl").read_text(), (out / "monitors.jsonl").read_text(),
            (out / "rejected.jsonl").read_text(), summary.as_dict())


def test_a_shuffled_file_gives_the_answer_of_the_file_in_order(tmp_path: Path) -> None:
    lines = sample_paths()[0].read_bytes().splitlines()
    shuffled = list(lines)
    random.Random(4).shuffle(shuffled)
    ordered = _outputs(tmp_path, "ordered", lines)
    mixed = _outputs(tmp_path, "shuffled", shuffled)
    assert ordered[0] == mixed[0] and ordered[1] == mixed[1]
    assert ordered[0].count("\n") == 47
    # The same rejections (numbered by their own file's lines).
    assert ordered[3]["rejected_by_reason"] == mixed[3]["rejected_by_reason"]
    assert ordered[3]["accepted"] == mixed[3]["accepted"]


def test_an_outcome_before_its_procedure_in_the_file_is_joined(tmp_path: Path) -> None:
    lines = sample_paths()[0].read_bytes().splitlines()
    outcomes = [line for line in lines if b'"outcome"' in line]
    others = [line for line in lines if b'"outcome"' not in line]
    assert outcomes
    first = _outputs(tmp_path, "outcomes-first", outcomes + others)
    assert first[:2] == _outputs(tmp_path, "ordered", lines)[:2]
    assert "unknown_episode" not in first[2]
