"""``GET /dashboard/api/cases/{case_id}/pack``: a case's look-back pack, as a zip download.

The link every preliminary notice carries (:func:`notifiers.pack_source.pack_url`). The
route answers, with :data:`~streams.dashboard.access.SECURITY_HEADERS` always:

* 401 without a reader's bearer token (as every ``/dashboard/api/`` route);
* 503, with the reason, when this worker has no pack source (``VIGIL_LOOKBACK_EVENTS``
  unset) or its events file is not there;
* 404 for an unknown case, or a case whose signal has no pack (a monitor with no
  episode-level look-back, or a signal the events do not raise), with the reason;
* 200 ``application/zip`` as ``lookback-{case_id}.zip`` otherwise.

Which signal: the one the case's preliminary notice attached its pack for, so the link
gives the bytes whose SHA-256 the notice names; a case with no such notice gets its latest
signal's pack. The source is the worker's escalation side's when it runs one (one cache
for notices and downloads), else one built from the setting for this worker's metrics.
Building a pack replays the events file, so it runs in a thread: the stages go on.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from typing import Any

import structlog

from notifiers.pack_source import NO_SOURCE, PackSource
from streams.dashboard.access import SECURITY_HEADERS, reader

log = structlog.get_logger("vigil.dashboard")

PATH = "/dashboard/api/cases/{case_id}/pack"


def noticed_signal(case: Mapping[str, Any], history: Iterable[Any]) -> Mapping[str, Any]:
    """The signal whose pack the case's notices named (the latest notice with one
    attached), else the case's latest signal (``Case.to_dict()["last_signal"]``).
    ``history`` is the case's log entries (``.kind``, ``.payload``).

    >>> from types import SimpleNamespace as Entry
    >>> notice = Entry(kind="notification_requested", payload={"message": {"body": {
    ...     "signal": {"signal_id": "s1"}, "look_back_pack": {"attached": True}}}})
    >>> noticed_signal({"last_signal": {"signal_id": "s2"}}, [notice])["signal_id"]
    's1'
    >>> noticed_signal({"last_signal": {"signal_id": "s2"}}, [])["signal_id"]
    's2'
    """
    found: Mapping[str, Any] = case.get("last_signal") or {}
    for entry in history:
        if entry.kind != "notification_requested":
            continue
        body = (entry.payload.get("message") or {}).get("body") or {}
        record = body.get("look_back_pack")
        if isinstance(record, Mapping) and record.get("attached") and body.get("signal"):
            found = body["signal"]
    return found


def attachment_name(case_id: str) -> str:
    """The download's file name: the notice's attachment name, with anything but letters,
    digits, ``.``, ``_`` and ``-`` replaced (it goes into a header).

    >>> attachment_name("C-2026-0001"), attachment_name('a"b\\r\\nc')
    ('lookback-C-2026-0001.zip', 'lookback-a_b__c.zip')
    """
    return f"lookback-{re.sub(r'[^A-Za-z0-9._-]', '_', case_id)}.zip"


class PackDownload:
    """What the route reads: the dashboard's escalation engine (``engine()``, ``None``
    before the log exists) and the pack source (``None``: not configured)."""

    def __init__(self, dashboard: Any, packs: PackSource | None) -> None:
        self.dashboard = dashboard
        self.packs = packs

    def case_signal(self, case_id: str) -> Mapping[str, Any] | None:
        """The signal to pack for ``case_id``, or ``None`` for an unknown case."""
        engine = self.dashboard.engine()
        if engine is None:
            return None
        from notifiers.engine import UnknownCase

        try:
            case = engine.case(case_id).to_dict()
            history = engine.history(case_id)
        except UnknownCase:
            return None
        return noticed_signal(case, history)

    async def answer(self, view: Any, case_id: str) -> Any:
        """The response for an authorised request (status as the module says)."""
        if self.packs is None:
            return view.json({"error": f"no look-back pack: {NO_SOURCE} "
                              "(VIGIL_LOOKBACK_EVENTS)"}, status=503)
        unavailable = getattr(self.packs, "unavailable", None)
        why = unavailable() if callable(unavailable) else None
        if why:
            return view.json({"error": f"no look-back pack: {why}"}, status=503)
        signal = self.case_signal(case_id)
        if signal is None:
            return view.json({"error": "no such case"}, status=404)
        try:
            data = await asyncio.to_thread(self.packs.pack_for, case_id, signal)
        except Exception as error:  # a bug or a damaged file: say so, keep serving
            log.error("lookback_pack_failed", case_id=case_id, error_type=type(error).__name__)
            return view.json({"error": "the look-back pack could not be built"}, status=500)
        if data is None:
            reason = getattr(self.packs, "why_not", None) or "the source has no pack for it"
            return view.json({"error": f"no look-back pack for this case: {reason}"},
                             status=404)
        return view.bytes(data, content_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="{attachment_name(case_id)}"'})


def worker_pack_source(worker: Any) -> PackSource | None:
    """The escalation side's pack source when the worker runs one, else one from
    ``VIGIL_LOOKBACK_EVENTS`` for the worker's pipeline (``None`` when unset)."""
    side = getattr(worker, "escalation", None)
    own: PackSource | None = getattr(side, "packs", None)
    if own is not None:
        return own
    from streams.lookback.source import configured_pack_source

    return configured_pack_source(worker.settings.lookback_events, worker.pipeline)


def register_pack_route(app: Any, source: Any) -> None:
    """Add the download route to faust ``app``; ``source`` is the dashboard's
    :class:`~streams.dashboard.web.DashboardSource` (its ``worker`` and ``engine()``)."""
    register_pack_download(app, PackDownload(source, worker_pack_source(source.worker)),
                           source.worker.settings.api_principals())


def register_pack_download(app: Any, download: PackDownload,
                           principals: Mapping[str, tuple[str, str]]) -> None:
    """Add ``download``'s route to faust ``app``, readers' tokens only (``principals``:
    token → (role, name))."""

    async def dashboard_case_pack(view: Any, request: Any, case_id: str) -> Any:
        if reader(request.headers.get("Authorization"), principals) is None:
            response = view.json({"error": "a bearer token with the read role is required"},
                                 status=401, headers={"WWW-Authenticate": "Bearer"})
        else:
            response = await download.answer(view, case_id)
        response.headers.update(SECURITY_HEADERS)
        return response

    app.page(PATH, name=f"dashboard{PATH}")(dashboard_case_pack)
