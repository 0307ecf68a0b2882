"""What the escalation engine decides, as events: the functional core of escalation.

Each decision takes the case book, the input (a signal, a point in time, a person's action)
and the time, and emits log events through a :class:`Transition`, which applies every event
to the book as it is emitted so that later steps of the same decision see the state the
earlier ones made. Nothing here touches the log, a clock or a network; the engine commits a
transition's events to the log in one batch.

Stage mechanics: entering a stage that needs sign-off parks the case (``awaiting_signoff``)
and sends nothing; entering a stage sends its template to its recipients and, if it expects
a response, sets a deadline in working days; a stage that expects nothing completes at
once and the next stage is entered. When every stage has run the case is ``monitoring``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from notifiers.cases import MAIN_LANE, Case, CaseBook, CaseKey, CaseStatus
from notifiers.log.chain import finite, json_ready
from notifiers.log.escalation_log import LogItem
from notifiers.log.kinds import LogKind
from notifiers.messages import NotificationFacts, aggregate, render
from notifiers.pack_source import PACK_TEMPLATES, PackSource, pack_record, pack_sentence
from notifiers.reporting_periods import period_of
from notifiers.rules import PROVIDER_ROLES, REGULATORS, DeadlineStep, Policy, Route, Rules, Stage
from notifiers.working_days import add_working_days, working_deadline
from signals.crossing import Level
from streams.contract.signal import InvalidSignal, Signal

ACTIONS = ("acknowledge", "respond", "confirm", "withdraw", "signoff", "note", "screen_out")
LEVEL_RANK = {"alert": 0, "alarm": 1}


class CaseActionError(Exception):
    """A person's action that the case cannot take now (the API answers 409)."""


@dataclass(slots=True)
class Transition:
    """The events of one decision, applied to the book as they are emitted.

    ``at`` is when the decision is made (the time logged); ``basis``, when given, is the
    logical time deadlines count from: a timer's due time, so that a late tick (after an
    outage, or replay ticking only at each signal) keeps the timeline it would have had."""

    book: CaseBook
    at: datetime
    fhir: bool = True
    basis: datetime | None = None
    events: list[LogItem] = field(default_factory=list)
    packs: PackSource | None = None
    """Look-back packs for the notices that carry one; ``None``: no source configured."""

    @property
    def timeline(self) -> datetime:
        return self.basis or self.at

    def emit(self, kind: LogKind, payload: dict[str, Any], case_id: str | None = None,
             entity_id: str | None = None) -> None:
        ready = json_ready(payload)
        self.book.apply(kind, ready, at=self.at, case_id=case_id)
        self.events.append(LogItem(kind, ready, self.at, case_id, entity_id))


@dataclass(frozen=True, slots=True)
class SignalOutcome:
    """What became of one signal: ``opened``, ``recorded``, ``absorbed`` (kept on a closed
    case), ``upgraded``, ``inhibited``, ``duplicate``, ``rejected`` or ``unrouted``; the
    cases it touched."""

    status: str
    case_ids: tuple[str, ...] = ()
    reason: str | None = None


def _case_id(signal_id: str, lane: str) -> str:
    """Deterministic, so replaying the same signals into a fresh log gives the same ids."""
    return "c-" + hashlib.sha256(f"{signal_id}|{lane}".encode()).hexdigest()[:16]


def receive_signal(t: Transition, rules: Rules,
                   signal: Signal | InvalidSignal) -> SignalOutcome:
    """Route one signal and open, upgrade, record on or inhibit its cases; a record that
    was not a signal (as read at the boundary) is logged ``signal_rejected``."""
    if isinstance(signal, InvalidSignal):
        t.emit(LogKind.SIGNAL_REJECTED, {"signal_id": signal.signal_id, "reason": signal.reason},
               entity_id=signal.entity_id)
        return SignalOutcome("rejected", reason=signal.reason)
    signal_id, entity_id = signal.signal_id, signal.entity_id
    if signal_id in t.book.seen_signals:
        t.emit(LogKind.SIGNAL_DUPLICATE, {"signal_id": signal_id}, entity_id=entity_id)
        return SignalOutcome("duplicate")
    routes = rules.route(signal)
    key = CaseKey(signal.metric, signal.entity_type, entity_id, signal.direction.value,
                  registry=signal.registry)
    main = t.book.open_case(key)
    # The signal belongs in the history of the case it opens, whose id is known already.
    about = main.case_id if main else (_case_id(signal_id, MAIN_LANE) if routes else None)
    t.emit(LogKind.SIGNAL_RECEIVED, {"signal_id": signal_id, "signal": finite(signal.to_dict())},
           case_id=about, entity_id=entity_id)
    t.emit(LogKind.ROUTE_DECISION, {
        "signal_id": signal_id, "rules_version": rules.version,
        "routes": [{"route": r.name, "policy": r.policy,
                    "lane": MAIN_LANE if i == 0 else _lane(r)} for i, r in enumerate(routes)],
    }, case_id=about, entity_id=entity_id)
    if not routes:
        return SignalOutcome("unrouted", reason="no route matched")
    if main is not None and main.level == "alarm" and signal.level is Level.ALERT:
        t.emit(LogKind.INHIBIT, {"signal_id": signal_id, "level": "alert",
                           "reason": "an alarm case is open for the same chart and entity"},
               case_id=main.case_id, entity_id=entity_id)
        return SignalOutcome("inhibited", (main.case_id,), "alarm case open")
    outcome, main_id = _follow(t, rules, routes[0], key, signal, None)
    touched = [main_id]
    for route in routes[1:]:
        _, companion = _follow(t, rules, route, key._replace(lane=_lane(route)), signal, main_id)
        touched.append(companion)
    return SignalOutcome(outcome, tuple(touched))


def _lane(route: Route) -> str:
    return f"also:{route.name or route.policy}"


def _follow(t: Transition, rules: Rules, route: Route, key: CaseKey,
            signal: Signal, parent: str | None) -> tuple[str, str]:
    signal_id, level = signal.signal_id, signal.level.value
    facts = {"signal_id": signal_id, "signal": aggregate(signal)}
    policy = rules.policies[route.policy]
    case = t.book.open_case(key)
    period = period_of(signal.occurred_at, rules.cases.reporting_period)
    if case is None:
        last = t.book.last_case(key)
        reason = _still_quiet(t, rules, policy, last, level, period) if last else None
        if last is not None and reason is not None:
            t.emit(LogKind.SIGNAL_ABSORBED, {"level": level, "reason": reason,
                                             "closed_at": last.closed_at, **facts},
                   case_id=last.case_id, entity_id=key.entity_id)
            return "absorbed", last.case_id
        case_id = _case_id(signal_id, key.lane)
        t.emit(LogKind.CASE_OPENED, {
            "case_id": case_id, "key": key._asdict(), "level": level, "route": route.name,
            "policy_name": route.policy, "policy": _snapshot(policy),
            "rules_version": rules.version, "parent_case_id": parent,
            "reporting_period": period, **facts,
        }, case_id=case_id, entity_id=key.entity_id)
        enter_stage(t, t.book.cases[case_id], 0)
        return "opened", case_id
    if case.level == "alert" and level == "alarm":
        unchanged = (route.policy == case.policy_name
                     and _snapshot(policy) == _snapshot(case.policy))
        t.emit(LogKind.CASE_UPGRADED, {
            "from_level": case.level, "level": level, "route": route.name,
            "policy_name": route.policy, "policy": _snapshot(policy),
            "rules_version": rules.version, "policy_unchanged": unchanged, **facts,
        }, case_id=case.case_id, entity_id=key.entity_id)
        if not unchanged:
            enter_stage(t, case, 0)
        return "upgraded", case.case_id
    t.emit(LogKind.SIGNAL_RECORDED, {"level": level, **facts}, case_id=case.case_id,
           entity_id=key.entity_id)
    return "recorded", case.case_id


def _still_quiet(t: Transition, rules: Rules, policy: Policy, last: Case, level: str,
                 period: str) -> str | None:
    """Why a signal for the key of the closed case ``last`` opens nothing, or ``None``.

    A higher level than the closed case's (an alarm after an alert) always opens a case.
    A ``once_per_reporting_period`` policy reports once per period; any other keeps the key
    quiet for the repeat interval after the closure, on the engine's clock."""
    if last.is_open or last.closed_at is None or LEVEL_RANK[level] > LEVEL_RANK[last.level]:
        return None
    if policy.once_per_reporting_period:
        if last.reporting_period == period:
            return f"reported once per reporting period; already in {period}"
        return None
    days = rules.cases.repeat_interval_working_days
    if days and t.at < working_deadline(last.closed_at, days):
        return (f"case closed ({last.closed_reason}) less than {days} working days ago "
                "(repeat interval)")
    return None


def _snapshot(policy: Policy) -> dict[str, Any]:
    return policy.model_dump(mode="json", by_alias=True)


def enter_stage(t: Transition, case: Case, index: int) -> None:
    """Run stage ``index`` of the case's policy (or finish the policy)."""
    stages = case.policy.stages
    if index >= len(stages):
        t.emit(LogKind.CASE_MONITORING, {"stages_run": len(stages), "since": t.timeline},
               case_id=case.case_id, entity_id=case.key.entity_id)
        return
    stage = stages[index]
    where = {"policy": case.policy_name, "stage": stage.name, "stage_index": index}
    if stage.requires_signoff and case.signoff_for(stage) is None:
        t.emit(LogKind.STAGE_AWAITING_SIGNOFF, where, case_id=case.case_id,
               entity_id=case.key.entity_id)
        return
    t.emit(LogKind.STAGE_ENTERED, where, case_id=case.case_id, entity_id=case.key.entity_id)
    respond_by = None
    if stage.expects_response:
        days = stage.respond_within_working_days or 0
        respond_by = add_working_days(t.timeline, days)
    for recipient in stage.notify:
        request(t, case, stage, recipient, stage.template, "stage",
                expects=stage.response_action if stage.expects_response else None,
                respond_by=respond_by)
    if stage.expects_response:
        _set_deadline(t, case, stage, t.timeline, stage.respond_within_working_days or 0, 0)
    else:
        complete_stage(t, case, "sent")


def complete_stage(t: Transition, case: Case, outcome: str) -> None:
    stage = case.stage
    assert stage is not None
    t.emit(LogKind.STAGE_COMPLETED, {"policy": case.policy_name, "stage": stage.name,
                               "stage_index": case.stage_index, "outcome": outcome},
           case_id=case.case_id, entity_id=case.key.entity_id)
    enter_stage(t, case, case.stage_index + 1)


def _set_deadline(t: Transition, case: Case, stage: Stage, start: datetime, days: int,
                  step: int) -> None:
    t.emit(LogKind.DEADLINE_SET, {
        "policy": case.policy_name, "stage": stage.name, "stage_index": case.stage_index,
        "due_at": working_deadline(start, days), "respond_by": add_working_days(start, days),
        "working_days": days, "step": step,
    }, case_id=case.case_id, entity_id=case.key.entity_id)


def _ods_codes(case: Case) -> list[str]:
    signal = case.signal
    codes = [case.key.entity_id] if case.key.entity_type == "provider" else []
    if signal.get("provider"):
        codes.append(str(signal["provider"]))
    codes.extend(signal.get("providers") or [])
    return list(dict.fromkeys(codes))


def request(t: Transition, case: Case, stage: Stage, recipient: str, template: str,
            purpose: str, *, expects: str | None = None, respond_by: date | None = None,
            reason: str | None = None, outcome: str | None = None) -> None:
    """Ask for one notification. The key makes it idempotent: asked once per case, policy,
    stage, recipient and purpose, whatever happens later."""
    key = f"{case.case_id}:{case.policy_name}:{stage.name}:{recipient}:{purpose}"
    if key in case.notifications:
        return
    signoff = case.signoff_for(stage)
    if recipient in REGULATORS and signoff is None:
        # Rules validation makes this unreachable; the check keeps the promise if it is not.
        raise AssertionError(f"{key}: a regulator notification without sign-off")
    pack = (pack_record(t.packs, case.case_id, case.signal) if template in PACK_TEMPLATES
            else None)
    facts = NotificationFacts(
        key=key, case_id=case.case_id, policy=case.policy_name, stage=stage.name,
        purpose=purpose, recipient=recipient, signal=case.signal, confirmed=case.confirmed,
        at=t.at, expects=expects, respond_by=respond_by,
        reminder_number=case.reminders + (purpose.startswith("reminder")),
        signed_off_by=signoff["by"] if signoff else None, reason=reason, stage_outcome=outcome,
        reporting_period=case.reporting_period, look_back=pack_sentence(pack),
    )
    message = render(template, facts, fhir=t.fhir)
    if pack is not None:
        message["body"]["look_back_pack"] = pack
    t.emit(LogKind.NOTIFICATION_REQUESTED, {
        "key": key, "recipient": recipient, "purpose": purpose, "policy": case.policy_name,
        "stage": stage.name, "template": template, "ods_codes": _ods_codes(case),
        "device_ids": [case.key.entity_id] if case.key.entity_type == "device" else [],
        "signoff": signoff, "message": message,
    }, case_id=case.case_id, entity_id=case.key.entity_id)


def fire_timer(t: Transition, case: Case, due_at: datetime) -> None:
    """A case's timer expired at ``due_at``: run the next deadline step or resolve it.

    New deadlines count from ``due_at``, not from when the tick ran, so a timeline is the
    same however coarsely time is ticked (replay ticks only at each signal)."""
    t.basis = due_at
    where = {"case_id": case.case_id, "entity_id": case.key.entity_id}
    if case.status is CaseStatus.MONITORING:
        t.emit(LogKind.CASE_CLOSED, {"reason": "resolved", "due_at": due_at}, **where)
        return
    stage, deadline = case.stage, case.deadline
    assert stage is not None and deadline is not None
    steps = stage.deadline_steps()
    base = {"policy": case.policy_name, "stage": stage.name, "stage_index": case.stage_index,
            "due_at": due_at, "step": deadline.step}
    if deadline.step >= len(steps):
        t.emit(LogKind.DEADLINE_EXPIRED, base, **where)
        return
    step = steps[deadline.step]
    t.emit(LogKind.DEADLINE_FIRED, {**base, "action": step.action}, **where)
    if step.action == "reminder":
        _remind(t, case, stage, step, due_at, deadline.step)
    elif step.action == "escalate":
        complete_stage(t, case, "no_response")
    else:
        for recipient in step.recipients(stage):
            request(t, case, stage, recipient, step.template_name() or "non_response",
                    "non_response")
        complete_stage(t, case, "non_response_notified")


def _remind(t: Transition, case: Case, stage: Stage, step: DeadlineStep, due_at: datetime,
            index: int) -> None:
    number = case.reminders + 1
    days = step.within_working_days or stage.respond_within_working_days or 0
    respond_by = add_working_days(due_at, days)
    for recipient in step.recipients(stage):
        request(t, case, stage, recipient, step.template_name() or "reminder",
                f"reminder-{number}", expects=stage.response_action, respond_by=respond_by)
    t.emit(LogKind.REMINDER, {"policy": case.policy_name, "stage": stage.name, "number": number},
           case_id=case.case_id, entity_id=case.key.entity_id)
    _set_deadline(t, case, stage, due_at, days, index + 1)


def confirmed_by(case: Case) -> set[str]:
    """The principals who confirmed ``case`` (the sign-off must be someone else's).

    >>> from types import SimpleNamespace
    >>> confirmed_by(SimpleNamespace(actions=[{"action": "confirm", "by": "Dr A"},
    ...                                       {"action": "note", "by": "Dr B"}]))
    {'Dr A'}
    """
    return {a["by"] for a in case.actions if a["action"] == "confirm"}


def take_action(t: Transition, case: Case, action: str, by: str, note: str | None = None,
                details: Mapping[str, Any] | None = None) -> None:
    """Record a person's action on a case and what follows from it.

    Raises :class:`CaseActionError` before emitting anything if the case cannot take it."""
    if action not in ACTIONS:
        raise CaseActionError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    if not by:
        raise CaseActionError("an action needs the name of who took it")
    if not case.is_open:
        raise CaseActionError(f"case {case.case_id} is closed ({case.closed_reason})")
    stage = case.stage
    awaited = (stage.response_action if stage is not None and stage.expects_response
               and case.status is CaseStatus.OPEN else None)
    if action == "confirm" and awaited != "confirm":
        raise CaseActionError("the case is not awaiting a confirm-or-withdraw decision")
    if action == "screen_out" and not (awaited == "confirm" and stage is not None
                                       and stage.screening):
        raise CaseActionError("the case is not in a screening stage")
    if action == "screen_out" and not (note or "").strip():
        raise CaseActionError("screening out needs the reason (--note)")
    if action == "signoff" and case.status is not CaseStatus.AWAITING_SIGNOFF:
        raise CaseActionError("the case is not awaiting sign-off")
    if action == "signoff" and by in confirmed_by(case):
        # Four eyes: whoever confirmed the outlier cannot also release the regulator letter.
        raise CaseActionError(f"four-eyes rule: {by} confirmed this case, so the sign-off "
                              "must come from another principal")
    t.emit(LogKind.ACTION, {
        "action": action, "by": by, "note": note, "details": dict(details or {}),
        "policy": case.policy_name, "stage": stage.name if stage else None,
        "stage_index": case.stage_index, "status": case.status.value,
    }, case_id=case.case_id, entity_id=case.key.entity_id)
    if action == "signoff":
        enter_stage(t, case, case.stage_index)
    elif action == awaited:
        complete_stage(t, case, action)
    elif action == "screen_out":
        # Nobody outside was written to: the case closes with the analyst's reason.
        t.emit(LogKind.CASE_CLOSED, {"reason": "screened_out", "by": by, "note": note},
               case_id=case.case_id, entity_id=case.key.entity_id)
    elif action == "withdraw":
        for role in ("provider", *PROVIDER_ROLES):  # whoever at the provider was written to
            if case.told(role) and stage is not None:
                request(t, case, stage, role, "withdrawn", "withdrawn", reason=note)
        t.emit(LogKind.CASE_CLOSED, {"reason": "withdrawn", "by": by, "note": note},
               case_id=case.case_id, entity_id=case.key.entity_id)

