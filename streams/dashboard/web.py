"""The dashboard's routes on the worker's faust web server (``app.page``).

    GET  /dashboard/                      the page (static/index.html, app.js, app.css)
    GET  /dashboard/vendor/{name}         vega, vega-lite, vega-embed, vega-interpreter
    GET  /dashboard/api/summary[?filters] open cases (filters: level, direction, metric,
                                          entity_type, status, q), counts, every entity,
                                          the metrics, the log's verification, read model
    GET  /dashboard/api/progress          how far the read model has read (lag per topic)
    GET  /dashboard/api/palette           the one chart palette (streams.charts.palette)
    GET  /dashboard/api/me                the token's principal and role
    GET  /dashboard/api/chart?metric=&entity_type=&entity_id=   data and Vega-Lite specs
    GET  /dashboard/api/funnel?metric=&entity_type=             data and a Vega-Lite spec
    GET  /dashboard/api/cases/{case_id}   one case: drawer facts, grouped timeline, chart
    POST /dashboard/api/cases/{case_id}/ack|respond|confirm|withdraw|signoff|note|screen-out

Where the data comes from: cases and timelines from the escalation log (the engine's case
book rebuilt from the log: the worker's own engine when it runs one, else the log at
``escalation_log`` / ``$VIGIL_ESCALATION_LOG`` opened with ``create=False``); charts and
funnels from the :class:`~streams.dashboard.read_model.ReadModel`, which reads the monitors
changelog and the signals topic whole, so every worker shows every entity.

Access (:mod:`streams.dashboard.access`): every ``/dashboard/api/`` route needs a bearer
token of ``VIGIL_API_TOKENS`` (either role), else 401; the page, script and style load
without one. Actions take the escalation API's path (:func:`notifiers.http_api.apply_action`):
an ``operator`` token acts, an ``auditor`` token gets 403, a case that cannot take the
action (the four-eyes rule on sign-off included) 409 with the reason; the log records the
token's principal. Every response carries
:data:`~streams.dashboard.access.SECURITY_HEADERS`.
"""

from __future__ import annotations

import json
import os
import time
from importlib import resources
from typing import Any

from streams.charts.palette import PALETTE
from streams.charts.vega import chart_specs, funnel_spec
from streams.dashboard.access import SECURITY_HEADERS, reader
from streams.dashboard.case_drawer import case_drawer
from streams.dashboard.chart_history import registry_time
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
from streams.dashboard.read_model import ReadModel
from streams.dashboard.timeline import grouped_timeline

STATIC = {"index.html": "text/html", "app.js": "application/javascript",
          "app.css": "text/css"}
VENDOR = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js", "vega-interpreter.min.js")
"""The vendored chart libraries (static/vendor/README.md: versions and checksums)."""
VERIFY_EVERY = 1.0
"""Seconds a hash-chain verification is reused while the log grows (it walks the whole
log)."""


class DashboardSource:
    """What the routes read: the worker's pipeline, the read model, and the log."""

    def __init__(self, worker: Any, model: ReadModel) -> None:
        self.worker = worker
        self.model = model
        self.history = model.history
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
            own.refresh()
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
            from streams.dashboard.packs import worker_pack_source

            # No rules: actions only. With the look-back source, a preliminary notice that a
            # confirmation from the page writes carries its pack, as the escalation side's do.
            self._engine = EscalationEngine(log, None, packs=worker_pack_source(self.worker))
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
        items = timeline(entries)
        for item in items:
            item["at"] = registry_time(item["at"])
        summary = case.to_dict()
        stage = case.stage
        expects = (stage.response_action if stage is not None and stage.expects_response
                   else None)
        first = next((e["payload"].get("signal", {}).get("occurred_at") for e in entries
                      if e["kind"] == "signal_received"), None)
        signal = summary.get("last_signal") or {}
        chart = self.chart(case.key.metric, case.key.entity_type, case.key.entity_id)
        monitor = next((m for m in (chart or {}).get("monitors", [])
                        if m.get("monitor") == signal.get("monitor")), None)
        excursion = (monitor or {}).get("excursions", [None])[-1] if monitor and monitor.get(
            "excursions") else None
        drawer = case_drawer(summary, expects=expects, first_signal_at=registry_time(first),
                             limits=monitor, excursion=excursion)
        return {"case": summary, "drawer": drawer, "timeline": grouped_timeline(items),
                "verification": self.verify(),
                "charts": [c for c in (chart or {}).get("charts", [])
                           if c["id"] == f"monitor-{signal.get('monitor')}"],
                "pack_url": f"/dashboard/api/cases/{case_id}/pack"}

    def principals(self) -> dict[str, Any]:
        from notifiers.http_api import principals_from

        return principals_from(self.worker.settings.api_principals())

    # -- monitors --------------------------------------------------------------------------
    def metrics(self) -> list[dict[str, Any]]:
        pipeline = self.worker.pipeline
        out = []
        for name, kind in pipeline.kinds.items():
            config = kind.config
            out.append({"name": name, "kind": config.kind,
                        "entities": list(getattr(config, "entities", []))})
        return out

    def chart(self, metric: str, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        series = self.history.series(metric, entity_type, entity_id)
        if series is None:
            return None
        view = chart_view(series)
        view["charts"] = chart_specs(view, PALETTE)
        return view

    def funnel(self, metric: str, entity_type: str) -> dict[str, Any]:
        now = time.monotonic()
        cached = self._funnel_cache.get((metric, entity_type))
        if cached is not None and now - cached[0] < 1.5:
            return cached[1]
        kind = self.worker.pipeline.kinds[metric].config.kind
        view = funnel_view(self.model.records(metric, entity_type), metric,
                           entity_type, higher_is_worse=kind != "participation")
        view["kind"] = kind
        view["spec"] = funnel_spec(view, PALETTE)
        self._funnel_cache[(metric, entity_type)] = (now, view)
        return view


def register(app: Any, source: DashboardSource) -> None:
    """Add the dashboard's pages to faust ``app`` (before it starts)."""
    from faust.web import View

    from notifiers.http_api import ROUTE_ACTIONS, ActionRefused, apply_action, principal_for

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

    async def vendor(view: Any, request: Any, name: str) -> Any:
        if name not in VENDOR:
            return view.json({"error": "not found"}, status=404)
        body = (resources.files("streams.dashboard") / "static" / "vendor" / name).read_bytes()
        return view.bytes(body, content_type="application/javascript")

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
            "read_model": source.model.progress(),
        })

    async def progress(view: Any, request: Any) -> Any:
        return view.json(source.model.progress())

    async def palette(view: Any, request: Any) -> Any:
        return view.json(PALETTE)

    async def me(view: Any, request: Any) -> Any:
        _, _, token = (request.headers.get("Authorization") or "").partition(" ")
        found = principal_for(source.principals(), token.strip())
        return view.json({"name": found.name if found else None,
                          "role": found.role if found else None,
                          "may_act": bool(found and found.role == "operator")})

    async def chart(view: Any, request: Any) -> Any:
        q = request.query
        found = source.chart(q.get("metric", ""), q.get("entity_type", ""),
                             q.get("entity_id", ""))
        if found is None:
            return view.json({"error": "no chart history for that entity yet"}, status=404)
        return view.json(found)

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

    async def act(view: Any, request: Any, case_id: str, action: str) -> Any:
        _, _, token = (request.headers.get("Authorization") or "").partition(" ")
        principal = principal_for(source.principals(), token.strip())
        if principal is None:
            return view.json({"error": "a bearer token is required"}, status=401,
                             headers={"WWW-Authenticate": "Bearer"})
        engine = source.engine()
        body: Any = {}
        if principal.role == "operator":  # as the escalation API: a reader's body is unread
            try:
                body = json.loads(await request.read() or b"{}")
            except ValueError:
                return view.json({"error": "the body must be JSON"}, status=400)
        try:
            done = apply_action(engine, principal, case_id, action, body)
        except ActionRefused as refused:
            return view.json({"error": refused.message}, status=refused.status)
        return view.json(done)

    async def redirect(view: Any, request: Any) -> Any:
        return view.html('<a href="/dashboard/">dashboard</a>', status=302,
                         headers={"Location": "/dashboard/"})

    actions = "|".join(ROUTE_ACTIONS)
    for path, handler in (("/dashboard", redirect), ("/dashboard/", index),
                          ("/dashboard/app.js", script), ("/dashboard/app.css", style),
                          ("/dashboard/vendor/{name}", vendor),
                          ("/dashboard/api/summary", guarded(summary)),
                          ("/dashboard/api/progress", guarded(progress)),
                          ("/dashboard/api/palette", guarded(palette)),
                          ("/dashboard/api/me", guarded(me)),
                          ("/dashboard/api/chart", guarded(chart)),
                          ("/dashboard/api/funnel", guarded(funnel)),
                          ("/dashboard/api/cases/{case_id}", guarded(case))):
        handler.__name__ = "dashboard_" + handler.__name__
        app.page(path, name=f"dashboard{path}")(with_security_headers(handler))
    # POST only (faust answers 405 to a GET); the token is checked inside, for its role.
    poster = with_security_headers(act)
    app.page(f"/dashboard/api/cases/{{case_id}}/{{action:{actions}}}",
             name="dashboard-case-action")(type("dashboard_act", (View,), {"post": poster}))
    register_pack_route(app, source)  # GET /dashboard/api/cases/{case_id}/pack


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
