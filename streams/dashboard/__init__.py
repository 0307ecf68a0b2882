"""The dashboard, served by the streaming worker's web server: open cases, CUSUM/VLAD/O–E
charts per entity, funnel plots per metric and each case's escalation timeline with the
log's hash-chain verification. Read-only. See :mod:`streams.dashboard.web` for the routes
and where each view's data comes from.

The worker calls :func:`install_dashboard` once, from ``Worker.__init__`` (the one hook in
``streams/worker/app.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from streams.dashboard.chart_history import ChartHistory


class RecordingEntityStage:
    """The worker's entity stage, recording each batch's outcome in a :class:`ChartHistory`
    after it ran: every signal, and the end state of every entity the batch touched.

    It wraps rather than edits ``EntityStage`` so the hot path stays as it is: the cost is
    one state load per touched entity per batch."""

    def __init__(self, stage: Any, history: ChartHistory) -> None:
        self.stage = stage
        self.pipeline = stage.pipeline
        self.history = history

    def forget(self, partition: int) -> None:
        self.stage.forget(partition)

    def lowest_held(self, partition: int) -> int | None:
        held: int | None = self.stage.lowest_held(partition)
        return held

    def run(self, batch: Sequence[Any], table: Any) -> Any:
        result = self.stage.run(batch, table)
        with contextlib.suppress(Exception):  # a chart is never worth a crashed batch
            self._record(result)
        return result

    def _record(self, result: Any) -> None:
        pipeline = self.pipeline
        touched = []
        for key, value in result.entities.items():
            metric, entity_type, entity_id = key.split("|", 2)
            entity_key = (metric, entity_type, entity_id)
            entity = pipeline.load_entity(entity_key, value["m"])
            records = list(pipeline.kinds[metric].records(entity_type, entity))
            touched.append((entity_key, records))
        self.history.record_many(touched, (signal for _, _, signal, _ in result.signals))


def limit_header_time(app: Any, seconds: float) -> None:
    """Have faust ``app``'s web server (aiohttp) close a connection that has not sent a
    whole request head within ``seconds``, or idles that long between requests.

    aiohttp arms its keep-alive timer when a connection opens and closes the connection
    if, when it fires, the handler is still waiting for a request: that is a header-read
    timeout. Its default is 75 s; faust's driver builds its ``AppRunner`` without a way to
    set it, so it is set on the runner before the server starts (its ``Server`` takes the
    runner's keyword arguments at ``setup()``)."""
    runner = app.web._runner
    runner._kwargs["keepalive_timeout"] = seconds


def install_dashboard(worker: Any, history: ChartHistory | None = None) -> ChartHistory:
    """Give ``worker`` a chart history fed by its entity stage, and the dashboard's pages
    on its web server. Returns the history (also ``worker.chart_history``)."""
    from streams.dashboard.web import DashboardSource, register

    history = history or ChartHistory()
    limit_header_time(worker.app, worker.settings.web_header_timeout)
    worker.chart_history = history
    worker.entity_stage = RecordingEntityStage(worker.entity_stage, history)
    register(worker.app, DashboardSource(worker, history))
    return history


__all__ = ["ChartHistory", "RecordingEntityStage", "install_dashboard"]
