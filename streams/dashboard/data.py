"""The dashboard's JSON views, as pure functions of what the worker and the escalation log
hold: cases, one case's timeline, one entity's charts, and a funnel per metric.

No I/O here: :mod:`streams.dashboard.web` reads the log, the monitors table and the chart
history and passes plain data in.

>>> rows = case_rows([{"case_id": "c1", "level": "alarm", "direction": "worse",
...     "entity_type": "provider", "entity_id": "R1A", "metric": "death_30d",
...     "stage": "s1", "status": "open", "deadline": None, "opened_at": "t",
...     "signals": 2, "policy": "p"}], level="alarm")
>>> [(r["case_id"], r["level"]) for r in rows]
[('c1', 'alarm')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from signals.funnel import FunnelInput, funnel_snapshot, snapshot_curves
from streams.dashboard.case_drawer import deadline_date, short_date

CASE_FIELDS = ("case_id", "level", "direction", "entity_type", "entity_id", "metric", "stage",
               "status", "deadline", "opened_at", "signals", "policy")
FILTERS = ("level", "direction", "metric", "entity_type", "status")


def case_rows(cases: Iterable[Mapping[str, Any]], **filters: str | None) -> list[dict[str, Any]]:
    """Case summaries (``Case.to_dict()``) reduced to the table's columns and filtered.

    ``filters`` may give ``level``, ``direction``, ``metric``, ``entity_type``, ``status``
    (``active`` = not closed) and ``q`` (a substring of the entity id). Alarms first, then
    the most recently opened.
    """
    unknown = set(filters) - {*FILTERS, "q"}
    if unknown:
        raise ValueError(f"unknown filter(s): {', '.join(sorted(unknown))}")
    rows = []
    for case in cases:
        if not _matches(case, filters):
            continue
        row = {name: case.get(name) for name in CASE_FIELDS}
        row["deadline_text"] = short_date(deadline_date(case.get("respond_by"),
                                                        case.get("deadline")))
        rows.append(row)
    rows.sort(key=lambda r: str(r["opened_at"]), reverse=True)
    rows.sort(key=lambda r: r["level"] != "alarm")
    return rows


def _matches(case: Mapping[str, Any], filters: Mapping[str, str | None]) -> bool:
    for name in FILTERS:
        wanted = filters.get(name)
        if not wanted:
            continue
        if name == "status" and wanted == "active":
            if case.get("status") == "closed":
                return False
        elif case.get(name) != wanted:
            return False
    q = filters.get("q")
    return not q or q.lower() in str(case.get("entity_id", "")).lower()


def case_counts(cases: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Open (not closed) cases by level.

    >>> case_counts([{"level": "alarm", "status": "open"}, {"level": "alert",
    ...              "status": "closed"}])
    {'alarm': 1, 'alert': 0}
    """
    counts = {"alarm": 0, "alert": 0}
    for case in cases:
        if case.get("status") != "closed" and case.get("level") in counts:
            counts[case["level"]] += 1
    return counts


def timeline(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A case's log entries (``seq``, ``at``, ``kind``, ``payload``, ``hash``) as timeline
    items with a one-line summary each.

    >>> timeline([{"seq": 3, "at": "2026-01-01T00:00:00Z", "kind": "stage_entered",
    ...            "payload": {"stage": "clinical_review", "stage_index": 0},
    ...            "hash": "ab" * 32}])[0]["summary"]
    'stage clinical_review entered'
    """
    items = []
    for entry in entries:
        payload = entry.get("payload") or {}
        items.append({"seq": entry.get("seq"), "at": entry.get("at"),
                      "kind": entry.get("kind"), "summary": summarise(entry.get("kind", ""),
                                                                       payload),
                      "hash": str(entry.get("hash", ""))[:12]})
    return items


def summarise(kind: str, p: Mapping[str, Any]) -> str:
    """One line about one log entry, for people.

    >>> summarise("deadline_set", {"due_at": "2027-01-09T00:00:00Z", "respond_by": "2027-01-08"})
    'deadline Friday 8 January 2027'
    """
    found = p.get("signal")
    signal: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    if kind == "case_opened":
        return (f"case opened: {p.get('level')} {signal.get('direction', '')} "
                f"(policy {p.get('policy_name')})").replace("  ", " ")
    if kind in ("signal_recorded", "case_upgraded"):
        verb = "upgraded to" if kind == "case_upgraded" else "signal recorded:"
        return f"{verb} {p.get('level') or signal.get('level')} (n={signal.get('n')})"
    if kind in ("stage_entered", "stage_awaiting_signoff"):
        suffix = "entered" if kind == "stage_entered" else "awaits sign-off"
        return f"stage {p.get('stage')} {suffix}"
    if kind == "deadline_set":  # the date the letter prints, not the UTC instant it ends
        return f"deadline {deadline_date(p.get('respond_by'), _text(p.get('due_at')))}"
    if kind == "notification_requested":
        return f"notification requested for {p.get('recipient')}"
    if kind in ("notification_sent", "notification_attempt", "dead_letter"):
        what = {"notification_sent": "sent", "notification_attempt": "attempt",
                "dead_letter": "dead-lettered"}[kind]
        return f"{what} to {p.get('recipient')} via {p.get('channel')} {p.get('address', '')}"
    if kind == "action":
        return f"{p.get('action')} by {p.get('by')}" + (f": {p['note']}" if p.get("note")
                                                        else "")
    if kind == "case_closed":
        return f"closed: {p.get('reason')}"
    if kind == "stage_completed":
        return f"stage {p.get('stage')} completed: {p.get('outcome')}"
    return kind.replace("_", " ")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def verification(result: Mapping[str, Any] | None) -> dict[str, Any]:
    """The hash chain's verification (``VerifyResult.to_dict()``) as a status for the page.

    >>> verification({"ok": True, "entries": 12})
    {'status': 'intact', 'entries': 12, 'detail': '12 entries, hash chain intact'}
    >>> verification(None)["status"]
    'unavailable'
    """
    if result is None:
        return {"status": "unavailable", "entries": 0, "detail": "no escalation log yet"}
    entries = int(result.get("entries", 0))
    if result.get("ok"):
        return {"status": "intact", "entries": entries,
                "detail": f"{entries} entries, hash chain intact"}
    where = {k: v for k, v in result.items() if k not in ("ok", "entries")}
    return {"status": "broken", "entries": entries,
            "detail": f"hash chain BROKEN: {where}"}


def entity_index(keys: Iterable[Sequence[str]],
                 injected: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """The entities the charts can show, sorted by metric, type and id; an entity where
    ``vigil demo`` injected an outlier says which.

    >>> entity_index([("m", "clinician", "7000201"), ("m", "provider", "R1A")],
    ...              {"7000201": "bad_clinician"})[0]["injected"]
    'bad_clinician'
    """
    injected = injected or {}
    return [{"metric": m, "entity_type": t, "entity_id": i,
             **({"injected": injected[i]} if i in injected else {})}
            for m, t, i in sorted(tuple(k) for k in keys)]


def chart_view(series: Mapping[str, Any]) -> dict[str, Any]:
    """One entity's charts from a :class:`~streams.dashboard.chart_history.ChartHistory`
    series: per monitor its line ``[n, statistic, at]``, limits, signals and excursions;
    the VLAD curve; observed and expected (each ``[n, value, at]``).

    >>> view = chart_view({"metric": "m", "entity_type": "provider", "entity_id": "R1A",
    ...     "monitors": [{"monitor": "ra", "kind": "ra_cusum", "direction": "worse",
    ...                   "alert": 3.5, "alarm": 4.5, "below": False}],
    ...     "points": [[1, [0.2], 0.1, 0, 0.1, "d1"], [2, [1.1], -0.8, 1, 0.2, "d2"]],
    ...     "signals": []})
    >>> view["monitors"][0]["points"], view["vlad"]
    ([[1, 0.2, 'd1'], [2, 1.1, 'd2']], [[1, 0.1, 'd1'], [2, -0.8, 'd2']])
    >>> view["observed"]
    [[1, 0, 'd1'], [2, 1, 'd2']]
    """
    monitors = []
    points = series.get("points", [])

    def at(p: Sequence[Any]) -> Any:
        return p[5] if len(p) > 5 else None

    for index, monitor in enumerate(series.get("monitors", [])):
        line = [[p[0], p[1][index], at(p)] for p in points
                if index < len(p[1]) and p[1][index] is not None and p[0] is not None]
        signals = [s for s in series.get("signals", [])
                   if s.get("monitor") == monitor.get("monitor")]
        # An excursion (from the last 0) is a CUSUM's: other charts never rest at 0.
        cusum = "cusum" in str(monitor.get("kind"))
        monitors.append({**monitor, "points": line, "signals": signals,
                         "excursions": excursions(line, signals) if cusum else []})

    def column(i: int) -> list[list[Any]]:
        return [[p[0], p[i], at(p)] for p in points if p[0] is not None and p[i] is not None]

    return {"metric": series.get("metric"), "entity_type": series.get("entity_type"),
            "entity_id": series.get("entity_id"), "monitors": monitors,
            "vlad": column(2), "observed": column(3), "expected": column(4),
            "signals": list(series.get("signals", []))}


def funnel_inputs(records: Iterable[Mapping[str, Any]], metric: str,
                  entity_type: str) -> list[FunnelInput]:
    """Observed and expected per entity of one metric, from monitor records (each entity's
    first monitor carries them, as ``vigil funnel`` reads ``monitors.jsonl``)."""
    rows: dict[str, FunnelInput] = {}
    for record in records:
        if record.get("metric") != metric or record.get("entity_type") != entity_type:
            continue
        entity = str(record.get("entity_id"))
        expected = record.get("expected")
        if entity in rows or not expected or record.get("observed") is None:
            continue
        rows[entity] = FunnelInput(entity, float(record["observed"]), float(expected))
    return list(rows.values())


def funnel_view(records: Iterable[Mapping[str, Any]], metric: str, entity_type: str, *,
                higher_is_worse: bool = True, min_expected: float = 1.0,
                n_points: int = 120) -> dict[str, Any]:
    """A funnel plot of one metric across entities: each entity's O/E, the 95% and 99.8%
    exact Poisson limits as curves over expected counts, and outliers marked.

    >>> view = funnel_view([
    ...     {"metric": "m", "entity_type": "provider", "entity_id": "A", "observed": 30,
    ...      "expected": 10.0},
    ...     {"metric": "m", "entity_type": "provider", "entity_id": "B", "observed": 10,
    ...      "expected": 10.0}], "m", "provider")
    >>> [(p["entity_id"], p["level"], p["direction"]) for p in view["points"]]
    [('A', 'alarm', 'worse'), ('B', None, None)]
    >>> [c["level"] for c in view["limits"]]
    [0.95, 0.998]
    """
    rows = funnel_inputs(records, metric, entity_type)
    view: dict[str, Any] = {"metric": metric, "entity_type": entity_type, "points": [],
                            "limits": [], "target": 1.0, "higher_is_worse": higher_is_worse}
    if not rows:
        return view
    snapshot = funnel_snapshot(rows, higher_is_worse=higher_is_worse,
                               min_expected=min_expected)
    curves = snapshot_curves(snapshot, n_points=n_points)
    view["points"] = [{
        "entity_id": p.entity_id, "observed": p.observed, "expected": p.expected,
        "ratio": p.ratio, "level": p.level.value if p.level else None,
        "direction": p.direction.value if p.direction else None}
        for p in sorted(snapshot.points, key=lambda p: p.entity_id)]
    for level in curves.levels:
        lower, upper = curves.band(level)
        view["limits"].append({
            "level": level, "expected": [round(float(e), 6) for e in curves.expected],
            "lower": [round(float(v), 6) for v in lower],
            "upper": [round(float(v), 6) for v in upper]})
    return view


def excursions(points: Sequence[Sequence[Any]], signals: Sequence[Mapping[str, Any]]
               ) -> list[dict[str, Any]]:
    """Each signal's excursion on its chart: from the point after the statistic last stood
    at 0 before the signal, to the signal. ``points`` are one monitor's ``[n, statistic,
    at]`` in ``n`` order; ``signals`` its markers (``n``, ``at``). When the history kept
    holds no 0 before a signal (one point per entity per worker batch, a bounded history),
    its excursion is shaded from the first point kept and ``exact`` is false: it began on or
    before that date (the look-back pack, replayed from the events, has the exact start).

    >>> points = [[1, 0.0, "d1"], [2, 0.7, "d2"], [3, 0.0, "d3"], [4, 1.2, "d4"],
    ...           [5, 4.9, "d5"]]
    >>> excursions(points, [{"n": 5, "at": "d5", "level": "alarm"}])
    [{'start_n': 4, 'start_at': 'd4', 'end_n': 5, 'end_at': 'd5', 'level': 'alarm', 'exact': True}]
    >>> excursions(points[3:], [{"n": 5, "at": "d5", "level": "alarm"}])[0]["exact"]
    False
    """
    out = []
    for signal in signals:
        n = signal.get("n")
        if n is None:
            continue
        before = [p for p in points if p[0] is not None and p[0] <= n]
        if not before:
            continue
        start, exact = before[0], False
        for i in range(len(before) - 1, -1, -1):
            statistic = before[i][1]
            if statistic is not None and abs(float(statistic)) < 1e-12 and before[i][0] < n:
                start = before[i + 1] if i + 1 < len(before) else before[i]
                exact = True
                break
        out.append({"start_n": start[0], "start_at": start[2], "end_n": n,
                    "end_at": signal.get("at"), "level": signal.get("level"), "exact": exact})
    return out
