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
from datetime import date, datetime, timedelta
from typing import Any

from notifiers.messages import letter_date
from notifiers.working_days import local_date
from signals.funnel import FunnelInput, funnel_snapshot, snapshot_curves
from streams.dashboard.chart_history import registry_time

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
    signal = p.get("signal") if isinstance(p.get("signal"), Mapping) else {}
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


KIND_LABELS: Mapping[str, tuple[str, str]] = {
    # kind: (one entry, several entries)
    "rules_version": ("rules version recorded", "rules versions recorded"),
    "rules_rejected": ("rules file rejected", "rules files rejected"),
    "signal_received": ("signal received", "signals received"),
    "signal_duplicate": ("duplicate signal dropped", "duplicate signals dropped"),
    "signal_rejected": ("malformed signal rejected", "malformed signals rejected"),
    "route_decision": ("routed", "routing decisions"),
    "inhibit": ("alert held back (alarm open)", "alerts held back (alarm open)"),
    "case_opened": ("case opened", "cases opened"),
    "case_upgraded": ("upgraded to alarm", "upgrades"),
    "signal_recorded": ("signal recorded on the case", "signals recorded on the case"),
    "signal_absorbed": ("signal kept on the closed case", "signals kept on the closed case"),
    "stage_awaiting_signoff": ("awaiting sign-off", "awaiting sign-off"),
    "stage_entered": ("stage entered", "stages entered"),
    "stage_completed": ("stage completed", "stages completed"),
    "deadline_set": ("deadline set", "deadlines set"),
    "deadline_fired": ("deadline passed", "deadlines passed"),
    "deadline_expired": ("last deadline passed", "last deadlines passed"),
    "reminder": ("reminder", "reminders"),
    "action": ("action", "actions"),
    "case_monitoring": ("all stages run: monitoring", "monitoring"),
    "case_closed": ("case closed", "case closed"),
    "notification_requested": ("notification requested", "notifications requested"),
    "notification_attempt": ("delivery attempt", "delivery attempts"),
    "notification_sent": ("notification sent", "notifications sent"),
    "notification_blocked": ("notification held for sign-off",
                             "notifications held for sign-off"),
    "dead_letter": ("notification given up", "notifications given up"),
}
"""A human label for every kind of :class:`notifiers.log.kinds.LogKind`."""


def kind_label(kind: str, count: int = 1) -> str:
    """The label of a log kind, singular or plural.

    >>> kind_label("signal_received"), kind_label("signal_received", 12)
    ('signal received', 'signals received')
    >>> kind_label("something_new")
    'something new'
    """
    one, many = KIND_LABELS.get(kind, (kind.replace("_", " "),) * 2)
    return one if count == 1 else many


def day_range(first: str | None, last: str | None) -> str:
    """Two registry-time ISO instants as a short date range.

    >>> day_range("2026-05-03T10:00:00", "2026-05-09T11:00:00")
    '3–9 May 2026'
    >>> day_range("2026-04-30T10:00:00", "2026-05-02T08:00:00")
    '30 Apr – 2 May 2026'
    >>> day_range("2026-05-03T10:00:00", "2026-05-03T11:00:00")
    '3 May 2026'
    """
    if not first or not last:
        return ""
    a, b = date.fromisoformat(first[:10]), date.fromisoformat(last[:10])
    if a == b:
        return f"{a.day} {a:%b %Y}"
    if (a.year, a.month) == (b.year, b.month):
        return f"{a.day}–{b.day} {b:%b %Y}"
    if a.year == b.year:
        return f"{a.day} {a:%b} – {b.day} {b:%b %Y}"
    return f"{a.day} {a:%b %Y} – {b.day} {b:%b %Y}"


SIGNAL_KINDS = frozenset({"signal_received", "route_decision", "signal_recorded",
                          "signal_duplicate", "inhibit", "signal_absorbed"})
"""What the log writes for each signal on a case: shown as one run of signals."""


def grouped_timeline(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Timeline items (:func:`timeline`, with ``at`` in registry time) with consecutive
    entries of the same kind collapsed into one group: a label with the count and the date
    range, and the entries themselves (for expanding). A signal's entries (received, routed,
    recorded on the case) count as one kind, so a run of signals is one row; actions are
    never collapsed: each names who acted.

    >>> items = []
    >>> for i in range(3, 10):
    ...     items += [{"seq": i, "at": f"2026-05-0{i}T10:00:00", "kind": kind, "summary": "s"}
    ...               for kind in ("signal_received", "route_decision", "signal_recorded")]
    >>> items.append({"seq": 10, "at": "2026-05-09T12:00:00", "kind": "action",
    ...               "summary": "acknowledge by Dr A"})
    >>> [(g["label"], g["count"]) for g in grouped_timeline(items)]
    [('7 signals received 3–9 May 2026', 7), ('acknowledge by Dr A', 1)]
    """
    groups: list[dict[str, Any]] = []
    for item in items:
        kind = str(item.get("kind"))
        key = "signals" if kind in SIGNAL_KINDS else kind
        last = groups[-1] if groups else None
        if last is not None and last["key"] == key and kind != "action":
            last["entries"].append(dict(item))
        else:
            groups.append({"key": key, "kind": kind, "entries": [dict(item)]})
    for group in groups:
        entries = group["entries"]
        first_at, last_at = entries[0].get("at"), entries[-1].get("at")
        if group["key"] == "signals":
            received = sum(e.get("kind") == "signal_received" for e in entries)
            count = received or len(entries)
            kind = "signal_received" if received else group["kind"]
        else:
            count, kind = len(entries), group["kind"]
        group.update(count=count, first_at=first_at, last_at=last_at)
        if len(entries) == 1:
            group["label"] = str(entries[0].get("summary"))
        elif count == 1:
            group["label"] = f"{kind_label(kind)} {day_range(first_at, last_at)}"
        else:
            group["label"] = f"{count} {kind_label(kind, count)} {day_range(first_at, last_at)}"
    return groups


def excursions(points: Sequence[Sequence[Any]], signals: Sequence[Mapping[str, Any]]
               ) -> list[dict[str, Any]]:
    """Each signal's excursion on its chart: from the point after the statistic last stood
    at 0 before the signal, to the signal. ``points`` are one monitor's ``[n, statistic,
    at]`` in ``n`` order; ``signals`` its markers (``n``, ``at``). When the history kept
    holds no 0 before a signal, its excursion starts at the first point kept.

    >>> points = [[1, 0.0, "d1"], [2, 0.7, "d2"], [3, 0.0, "d3"], [4, 1.2, "d4"],
    ...           [5, 4.9, "d5"]]
    >>> excursions(points, [{"n": 5, "at": "d5", "level": "alarm"}])
    [{'start_n': 4, 'start_at': 'd4', 'end_n': 5, 'end_at': 'd5', 'level': 'alarm'}]
    """
    out = []
    for signal in signals:
        n = signal.get("n")
        if n is None:
            continue
        before = [p for p in points if p[0] is not None and p[0] <= n]
        if not before:
            continue
        start = before[0]
        for i in range(len(before) - 1, -1, -1):
            statistic = before[i][1]
            if statistic is not None and abs(float(statistic)) < 1e-12 and before[i][0] < n:
                start = before[i + 1] if i + 1 < len(before) else before[i]
                break
        out.append({"start_n": start[0], "start_at": start[2], "end_n": n,
                    "end_at": signal.get("at"), "level": signal.get("level")})
    return out


def deadline_date(respond_by: str | None, due_at: str | None) -> str | None:
    """The date a case's deadline falls on, as its letter prints it: the letter's
    ``respond_by`` (a working-day count in London), or, for a deadline logged without one,
    the London day that ends at ``due_at``.

    >>> deadline_date("2027-01-21", "2027-01-22T00:00:00Z")
    'Thursday 21 January 2027'
    >>> deadline_date(None, "2026-07-01T23:00:00Z")
    'Wednesday 1 July 2026'
    >>> deadline_date(None, None) is None
    True
    """
    if respond_by:
        return letter_date(date.fromisoformat(respond_by))
    if not due_at:
        return None
    end = datetime.fromisoformat(due_at.replace("Z", "+00:00"))
    return letter_date(local_date(end - timedelta(microseconds=1)))


def short_date(text: str | None) -> str | None:
    """A letter date shortened for a table cell.

    >>> short_date("Thursday 21 January 2027")
    'Thu 21 Jan 2027'
    """
    if not text:
        return None
    weekday, day, month, year = text.split()
    return f"{weekday[:3]} {day} {month[:3]} {year}"


NEXT_STEPS = {"confirm": "confirm or withdraw", "respond": "provider's written response",
              "acknowledge": "acknowledgement"}


def next_step(status: str, stage: str | None, expects: str | None) -> str:
    """What the case waits for now.

    >>> next_step("awaiting_signoff", "mhra_report", None)
    'sign-off before mhra_report is sent (a second person)'
    >>> next_step("open", "screening", "confirm")
    'screening: confirm or withdraw'
    >>> next_step("monitoring", None, None)
    'monitoring: closes after a quiet spell'
    """
    if status == "awaiting_signoff":
        return f"sign-off before {stage} is sent (a second person)"
    if status == "monitoring":
        return "monitoring: closes after a quiet spell"
    if status == "closed":
        return "none (closed)"
    if expects:
        return f"{stage}: {NEXT_STEPS.get(expects, expects)}"
    return f"{stage}: nothing asked"


def case_drawer(case: Mapping[str, Any], *, expects: str | None,
                first_signal_at: str | None, limits: Mapping[str, Any] | None,
                excursion: Mapping[str, Any] | None) -> dict[str, Any]:
    """The case drawer's facts: the statistic against its limit, O, E, O/E, dates in the
    registry's time zone, the next step and its deadline (the letter's date), the route and
    who was told.

    >>> drawer = case_drawer({"case_id": "c", "status": "open", "stage": "screening",
    ...     "route": "provider-alarm", "opened_at": "2026-07-01T09:00:00Z",
    ...     "respond_by": "2026-07-15", "deadline": "2026-07-15T23:00:00Z",
    ...     "notifications": ["c:p:screening:audit_team:stage"],
    ...     "last_signal": {"statistic": 5.1, "threshold": 4.5, "observed": 25,
    ...                     "expected": 15.7, "occurred_at": "2026-06-30T23:30:00+00:00"}},
    ...     expects="confirm", first_signal_at="2026-06-20T10:00:00",
    ...     limits={"alert": 3.5, "alarm": 4.5}, excursion=None)
    >>> drawer["o_e"], drawer["last_signal_at"], drawer["deadline_text"]
    (1.592, '2026-07-01T00:30:00', 'Wednesday 15 July 2026')
    >>> drawer["recipients"], drawer["next_step"]
    (['audit_team'], 'screening: confirm or withdraw')
    """
    signal = case.get("last_signal") or {}
    observed, expected = signal.get("observed"), signal.get("expected")
    ratio = (round(float(observed) / float(expected), 3)
             if isinstance(observed, int | float) and isinstance(expected, int | float)
             and expected else None)
    recipients = []
    for key in case.get("notifications") or []:
        parts = str(key).split(":")
        if len(parts) >= 5 and parts[-2] not in recipients:
            recipients.append(parts[-2])
    return {
        "statistic": signal.get("statistic"), "limit": signal.get("threshold"),
        "alert_limit": (limits or {}).get("alert"), "alarm_limit": (limits or {}).get("alarm"),
        "monitor": signal.get("monitor"), "n": signal.get("n"),
        "observed": observed, "expected": expected, "o_e": ratio,
        "opened_at": registry_time(case.get("opened_at")),
        "first_signal_at": first_signal_at,
        "excursion_start_at": (excursion or {}).get("start_at"),
        "last_signal_at": registry_time(signal.get("occurred_at")),
        "next_step": next_step(str(case.get("status")), case.get("stage"), expects),
        "deadline_text": deadline_date(case.get("respond_by"), case.get("deadline")),
        "route": case.get("route"), "policy": case.get("policy"), "recipients": recipients,
    }
