"""The worker's stage functions run without a broker, as the worker runs them: what tests
compare with replay to show both shells compute the same thing."""

from __future__ import annotations

import json
from typing import Any

from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.config import VigilConfig
from streams.pipeline.core import Pipeline, PipelineState
from streams.worker.stages import EntityStage, EpisodeStage, Record, monitor_state

KEY = Pseudonymiser(b"c" * 32)
"""The pseudonymisation key of these runs."""


def records_of(config: VigilConfig, state: PipelineState) -> list[dict[str, Any]]:
    return json.loads(json.dumps(list(Pipeline(config).monitor_records(state))))


def worker_run(config: VigilConfig, lines: tuple[bytes, ...], batch: int = 211
               ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The worker's stage functions over dict tables: stage 1 in batches, its observation
    bundles through stage 2, each batch's writes applied as the worker does."""
    pipeline = Pipeline(config)
    episodes, entities = EpisodeStage(pipeline, KEY), EntityStage(pipeline)
    t1: dict[str, Any] = {}
    t2: dict[str, Any] = {}
    signals: dict[str, dict[str, Any]] = {}
    offset = 0
    records = [Record(0, i, line) for i, line in enumerate(lines)]
    for start in range(0, len(records), batch):
        out = episodes.run(records[start:start + batch], t1)
        t1.update(out.writes.get(0, {}))
        bundles = [Record(0, offset + i, value) for i, (_, value) in enumerate(out.bundles)]
        offset += len(bundles)
        applied = entities.run(bundles, t2)
        for _, value, _, _ in applied.signals:
            signal = json.loads(value)
            signals[signal["signal_id"]] = signal
        for writes in applied.writes.values():
            t2.update(writes)
    state = monitor_state(pipeline, t2.items())
    return signals, records_of(config, state)
