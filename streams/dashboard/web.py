"""The dashboard's routes on the worker's faust web server (``app.page``), all read-only.

    GET /dashboard/                      the page (static/index.html, app.js, app.css)
    GET /dashboard/api/summary[?filters] open cases (filters: level, direction, metric,
                                         entity_type, status, q), counts, the entities with
                                         charts, the metrics, the log's verification
    GET /dashboard/api/chart?metric=&entity_type=&entity_id=
    GET /dashboard/api/funnel?metric=&entity_type=
    GET /dashboard/api/cases/{case_id}   one case and its timeline, with verification

Where the data comes from: cases and timelines from the escalation log (the engine's case
book rebuilt from the log, never written: the worker's own engine when it runs one, else
the log at ``escalation_log`` / ``$VIGIL_ESCALATION_LOG`` opened with ``create=False``);
charts from the :class:`~streams.dashboard.chart_history.ChartHistory` fed by this worker's
entity stage; funnels from this worker's ``monitors`` table. A worker therefore charts the
entities whose partitions it owns.

Access (:mod:`streams.dashboard.access`): every ``/dashboard/api/`` route needs a bearer
token of ``VIGIL_API_TOKENS`` (either role), else 401; the page, script and style load
without one. Every response carries :data:`~streams.dashboard.access.SECURITY_HEADERS`.
There are no mutating routes: people act on cases with
a bearer token through the escalation HTTP API (:mod:`notifiers.http_api`) or the
``vigil case`` CLI.
"""

from __future__ import annotations

import os
import time
from importlib import resources
from typing import Any

from streams.dashboard.access import SECURITY_HEADERS, reader
from streams.dashboard.chart_history import ChartHistory
from streams.dashboard.data import (
    FILTERS,
    case_counts,
    case_rows,
    chart_view,
    entity_index,
    funnel_view,
    timeline,
    verification,
)
from streams.dashboard.packs import register_pack_route
from streams.worker.records import current_values

STATIC = {"index.html": "text/html", "app.js": "application/javascript",
          "app.css": "text/css"}
VERIFY_EVERY = 1.0
"""Seconds a hash-chain verification is reused while the log grows (it walks the whole
log)."""


class DashboardSource:
    """What the routes read: the worker's pipeline, tables and chart history, and the log."""

    def __init__(self, worker: Any, history: ChartHistory) -> None:
        self.worker = worker
        self.history = history
        self._engine: Any = None
        self._verified: tuple[float, int, dict[str, Any]] | None = None
        self._funnel_cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}

    # -- escalation log ------------------------------------------------------------------
    def log_url(self) -> str | None:
        return (getattr(self.worker.settings, "escalation_log", None)
                or os.environ.get("VIGIL_ESCALATION_LOG"))

    def engine(self) -> Any:
        side = getattr(self.worker, "escalation", None)  # vigil run --rules
        own = getattr(side, "engine", None)
        if own is not None:
            return own
        if self._engine is None:
            url = self.log_url()
            if not url or url.startswith("memory:"):
                return None
            from notifiers.engine import EscalationEngine
            from notifiers.log.escalation_log import open_log

            try:
                log = open_log(url, create=False)
            except (FileNotFoundError, LookupError, OSError):
                return None  # not written yet: the escalation side creates it
            except Exception:  # an empty SQLite file between creation and its table
                return None
            self._engine = EscalationEngine(log, None)  # no rules: nothing is written
        else:
            self._engine.refresh()
        return self._engine

    def cases(self) -> list[dict[str, Any]]:
        engine = self.engine()
        if engine is None:
            return []
        return [case.to_dict() for case in engine.cases()]

    def verify(self) -> dict[str, Any]:
        engine = self.engine()
        if engine is None:
            return verification(None)
        head = engine.book.last_seq
        now = time.monotonic()
        cached = self._verified
        if cached is None or (cached[1] != head and now - cached[0] > VERIFY_EVERY):
            cached = self._verified = (now, head, engine.log.verify().to_dict())
        return verification(cached[2])

    def case(self, case_id: str) -> dict[str, Any] | None:
        engine = self.engine()
        if engine is None:
            return None
        from notifiers.engine import UnknownCase
        from notifiers.log.chain import rfc3339

        try:
            case = engine.case(case_id)
            history = engine.history(case_id)
        except UnknownCase:
            return None
        entries = [{"seq": e.seq, "at": rfc3339(e.at), "kind": e.kind, "payload": e.payload,
                    "hash": e.hash} for e in history]
        return {"case": case.to_dict(), "timeline": timeline(entries),
                "verification": self.verify()}

    # -- monitors --------------------------------------------------------------------------
    def metrics(self) -> list[dict[str, Any]]:
        pipeline = self.worker.pipeline
        out = []
        for name, kind in pipeline.kinds.items():
            config = kind.config
            out.append({"name": name, "kind": config.kind,
                        "entities": list(getattr(config, "entities", []))})
        return out

    def monitor_records(self, metric: str, entity_type: str) -> list[dict[str, Any]]:
        pipeline = self.worker.pipeline
        kind = pipeline.kinds[metric]
        records = []
        table = current_values(dict(self.worker.monitors.data.items()),
                               self.worker.settings.partitions)
        for key, value in table.items():
            m, t, entity_id = str(key).split("|", 2)
            if m != metric or t != entity_type:
                continue
            entity = pipeline.load_entity((m, t, entity_id), value["m"])
            for record in kind.records(t, entity):
                records.append({"metric": m, "entity_type": t, "entity_id": entity_id,
                                **record})
                break
        return records

    def funnel(self, metric: str, entity_type: str) -> dict[str, Any]:
        now = time.monotonic()
        cached = self._funnel_cache.get((metric, entity_type))
        if cached is not None and now - cached[0] < 1.5:
            return cached[1]
        kind = self.worker.pipeline.kinds[metric].config.kind
        view = funnel_view(self.monitor_records(metric, entity_type), metric,
                                entity_type, higher_is_worse=kind != "participation")
        view["kind"] = kind
        self._funnel_cache[(metric, entity_type)] = (now, view)
        return view


def register(app: Any, source: DashboardSource) -> None:
    """Add the dashboard's pages to faust ``app`` (before it starts)."""
    principals = source.worker.settings.api_principals()

    def guarded(handler: Any) -> Any:
        """``handler`` answering only a reader's bearer token (401 otherwise)."""

        async def answer(view: Any, request: Any, **match: Any) -> Any:
            if reader(request.headers.get("Authorization"), principals) is None:
                return view.json({"error": "a bearer token with the read role is required"},
                                 status=401, headers={"WWW-Authenticate": "Bearer"})
            return await handler(view, request, **match)

        answer.__name__ = handler.__name__
        return answer

    async def index(view: Any, request: Any) -> Any:
        return _static(view, "index.html")

    async def script(view: Any, request: Any) -> Any:
        return _static(view, "app.js")

    async def style(view: Any, request: Any) -> Any:
        return _static(view, "app.css")

    async def summary(view: Any, request: Any) -> Any:
        query = request.query
        filters = {name: query.get(name) or None for name in (*FILTERS, "q")}
        if not filters["status"]:
            filters["status"] = "active"
        cases = source.cases()
        return view.json({
            "generated_at": time.time(),
            "worker": source.worker.settings.app_id,
            "cases": case_rows(cases, **filters),
            "counts": case_counts(cases),
            "entities": entity_index(source.history.entities(),
                                     source.worker.settings.demo_injected),
            "metrics": source.metrics(),
            "verification": source.verify(),
            "updates": source.history.updates,
            "read_only": True,
        })

    async def chart(view: Any, request: Any) -> Any:
        q = request.query
        series = source.history.series(q.get("metric", ""), q.get("entity_type", ""),
                                       q.get("entity_id", ""))
        if series is None:
            return view.json({"error": "no chart history for that entity on this worker"},
                             status=404)
        return view.json(chart_view(series))

    async def funnel(view: Any, request: Any) -> Any:
        q = request.query
        metric = q.get("metric", "")
        if metric not in source.worker.pipeline.kinds:
            return view.json({"error": f"unknown metric {metric!r}"}, status=404)
        return view.json(source.funnel(metric, q.get("entity_type") or "provider"))

    async def case(view: Any, request: Any, case_id: str) -> Any:
        found = source.case(case_id)
        if found is None:
            return view.json({"error": "no such case"}, status=404)
        return view.json(found)

    async def redirect(view: Any, request: Any) -> Any:
        return view.html('<a href="/dashboard/">dashboard</a>', status=302,
                         headers={"Location": "/dashboard/"})

    for path, handler in (("/dashboard", redirect), ("/dashboard/", index),
                          ("/dashboard/app.js", script), ("/dashboard/app.css", style),
                          ("/dashboard/api/summary", guarded(summary)),
                          ("/dashboard/api/chart", guarded(chart)),
                          ("/dashboard/api/funnel", guarded(funnel)),
                          ("/dashboard/api/cases/{case_id}", guarded(case))):
        handler.__name__ = "dashboard_" + handler.__name__
        app.page(path, name=f"dashboard{path}")(with_security_headers(handler))
    register_pack_route(app, source)


def with_security_headers(handler: Any) -> Any:
    """``handler`` with :data:`SECURITY_HEADERS` added to whatever it answers."""

    async def answer(view: Any, request: Any, **match: Any) -> Any:
        response = await handler(view, request, **match)
        response.headers.update(SECURITY_HEADERS)
        return response

    answer.__name__ = handler.__name__
    return answer


def _static(view: Any, name: str) -> Any:
    body = (resources.files("streams.dashboard") / "static" / name).read_bytes()
    response = view.bytes(body, content_type=STATIC[name])
    return response
