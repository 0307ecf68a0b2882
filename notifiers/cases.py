"""Cases: the projection of the escalation log that says what is open and what is due.

A case follows one escalation policy for one (registry, metric, entity_type, entity_id,
direction) and *lane* (``main`` for the route that owns the signal; ``also:<route>`` for a companion
route matched through ``continue: true``). Its state is never stored on its own: it is
rebuilt by applying log entries in order with :meth:`CaseBook.apply` (event sourcing), which
is how open cases and pending deadlines survive a restart. The engine applies each new
event the same way as it decides, so the live state and the rebuilt state are the same.

Pure: no I/O, no clock. Times come in with the events.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from notifiers.log.chain import parse_rfc3339, rfc3339
from notifiers.rules import Policy, Stage
from notifiers.working_days import working_deadline

MAIN_LANE = "main"
_BOOK_KINDS = frozenset({"rules_version", "signal_received", "case_opened"})


class CaseStatus(StrEnum):
    """``open``: a stage is running; ``awaiting_signoff``: the next stage waits for a person;
    ``monitoring``: every stage has run, new signals are recorded until the case resolves;
    ``closed``: resolved or withdrawn."""

    OPEN = "open"
    AWAITING_SIGNOFF = "awaiting_signoff"
    MONITORING = "monitoring"
    CLOSED = "closed"


class CaseKey(NamedTuple):
    """One concern: at most one case is open per key. ``registry`` comes last (and may be
    ``None``) only so that keys logged before it was part of the key still read back."""

    metric: str
    entity_type: str
    entity_id: str
    direction: str
    lane: str = MAIN_LANE
    registry: str | None = None


@dataclass(slots=True)
class Deadline:
    """When the running stage's deadline expires, and how many deadline steps already ran."""

    due_at: datetime
    step: int
    respond_by: str | None = None


@dataclass(slots=True)
class Case:
    case_id: str
    key: CaseKey
    level: str
    route: str | None
    policy_name: str
    policy: Policy
    rules_version: str | None
    opened_at: datetime
    parent_case_id: str | None = None
    status: CaseStatus = CaseStatus.OPEN
    stage_index: int = -1
    deadline: Deadline | None = None
    reminders: int = 0
    confirmed: bool = False
    screened: bool = False
    reporting_period: str | None = None
    absorbed: int = 0
    signal_ids: list[str] = field(default_factory=list)
    signal: dict[str, Any] = field(default_factory=dict)
    last_signal_at: datetime | None = None
    monitoring_since: datetime | None = None
    signoffs: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    notifications: dict[str, str] = field(default_factory=dict)  # key -> recipient
    stage_outcomes: list[dict[str, Any]] = field(default_factory=list)
    closed_reason: str | None = None
    closed_at: datetime | None = None

    @property
    def stage(self) -> Stage | None:
        if 0 <= self.stage_index < len(self.policy.stages):
            return self.policy.stages[self.stage_index]
        return None

    @property
    def is_open(self) -> bool:
        return self.status is not CaseStatus.CLOSED

    def signoff_for(self, stage: Stage) -> dict[str, Any] | None:
        """The sign-off recorded for ``stage`` of the current policy, if any."""
        for signoff in self.signoffs:
            if signoff["policy"] == self.policy_name and signoff["stage"] == stage.name:
                return signoff
        return None

    def resolve_at(self) -> datetime | None:
        """A case whose stages have all run closes after a quiet spell with no new signal."""
        if self.status is not CaseStatus.MONITORING or self.monitoring_since is None:
            return None
        since = max(filter(None, (self.monitoring_since, self.last_signal_at)))
        return working_deadline(since, self.policy.resolve_after_working_days)

    def timer(self) -> datetime | None:
        if self.status is CaseStatus.OPEN and self.deadline is not None:
            return self.deadline.due_at
        return self.resolve_at()

    def told(self, recipient: str) -> bool:
        return recipient in self.notifications.values()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for the API and the CLI."""
        stage = self.stage
        return {
            "case_id": self.case_id,
            "metric": self.key.metric,
            "entity_type": self.key.entity_type,
            "entity_id": self.key.entity_id,
            "direction": self.key.direction,
            "lane": self.key.lane,
            "level": self.level,
            "status": self.status.value,
            "route": self.route,
            "policy": self.policy_name,
            "rules_version": self.rules_version,
            "stage": stage.name if stage else None,
            "stage_index": self.stage_index,
            "deadline": rfc3339(self.deadline.due_at) if self.deadline else None,
            "respond_by": self.deadline.respond_by if self.deadline else None,
            "reminders": self.reminders,
            "confirmed": self.confirmed,
            "screened": self.screened,
            "registry": self.key.registry,
            "reporting_period": self.reporting_period,
            "absorbed": self.absorbed,
            "opened_at": rfc3339(self.opened_at),
            "signals": len(self.signal_ids),
            "last_signal": self.signal,
            "signoffs": self.signoffs,
            "actions": self.actions,
            "notifications": sorted(self.notifications),
            "parent_case_id": self.parent_case_id,
            "closed_reason": self.closed_reason,
            "closed_at": rfc3339(self.closed_at) if self.closed_at else None,
        }


class CaseBook:
    """Every case, the open one per key, the signal ids seen, and a timer queue."""

    def __init__(self) -> None:
        self.cases: dict[str, Case] = {}
        self.open_by_key: dict[CaseKey, str] = {}
        self.last_by_key: dict[CaseKey, str] = {}
        self.seen_signals: set[str] = set()
        self.rules_version: str | None = None
        self.last_seq = 0
        self._timers: list[tuple[datetime, str]] = []
        self._timer_of: dict[str, datetime] = {}

    def open_case(self, key: CaseKey) -> Case | None:
        case_id = self.open_by_key.get(key)
        return self.cases[case_id] if case_id else None

    def last_case(self, key: CaseKey) -> Case | None:
        """The case most recently opened for ``key``, open or closed."""
        case_id = self.last_by_key.get(key)
        return self.cases[case_id] if case_id else None

    def pop_due(self, now: datetime) -> tuple[datetime, Case] | None:
        """The case whose timer expired earliest at or before ``now``, taken off the queue
        (stale entries of rescheduled or cleared timers are dropped on the way)."""
        while self._timers and self._timers[0][0] <= now:
            at, case_id = heapq.heappop(self._timers)
            if self._timer_of.get(case_id) == at:
                del self._timer_of[case_id]
                return at, self.cases[case_id]
        return None

    def next_timer(self) -> datetime | None:
        while self._timers and self._timer_of.get(self._timers[0][1]) != self._timers[0][0]:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def _reschedule(self, case: Case) -> None:
        at = case.timer()
        if at is None:
            self._timer_of.pop(case.case_id, None)
        elif self._timer_of.get(case.case_id) != at:
            self._timer_of[case.case_id] = at
            heapq.heappush(self._timers, (at, case.case_id))

    @staticmethod
    def changes_state(kind: str) -> bool:
        """Whether entries of ``kind`` change the book (deliveries, routes and the like do
        not), i.e. whether another writer's entry of that kind can alter a decision.

        >>> CaseBook.changes_state("action"), CaseBook.changes_state("notification_sent")
        (True, False)
        """
        return kind in _BOOK_KINDS or kind in _HANDLERS

    def apply(self, kind: str, payload: dict[str, Any], *, at: datetime,
              case_id: str | None = None, seq: int | None = None) -> None:
        """Advance the projection by one log entry (payload as read back from the log)."""
        if seq is not None:
            self.last_seq = seq
        if kind == "rules_version":
            self.rules_version = payload["version"]
            return
        if kind == "signal_received":
            self.seen_signals.add(payload["signal_id"])
            return
        if kind == "case_opened":
            self._opened(payload, at)
            return
        case = self.cases.get(case_id) if case_id else None
        if case is None:
            return  # kinds without a case (route decisions, deliveries) change nothing here
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, case, payload, at)
            self._reschedule(case)

    def _opened(self, p: dict[str, Any], at: datetime) -> None:
        key = CaseKey(**p["key"])
        if key.registry is None and p["signal"].get("registry"):
            key = key._replace(registry=p["signal"]["registry"])  # logged before the key had it
        case = Case(
            case_id=p["case_id"], key=key, level=p["level"], route=p.get("route"),
            policy_name=p["policy_name"], policy=Policy.model_validate(p["policy"]),
            rules_version=p.get("rules_version"), opened_at=at,
            parent_case_id=p.get("parent_case_id"),
            signal_ids=[p["signal_id"]], signal=p["signal"], last_signal_at=at,
            reporting_period=p.get("reporting_period"),
        )
        self.cases[case.case_id] = case
        self.open_by_key[key] = case.case_id
        self.last_by_key[key] = case.case_id


def _recorded(book: CaseBook, case: Case, p: dict[str, Any], at: datetime) -> None:
    case.signal_ids.append(p["signal_id"])
    case.signal = p["signal"]
    case.last_signal_at = at


def _absorbed(book: CaseBook, case: Case, p: dict[str, Any], at: datetime) -> None:
    """A signal kept on a closed case (repeat interval, reporting period): noted, and its id
    kept, but the case stays closed and its last signal is still the one it closed on."""
    case.signal_ids.append(p["signal_id"])
    case.absorbed += 1


def _upgraded(book: CaseBook, case: Case, p: dict[str, Any], at: datetime) -> None:
    _recorded(book, case, p, at)
    case.level = p["level"]
    if not p.get("policy_unchanged"):
        case.route = p.get("route")
        case.policy_name = p["policy_name"]
        case.policy = Policy.model_validate(p["policy"])
        case.rules_version = p.get("rules_version")
        case.stage_index, case.deadline, case.reminders = -1, None, 0
        case.status = CaseStatus.OPEN
        case.monitoring_since = None


def _awaiting_signoff(book: CaseBook, case: Case, p: dict[str, Any], at: datetime) -> None:
    case.status = CaseStatus.AWAITING_SIGNOFF
    case.stage_index, case.deadline, case.reminders = p["stage_index"], None, 0


def _entered(book: CaseBook, case: Case, p: dict[str, Any], at: datetime) -> None:
    case.status = CaseStatus.OPEN
    case.stage_index, case.deadline, case.reminders = p["stage_index"], None, 0


def _deadline_set(book: CaseBook, case: Case, p: dict[str, Any], at: datetime) -> None:
    case.deadline = Deadline(parse_rfc3339(p["due_at"]), p["step"], p.get("respond_by"))


def _deadline_gone(book: CaseBook, case: Case, p: dict[str, Any], at: datetime) -> None:
    case.deadline = None


def _reminder(book: CaseBook, case: Case, p: dict[str, Any], at: datetime) -> None:
    case.reminders = p["number"]


def _stage_completed(book: CaseBook, case: Case, p: dict[str, Any], at: datetime) -> None:
    case.deadline = None
    case.stage_outcomes.append({"policy": case.policy_name, "stage": p["stage"],
                                "outcome": p["outcome"], "at": rfc3339(at)})


def _monitoring(book: CaseBook, case: Case, p: dict[str, Any], at: datetime) -> None:
    case.status = CaseStatus.MONITORING
    case.deadline = None
    case.monitoring_since = parse_rfc3339(p["since"]) if p.get("since") else at


def _notification(book: CaseBook, case: Case, p: dict[str, Any], at: datetime) -> None:
    case.notifications[p["key"]] = p["recipient"]


def _action(book: CaseBook, case: Case, p: dict[str, Any], at: datetime) -> None:
    record = {"action": p["action"], "by": p["by"], "at": rfc3339(at),
              "stage": p.get("stage"), "note": p.get("note")}
    case.actions.append(record)
    if p["action"] == "confirm":
        # A screening confirm says the potential alarm stands; the case stays preliminary
        # until the audit's review confirms it.
        stage = case.stage
        if stage is not None and stage.screening:
            case.screened = True
        else:
            case.confirmed = True
    elif p["action"] == "signoff":
        case.signoffs.append({"policy": p["policy"], "stage": p["stage"], "by": p["by"],
                              "at": rfc3339(at)})


def _closed(book: CaseBook, case: Case, p: dict[str, Any], at: datetime) -> None:
    case.status = CaseStatus.CLOSED
    case.deadline = None
    case.closed_reason, case.closed_at = p["reason"], at
    if book.open_by_key.get(case.key) == case.case_id:
        del book.open_by_key[case.key]


_HANDLERS = {
    "signal_recorded": _recorded,
    "signal_absorbed": _absorbed,
    "case_upgraded": _upgraded,
    "stage_awaiting_signoff": _awaiting_signoff,
    "stage_entered": _entered,
    "deadline_set": _deadline_set,
    "deadline_fired": _deadline_gone,
    "deadline_expired": _deadline_gone,
    "reminder": _reminder,
    "stage_completed": _stage_completed,
    "case_monitoring": _monitoring,
    "notification_requested": _notification,
    "action": _action,
    "case_closed": _closed,
}
