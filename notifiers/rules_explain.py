"""The escalation rules as readable Markdown, for safety teams and providers.

Generated from the loaded rules model, never written by hand, so the published description
cannot drift from what runs; it names the rules version it describes.
"""

from __future__ import annotations

from notifiers.rules import DeadlineStep, Matcher, Policy, Route, Rules, Stage

WHO = {
    "provider": "the provider",
    "lead_clinician": "the lead clinician",
    "medical_director": "the Medical Director",
    "chief_executive": "the Chief Executive",
    "cqc": "CQC",
    "nhs_england": "NHS England",
    "mhra": "MHRA",
    "manufacturer": "the manufacturer",
    "operator": "the audit team",
    "commissioner": "the commissioner",
}
ASKED = {
    "respond": "a written response: data errors or an explanation",
    "acknowledge": "acknowledgement and confirmation of a local review",
    "confirm": "the audit's decision: confirm or withdraw",
}
SCREENING = ("the analysts' check of the data: confirm (the next stage follows) or screen "
             "out with a reason (the case closes)")
FIELD_NAMES = {"monitor_kind": "monitor kind", "entity_type": "entity type"}
PERIODS = {"month": "calendar month", "quarter": "financial quarter",
           "financial_year": "financial year (April to March)", "calendar_year": "calendar year"}


def _who(recipients: tuple[str, ...] | list[str]) -> str:
    return ", ".join(WHO.get(r, r) for r in recipients) or "nobody"


def _condition(match: Matcher) -> str:
    parts = [f"{FIELD_NAMES.get(field, field)} {'=' if len(values) == 1 else 'in'} "
             f"{' / '.join(values)}" for field, values in match.conditions().items()]
    return " and ".join(parts) or "any signal"


def _route_row(number: int, route: Route) -> str:
    cont = " (and continue)" if route.continue_ else ""
    return (f"| {number} | {route.name or '-'} | {_condition(route.match)} | "
            f"`{route.policy}`{cont} |")


def _step(step: DeadlineStep, stage: Stage) -> str:
    who = _who(step.recipients(stage))
    if step.action == "reminder":
        days = step.within_working_days or stage.respond_within_working_days
        if step.count == 1:
            return f"a reminder to {who}, allowing {days} more working days"
        return f"{step.count} reminders to {who}, each allowing {days} more working days"
    if step.action == "escalate":
        return "move to the next stage"
    return f"non-response notified to {who}, then the next stage"


def _stage_row(number: int, stage: Stage) -> str:
    asked = (SCREENING if stage.screening else
             ASKED[stage.response_action] if stage.expects_response else "nothing")
    within = (f"{stage.respond_within_working_days} working days"
              if stage.expects_response else "-")
    steps = "; then ".join(_step(s, stage) for s in stage.on_deadline) or "-"
    signoff = "required before anything is sent" if stage.requires_signoff else "-"
    return (f"| {number}. {stage.name} | {_who(stage.notify)} | `{stage.template}` | {asked} | "
            f"{within} | {steps} | {signoff} |")


def _policy(name: str, policy: Policy, rules: Rules) -> list[str]:
    lines = [f"### `{name}`", ""]
    if policy.description:
        lines += [policy.description.strip(), ""]
    lines += [
        "| stage | who is told | letter | what is asked | within | if no response | sign-off |",
        "|---|---|---|---|---|---|---|",
        *(_stage_row(i, s) for i, s in enumerate(policy.stages, start=1)),
        "",
        f"Once every stage has run, the case stays open for new signals and closes after "
        f"{policy.resolve_after_working_days} working days without one.",
        "",
    ]
    if policy.once_per_reporting_period:
        lines += [
            f"Reported once per reporting period ({PERIODS[rules.cases.reporting_period]}, "
            "by the signal's event time): a signal in the period of the last case for the "
            "same key is recorded on that case, open or closed, and a new period opens a new "
            "case (the repeat interval does not apply).",
            "",
        ]
    return lines


def _grouping(rules: Rules) -> list[str]:
    days = rules.cases.repeat_interval_working_days
    repeat = (
        f"Once a case has closed, a signal for the same key at no higher level is recorded on "
        f"the closed case and nothing is sent until {days} working days have passed since "
        "the closure (the repeat interval, on the engine's clock, which replay runs on event "
        "time); an alarm after a closed alert case opens a new case at once."
        if days else "A closed case does not hold its key: the next signal opens a new case.")
    return [
        "One case is open at a time per registry, metric, entity and direction. A new signal "
        "on an open case (a re-alarm after the chart reset included) is recorded on it and "
        "nothing is sent. An alarm on an open alert case moves the case to the alarm's "
        "policy. An alert while an alarm case is open is recorded as inhibited and nothing is "
        "sent. " + repeat + " The policy is frozen onto the case when it opens: later rule "
        "changes do not alter cases already open.",
        "",
    ]


def explain(rules: Rules, source: str | None = None) -> str:
    """The Markdown document.

    >>> from notifiers.rules import load_rules, default_rules_path
    >>> text = explain(load_rules(default_rules_path()))
    >>> "| 1. screening | the audit team |" in text
    True
    """
    lines = [
        "# Escalation rules",
        "",
        f"Rules version `{rules.version}`" + (f" from `{source}`" if source else "") + ".",
        "This document is generated from the rules that run; it is not edited by hand.",
        "Working days exclude weekends and England & Wales bank holidays.",
        "",
        "## How a signal is routed",
        "",
        "Routes are tried in order. The first route that matches decides the policy that the "
        "case follows; a route marked *and continue* lets later routes match as well, and each "
        "of those runs alongside as a companion case.",
        "",
        "| # | route | when the signal has | policy |",
        "|---|---|---|---|",
        *(_route_row(i, r) for i, r in enumerate(rules.routes, start=1)),
        "",
        *_grouping(rules),
        "The lead clinician, Medical Director and Chief Executive are those of the provider "
        "the case is about; for a clinician, of the clinician's trust (the signal's "
        "provider); for a device, of each provider using it. Each role's address is in the "
        "recipients directory.",
        "",
        "Nothing reaches CQC, NHS England or the MHRA before a named person has signed off "
        "the stage; the escalation log records who and when.",
        "",
        "## Policies",
        "",
    ]
    for name, policy in rules.policies.items():
        lines += _policy(name, policy, rules)
    return "\n".join(lines).rstrip() + "\n"
