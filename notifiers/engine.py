"""The escalation engine: feeds signals, time and people's actions through the decisions in
:mod:`notifiers.case_decisions` and commits what they decide to the escalation log.

State is the log. On start the engine rebuilds its case book by applying every log entry
(event sourcing): open cases, frozen policies, pending deadlines and the signal ids already
seen all come back after a restart, and a second writer (the ``vigil case`` CLI) is picked up
by :meth:`EscalationEngine.refresh`. Notifications are *requested* in the log here and sent
by :class:`notifiers.delivery.Dispatcher` (a transactional outbox), so deciding never waits
on a network.

Feeding it::

    engine = EscalationEngine(log, RulesHolder(path), clock=SystemClock())
    engine.receive(signal_dict)          # at = clock.now()
    engine.tick()                        # fire every deadline due by clock.now()
    engine.act(case_id, "signoff", by="Dr A. Lead")

Replay with simulated time passes the signal's own time and ticks before each signal::

    for signal in signals:
        at = parse_time(signal["occurred_at"])
        engine.tick(at)
        engine.receive(signal, at=at)
    engine.tick(end_of_replay)
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

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
from notifiers.log_protocol import EscalationLog, LogEntry
from notifiers.rules import Rules, RulesError, RulesHolder


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
    """

    def __init__(self, log: EscalationLog, rules: RulesHolder | Rules | None = None, *,
                 clock: Clock | None = None, fhir: bool = True) -> None:
        self.log = log
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
            return count

    def _rebuild(self) -> None:
        self.book = CaseBook()
        self.refresh()

    def _commit(self, t: Transition) -> list[LogEntry]:
        if not t.events:
            return []
        try:
            entries = self.log.append_many(t.events)
        except BaseException:
            self._rebuild()  # the book ran ahead of the log: put it back
            raise
        if entries and entries[0].seq != self.book.last_seq + 1:
            self._rebuild()  # someone else wrote in between; their facts must be applied
        elif entries:
            self.book.last_seq = entries[-1].seq
        return entries

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
        with self._lock:
            if self.book.rules_version == rules.version:
                return []
            t = Transition(self.book, self._now(None))
            t.emit("rules_version", {"version": rules.version, "source": source,
                                     "rules": rules.model_dump(mode="json", by_alias=True)})
            return self._commit(t)

    def reload_rules(self) -> RulesError | None:
        """Re-read the rules file. A bad file is logged (``rules_rejected``) and the running
        rules stay; a good one is logged as a new ``rules_version`` if its content changed.
        Open cases keep the policy frozen onto them."""
        if self._holder is None:
            return None
        error = self._holder.reload()
        with self._lock:
            if error is not None:
                t = Transition(self.book, self._now(None))
                t.emit("rules_rejected", {"source": str(self._holder.path),
                                          "errors": error.errors,
                                          "running_version": self._holder.version})
                self._commit(t)
                return error
            self._record_rules(self._holder.rules, str(self._holder.path))
            return None

    # -- inputs ----------------------------------------------------------------------

    def receive(self, signal: Mapping[str, Any], *, at: datetime | None = None) -> SignalOutcome:
        """Take one signal record (a dict as on the signals topic). Never raises for a bad
        signal: it is logged ``signal_rejected`` and the outcome says why."""
        with self._lock:
            self.refresh()
            t = Transition(self.book, self._now(at), fhir=self.fhir)
            outcome = receive_signal(t, self.rules, signal)
            self._commit(t)
            return outcome

    def receive_many(self, signals: Iterable[Mapping[str, Any]], *,
                     at: datetime | None = None) -> list[SignalOutcome]:
        return [self.receive(signal, at=at) for signal in signals]

    def tick(self, now: datetime | None = None) -> list[LogEntry]:
        """Fire every timer due at or before ``now`` (reminders, escalations, non-response
        notices, resolution of quiet cases), earliest first, one commit per timer."""
        with self._lock:
            self.refresh()
            moment = self._now(now)
            entries: list[LogEntry] = []
            while (due := self.book.pop_due(moment)) is not None:
                due_at, case = due
                t = Transition(self.book, moment, fhir=self.fhir)
                fire_timer(t, case, due_at)
                entries.extend(self._commit(t))
            return entries

    def act(self, case_id: str, action: str, *, by: str, at: datetime | None = None,
            note: str | None = None, details: Mapping[str, Any] | None = None
            ) -> list[LogEntry]:
        """A person's action: ``acknowledge``, ``respond``, ``confirm``, ``withdraw``,
        ``signoff`` or ``note``. Raises :class:`UnknownCase` or
        :class:`~notifiers.case_decisions.CaseActionError`."""
        with self._lock:
            self.refresh()
            case = self.case(case_id)
            t = Transition(self.book, self._now(at), fhir=self.fhir)
            take_action(t, case, action, by, note, details)
            return self._commit(t)

    # -- reading ---------------------------------------------------------------------

    def case(self, case_id: str) -> Case:
        found = self.book.cases.get(case_id)
        if found is None:
            raise UnknownCase(case_id)
        return found

    def cases(self, *, status: str | None = None, entity_id: str | None = None) -> list[Case]:
        found = [c for c in self.book.cases.values()
                 if (status is None or c.status == CaseStatus(status)
                     or (status == "active" and c.is_open))
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
