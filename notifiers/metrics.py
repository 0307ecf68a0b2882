"""Prometheus metrics of the escalation side, registered once on the default registry."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Counter, Gauge

from notifiers.cases import MAIN_LANE, CaseBook, CaseStatus

NOTIFICATIONS_SENT = Counter(
    "vigil_notifications_sent", "Notifications delivered, by channel", ["adapter"])
NOTIFICATIONS_FAILED = Counter(
    "vigil_notifications_failed", "Failed delivery attempts, by channel and reason",
    ["adapter", "reason"])
NOTIFICATIONS_DEAD_LETTERED = Counter(
    "vigil_notifications_dead_lettered",
    "Notifications given up on after the delivery deadline", ["adapter", "reason"])
NOTIFICATIONS_BLOCKED = Counter(
    "vigil_notifications_blocked", "Regulator notifications refused for lack of sign-off",
    ["recipient"])
AUDIT_CHAIN_OK = Gauge(
    "vigil_audit_chain_ok",
    "1 while the escalation log's hash chain verifies, 0 once it does not")
AUDIT_CHAIN_ENTRIES = Gauge(
    "vigil_audit_chain_entries", "Entries found intact by the latest chain verification")
AUDIT_HEAD_SEQ = Gauge(
    "vigil_audit_head_seq",
    "Seq of the escalation log's head at the latest verification (it only ever grows: a drop "
    "means entries were removed)")

CASES_OPEN = Gauge(
    "vigil_cases_open", "Cases not closed (open, awaiting sign-off or monitoring), by route "
    "and lane", ["route", "lane"])
CASES_AWAITING_SIGNOFF = Gauge(
    "vigil_cases_awaiting_signoff", "Cases whose next stage waits for a person's sign-off, by "
    "route and lane", ["route", "lane"])
CASES_OVERDUE = Gauge(
    "vigil_cases_overdue", "Open cases past a response deadline (a reminder is out, or the "
    "deadline passed and has not fired yet), by route and lane", ["route", "lane"])
_WORKLOAD_GAUGES = (CASES_OPEN, CASES_AWAITING_SIGNOFF, CASES_OVERDUE)
_workload_labels: set[tuple[str, str]] = set()


def case_workload(book: CaseBook, now: datetime) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(route, lane) → (open, awaiting sign-off, overdue) cases in ``book`` at ``now``; the
    lane is ``main`` or ``also`` (a companion route's lane).

    >>> from datetime import UTC
    >>> case_workload(CaseBook(), datetime(2027, 1, 4, tzinfo=UTC))
    {}
    """
    counts: dict[tuple[str, str], list[int]] = {}
    for case_id in book.open_by_key.values():
        case = book.cases[case_id]
        if not case.is_open:
            continue
        lane = "main" if case.key.lane == MAIN_LANE else "also"
        tally = counts.setdefault((case.route or case.policy_name, lane), [0, 0, 0])
        tally[0] += 1
        tally[1] += case.status is CaseStatus.AWAITING_SIGNOFF
        deadline = case.deadline
        tally[2] += (case.status is CaseStatus.OPEN and deadline is not None
                     and (deadline.step > 0 or deadline.due_at <= now))
    return {key: (a, b, c) for key, (a, b, c) in sorted(counts.items())}


def publish_case_workload(book: CaseBook, now: datetime) -> None:
    """Set the case-workload gauges from ``book``; a route with no cases left reads 0."""
    workload = case_workload(book, now)
    for labels in _workload_labels - set(workload):
        for gauge in _WORKLOAD_GAUGES:
            gauge.labels(*labels).set(0)
    for labels, values in workload.items():
        for gauge, value in zip(_WORKLOAD_GAUGES, values, strict=True):
            gauge.labels(*labels).set(value)
    _workload_labels.update(workload)
