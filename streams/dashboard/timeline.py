"""A case's escalation timeline for people: a label for every kind of log entry, and runs
of entries of one kind folded into one row with a count and a date range (a case with 100
signals reads "100 signals received 3 Jan – 9 May 2026", expandable), never 100 rows of
``signal_received``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

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
