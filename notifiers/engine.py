"""The escalation engine: feeds signals, time and people's actions through the decisions in
:mod:`notifiers.case_decisions` and commits what they decide to the escalation log.

State is the log. On start the engine rebuilds its case book by applying every log entry
(event sourcing): open cases, frozen policies, pending deadlines and the signal ids already
seen all come back after a restart, and a second writer (the ``vigil case`` CLI) is picked up
by :meth:`EscalationEngine.refresh`. Notifications are *requested* in the log here and sent
by :class:`notifiers.delivery.Dispatcher` (a transactional outbox), so deciding never waits
on a network.

Several writers on one log (workers sharing PostgreSQL, the CLI, the HTTP API) cannot fork a
decision: each decision is appended with ``expected_seq``, the head it was decided on. If
another writer got in first and what it wrote bears on the decision (an entry that changes
cases, about the same entity, or about none), the engine rebuilds its book and decides
again; if it does not (a delivery result, another entity's case), the decision stands and
goes in after it.

Feeding it::

    engine = EscalationEngine(log, RulesHolder(path), clock=SystemClock())
    engine.receive(Signal.parse(record)) # at = clock.now()
    engine.tick()                        # fire every deadline due by clock.now()
    engine.act(case_id, "signoff", by="Dr A. Lead")

Replay with simulated time passes the signal's own time and ticks before each signal::

    for signal in signals:
        at = signal.occurred_at
        engine.tick(at)
        engine.receive(signal, at=at)
    engine.tick(end_of_replay)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from notifiers.case_decisions import (
    CaseActionError,
    SignalOutcome,
    Transition,
    fire_timer,
    receive_signal,
    take_action,
)
from notifiers.cases import Case, CaseBook, CaseStatus
from notifiers.clock import Clock, SystemClock
from notifiers.log.escalation_log import EscalationLog, LogEntry, StaleHead
from notifiers.log.kinds import LogKind
from notifiers.metrics import publish_case_workload
from notifiers.pack_source import PackSource
from notifiers.rules import Rules, RulesError, RulesHolder
from streams.contract.signal import InvalidSignal, Signal

R = TypeVar("R")

DECISION_ATTEMPTS = 8
"""How often one decision is taken again after losing a race before :class:`StaleHead`
reaches the caller (each retry starts from a book rebuilt from the log)."""


class UnknownCase(KeyError):
    """No case with that id (the API answers 404)."""


class EscalationEngine:
    """Cases, deadlines and routing over one escalation log.

    Parameters
    ----------
    log
        Where every decision goes and where state is rebuilt from.
    rules
        The rules in force (a :class:`RulesHolder` to allow reloads). ``None`` is enough for
        acting on existing cases (the CLI), since each case carries its frozen policy.
    clock
        Default time for calls without ``at``; a :class:`~notifiers.clock.ManualClock` in
        tests.
    fhir
        Add a FHIR R4 ``Communication`` to each requested notification.
    packs
        Where preliminary notices get their look-back pack (``notifiers.pack_source``);
        without one the notice says none is attached.
    """

    def __init__(self, log: EscalationLog, rules: RulesHolder | Rules | None = None, *,
                 clock: Clock | None = None, fhir: bool = True,
                 packs: PackSource | None = None) -> None:
        self.log = log
        self.packs = packs
        self.clock = clock or SystemClock()
        self.fhir = fhir
        self._holder = (rules if isinstance(rules, RulesHolder) or rules is None
                        else RulesHolder(rules=rules))
        self._lock = threading.RLock()
        self.book = CaseBook()
        self.refresh()
        if self._holder is not None:
            self._record_rules(self._holder.rules, source=str(self._holder.path or "<object>"))

    # -- state -----------------------------------------------------------------------

    def refresh(self) -> int:
        """Apply log entries written since the last look (by this or another writer)."""
        with self._lock:
            count = 0
            for entry in self.log.entries(since_seq=self.book.last_seq):
                self.book.apply(entry.kind, entry.payload, at=entry.at,
                                case_id=entry.case_id, seq=entry.seq)
                count += 1
            if count:
                publish_case_workload(self.book, self.clock.now())
            return count

    def _rebuild(self) -> None:
        self.book = CaseBook()
        self.refresh()

    def _decide(self, at: datetime, decide: Callable[[Transition], R]) -> tuple[R, list[LogEntry]]:
        """Take one decision on fresh state and append its events at the head it saw."""
        for _ in range(DECISION_ATTEMPTS):
            self.refresh()
            base = self.book.last_seq
            t = Transition(self.book, at, fhir=self.fhir, packs=self.packs)
            try:
                result = decide(t)
            except BaseException:
                if t.events:
                    self._rebuild()  # half a decision was applied to the book: undo it
                raise
            entries = self._commit(t, base)
            if entries is not None:
                if entries:
                    publish_case_workload(self.book, at)
                return result, entries
        raise StaleHead(base, self.book.last_seq)

    def _commit(self, t: Transition, base: int) -> list[LogEntry] | None:
        """Append ``t``'s events after entry ``base``; ``None`` when another writer's entries
        bear on the decision (the book is rebuilt from the log, to decide again)."""
        if not t.events:
            return []
        touched = {item.entity_id for item in t.events}
        expected = base
        while True:
            try:
                entries = self.log.append_many(t.events, expected_seq=expected)
            except StaleHead:
                newer = list(self.log.entries(since_seq=expected))
                if not newer or any(self._bears_on(e, touched) for e in newer):
                    self._rebuild()
                    return None
                for entry in newer:  # about other entities: they commute with this decision
                    self.book.apply(entry.kind, entry.payload, at=entry.at,
                                    case_id=entry.case_id, seq=entry.seq)
                expected = newer[-1].seq
                continue
            except BaseException:
                self._rebuild()  # the book ran ahead of the log: put it back
                raise
            self.book.last_seq = entries[-1].seq
            return entries

    @staticmethod
    def _bears_on(entry: LogEntry, touched: set[str | None]) -> bool:
        if not CaseBook.changes_state(entry.kind):
            return False
        return entry.entity_id is None or None in touched or entry.entity_id in touched

    def _now(self, at: datetime | None) -> datetime:
        moment = at if at is not None else self.clock.now()
        if moment.tzinfo is None:
            raise ValueError("naive datetime: give a tz-aware time")
        return moment

    # -- rules -----------------------------------------------------------------------

    @property
    def rules(self) -> Rules:
        if self._holder is None:
            raise RuntimeError("this engine was started without rules")
        return self._holder.rules

    def _record_rules(self, rules: Rules, source: str) -> list[LogEntry]:
        def decide(t: Transition) -> None:
            if t.book.rules_version != rules.version:
                t.emit(LogKind.RULES_VERSION, {"version": rules.version, "source": source,
                                         "rules": rules.model_dump(mode="json", by_alias=True)})

        with self._lock:
            return self._decide(self._now(None), decide)[1]

    def reload_rules(self) -> RulesError | None:
        """Re-read the rules file. A bad file is logged (``rules_rejected``) and the running
        rules stay; a good one is logged as a new ``rules_version`` if its content changed.
        Open cases keep the policy frozen onto them."""
        if self._holder is None:
            return None
        error = self._holder.reload()
        with self._lock:
            if error is not None:
                rejected = {"source": str(self._holder.path), "errors": error.errors,
                            "running_version": self._holder.version}
                self._decide(self._now(None), lambda t: t.emit(LogKind.RULES_REJECTED, rejected))
                return error
            self._record_rules(self._holder.rules, str(self._holder.path))
            return None

    # -- inputs ----------------------------------------------------------------------

    def receive(self, signal: Signal | InvalidSignal, *,
                at: datetime | None = None) -> SignalOutcome:
        """Take one signal, as read at the boundary (:func:`streams.contract.signal.read_signal`
        on a topic value or a ``signals.jsonl`` line). A record that was not a signal is
        logged ``signal_rejected`` and the outcome says why: it never raises for one."""
        with self._lock:
            rules = self.rules
            return self._decide(self._now(at), lambda t: receive_signal(t, rules, signal))[0]

    def receive_many(self, signals: Iterable[Signal | InvalidSignal], *,
                     at: datetime | None = None) -> list[SignalOutcome]:
        return [self.receive(signal, at=at) for signal in signals]

    def tick(self, now: datetime | None = None) -> list[LogEntry]:
        """Fire every timer due at or before ``now`` (reminders, escalations, non-response
        notices, resolution of quiet cases), earliest first, one commit per timer."""
        def fire_next(t: Transition) -> bool:
            due = t.book.pop_due(moment)
            if due is None:
                return False
            fire_timer(t, due[1], due[0])
            return True

        with self._lock:
            moment = self._now(now)
            entries: list[LogEntry] = []
            while True:
                fired, committed = self._decide(moment, fire_next)
                if not fired:
                    return entries
                entries.extend(committed)

    def act(self, case_id: str, action: str, *, by: str, at: datetime | None = None,
            note: str | None = None, details: Mapping[str, Any] | None = None
            ) -> list[LogEntry]:
        """A person's action: ``acknowledge``, ``respond``, ``confirm``, ``withdraw``,
        ``signoff`` or ``note``. Raises :class:`UnknownCase` or
        :class:`~notifiers.case_decisions.CaseActionError`."""
        with self._lock:
            return self._decide(self._now(at), lambda t: take_action(
                t, self.case(case_id), action, by, note, details))[1]

    # -- reading ---------------------------------------------------------------------

    def case(self, case_id: str) -> Case:
        found = self.book.cases.get(case_id)
        if found is None:
            raise UnknownCase(case_id)
        return found

    def cases(self, *, status: str | None = None, entity_id: str | None = None) -> list[Case]:
        """Cases by ``status`` (a :class:`CaseStatus` value, or ``active``: not closed)."""
        wanted = None if status in (None, "active") else CaseStatus(status)
        found = [c for c in self.book.cases.values()
                 if (status is None or (c.is_open if wanted is None else c.status == wanted))
                 and (entity_id is None or c.key.entity_id == entity_id)]
        return sorted(found, key=lambda c: (c.opened_at, c.case_id))

    def history(self, case_id: str) -> list[LogEntry]:
        """Every log entry about a case, in order."""
        self.case(case_id)
        return list(self.log.entries(case_id=case_id))

    def next_timer(self) -> datetime | None:
        """When :meth:`tick` next has something to do (for a service's sleep)."""
        with self._lock:
            return self.book.next_timer()


__all__ = ["CaseActionError", "EscalationEngine", "SignalOutcome", "UnknownCase"]
