"""The dashboard, served by the streaming worker's web server: open cases, CUSUM/VLAD/O–E
charts per entity by date, funnel plots per metric, each case's escalation timeline with the
log's hash-chain verification, and case actions with an operator's token. See
:mod:`streams.dashboard.web` for the routes and where each view's data comes from, and
:mod:`streams.dashboard.read_model` for how every worker shows every entity.

The worker calls :func:`install_dashboard` once, from ``Worker.__init__`` (the one hook in
``streams/worker/app.py``).
"""

from __future__ import annotations

from typing import Any

from streams.dashboard.chart_history import ChartHistory
from streams.dashboard.read_model import ReadModel, changelog_topic


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


def install_dashboard(worker: Any, history: ChartHistory | None = None) -> ReadModel:
    """Give ``worker`` a read model of every entity (the monitors changelog and the signals
    topic, read whole by a background task of its web process), and the dashboard's pages
    on its web server. Returns the read model (also ``worker.read_model``)."""
    from streams.dashboard.web import DashboardSource, register

    settings = worker.settings
    model = ReadModel(worker.pipeline, history or ChartHistory(),
                      changelog_topic(settings.app_id), settings.signals_topic)
    limit_header_time(worker.app, settings.web_header_timeout)
    worker.read_model = model
    worker.chart_history = model.history

    async def read() -> None:
        await model.run(settings.bootstrap_servers, settings.aiokafka_options())

    worker.app.task(read)
    register(worker.app, DashboardSource(worker, model))
    return model


__all__ = ["ChartHistory", "ReadModel", "install_dashboard"]
