"""Escalation rules: which signals go to which policy, and what each policy's stages do.

Routing is data (Alertmanager style): an ordered list of routes, each a set of matchers on
signal fields naming a policy. The first matching route wins unless it says
``continue: true``, in which case matching goes on and the later match also applies. A policy
is a list of stages (who is told, with which template, whether a response is awaited, by when
in working days, and what happens at the deadline).

A rules file is validated whole before use; a bad file is rejected with the path of every
error (``rules.yaml: routes[2].match.level[0]: Input should be 'alert' or 'alarm'``) and a
:class:`RulesHolder` keeps the last good rules running.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from notifiers.reporting_periods import ReportingPeriod
from streams.contract.signal import Signal
from streams.contract.validation import error_messages

Recipient = Literal["provider", "lead_clinician", "medical_director", "chief_executive",
                    "cqc", "nhs_england", "commissioner", "mhra", "manufacturer", "operator"]
"""Roles a stage writes to. A provider's are split as HQIP's process splits them (the lead
clinician told first, the Medical Director copied, the Chief Executive at confirmation);
``provider`` is the provider as a whole, for rules written before the split. For a
clinician's case, the provider roles are those of the clinician's provider."""
PROVIDER_ROLES = ("lead_clinician", "medical_director", "chief_executive")
REGULATORS: frozenset[str] = frozenset({"cqc", "mhra", "nhs_england"})
"""Bodies no letter reaches without a person's sign-off of the stage."""
EntityType = Literal["provider", "clinician", "device", "segment", "national"]
DeadlineAction = Literal["reminder", "escalate", "notify_cqc_non_response",
                         "notify_non_response"]
ResponseAction = Literal["respond", "acknowledge", "confirm"]

DEFAULT_REPEAT_INTERVAL_WORKING_DAYS = 60
"""A closed case's key stays quiet this long (about three months) before a signal opens a
new case for it: a CUSUM that resets and alarms again within it is the same concern."""

_FROZEN = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _listed(value: Any) -> Any:
    """Matchers and recipients may be written as one value or a list of values."""
    return [value] if isinstance(value, str) else value


class Matcher(BaseModel):
    """Conditions on signal fields, all of which must hold; each accepts one value or a list.

    >>> from streams.contract.signal import Signal
    >>> signal = Signal(
    ...     signal_id="s1", registry="r", metric="death_30d", monitor="ra_cusum_or2",
    ...     monitor_kind="ra_cusum", entity_type="clinician", entity_id="7000201",
    ...     provider="RXF", direction="worse", level="alarm", statistic=4.61, threshold=4.5,
    ...     n=240, event_id="e1", episode_id="ep1", occurred_at="2026-05-11T16:18:00+00:00",
    ...     observed=9, expected=4.2)
    >>> m = Matcher(entity_type=["provider", "clinician"], level="alarm")
    >>> m.matches(signal)
    True
    >>> m.matches(signal.model_copy(update={"entity_type": "device"}))
    False
    """

    model_config = _FROZEN
    registry: tuple[str, ...] | None = None
    metric: tuple[str, ...] | None = None
    monitor: tuple[str, ...] | None = None
    monitor_kind: tuple[str, ...] | None = None
    provider: tuple[str, ...] | None = None
    entity_type: tuple[EntityType, ...] | None = None
    level: tuple[Literal["alert", "alarm"], ...] | None = None
    direction: tuple[Literal["worse", "better"], ...] | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _listed(value)

    def conditions(self) -> dict[str, tuple[str, ...]]:
        """The fields this matcher constrains, in declaration order."""
        return {k: v for k, v in self if v is not None}

    def matches(self, signal: Signal) -> bool:
        # Every matcher field is a Signal field; enums compare by their string value.
        return all(
            (value := getattr(signal, field)) is not None and str(value) in allowed
            for field, allowed in self.conditions().items()
        )


class Route(BaseModel):
    """Signals matching ``match`` go to ``policy``."""

    model_config = _FROZEN
    name: str | None = None
    match: Matcher = Matcher()
    policy: str
    continue_: bool = Field(False, alias="continue")


class DeadlineStep(BaseModel):
    """What happens when a stage's deadline passes with no response.

    ``reminder`` re-sends (``count`` times, each with a fresh deadline of
    ``within_working_days``, default the stage's own); ``escalate`` moves the case to the next
    stage; ``notify_cqc_non_response`` tells CQC (or ``notify``) that no response came, then
    moves on; ``notify_non_response`` does the same for those who are not regulators (the
    audit team by default), for processes such as a clinician's that never go to CQC. Steps
    run in order, one per expired deadline.
    """

    model_config = _FROZEN
    action: DeadlineAction
    count: int = Field(1, ge=1)
    within_working_days: int | None = Field(None, ge=1)
    notify: tuple[Recipient, ...] | None = None
    template: str | None = None

    @field_validator("notify", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _listed(value)

    def recipients(self, stage: Stage) -> tuple[str, ...]:
        """Who this step writes to: ``notify`` or, by default, the stage's non-regulators
        for a reminder and CQC for a non-response notice."""
        if self.notify is not None:
            return self.notify
        if self.action == "reminder":
            return tuple(r for r in stage.notify if r not in REGULATORS)
        if self.action == "notify_cqc_non_response":
            return ("cqc",)
        if self.action == "notify_non_response":
            return ("operator",)
        return ()

    def template_name(self) -> str | None:
        if self.template is not None:
            return self.template
        return {"reminder": "reminder", "notify_cqc_non_response": "non_response",
                "notify_non_response": "non_response"}.get(self.action)


class Stage(BaseModel):
    """One step of a policy. Entering it sends ``template`` to ``notify``."""

    model_config = _FROZEN
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    notify: tuple[Recipient, ...] = ()
    template: str
    expects_response: bool = False
    response_action: ResponseAction = "respond"
    respond_within_working_days: int | None = Field(None, ge=1)
    on_deadline: tuple[DeadlineStep, ...] = ()
    signoff_required: bool | None = None
    screening: bool = False
    """The registry's analysts check the data before anyone outside is written to: the stage
    ends with ``confirm`` (the potential alarm stands; the case goes on, still preliminary)
    or ``screen_out`` with a reason (the case closes, nobody outside was told)."""

    @field_validator("notify", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _listed(value)

    def all_recipients(self) -> set[str]:
        """Everyone this stage may write to, at entry or at a deadline."""
        found: set[str] = set(self.notify)
        for step in self.on_deadline:
            found.update(step.recipients(self))
        return found

    @property
    def requires_signoff(self) -> bool:
        """Sign-off defaults to required when a regulator is among the recipients."""
        if self.signoff_required is not None:
            return self.signoff_required
        return bool(self.all_recipients() & REGULATORS)

    def deadline_steps(self) -> list[DeadlineStep]:
        """``on_deadline`` with counts expanded: step ``i`` runs at the ``i``-th expiry."""
        return [step for step in self.on_deadline for _ in range(step.count)]


class Policy(BaseModel):
    """An escalation policy: stages run in order. Frozen onto a case when it opens."""

    model_config = _FROZEN
    description: str = ""
    stages: tuple[Stage, ...] = Field(min_length=1)
    resolve_after_working_days: int = Field(20, ge=1)
    once_per_reporting_period: bool = False
    """A key reports once in each reporting period: a signal in the period of the key's last
    case is recorded on that case, open or closed, and a new period opens a new case (this
    replaces the repeat interval for the policy)."""


class CaseSettings(BaseModel):
    """How signals group into cases, whatever the policy.

    ``repeat_interval_working_days``: once a case has closed, a signal for the same key
    (registry, metric, entity, direction, lane) at no higher level is recorded on the closed
    case, opening nothing and sending nothing, until this many working days have passed
    since the closure (Alertmanager's ``repeat_interval``, counted from the closure rather
    than from the last signal, so a chart that keeps alarming still gets a new case). It is
    measured on the engine's clock, the clock that closed the case; replay runs that clock
    on event time. ``0`` turns it off. ``reporting_period`` is the period of
    ``once_per_reporting_period`` policies, taken from the signal's event time.
    """

    model_config = _FROZEN
    repeat_interval_working_days: int = Field(DEFAULT_REPEAT_INTERVAL_WORKING_DAYS, ge=0)
    reporting_period: ReportingPeriod = "financial_year"


class Rules(BaseModel):
    """A whole rules file."""

    model_config = _FROZEN
    policies: dict[str, Policy]
    routes: tuple[Route, ...] = Field(min_length=1)
    cases: CaseSettings = CaseSettings()

    def canonical(self) -> bytes:
        data = self.model_dump(mode="json", by_alias=True)
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()

    @cached_property
    def version(self) -> str:
        """sha256 of the canonical content: comments and layout do not change it (computed
        once: the rules are frozen, and routing asks for it on every signal)."""
        return hashlib.sha256(self.canonical()).hexdigest()

    def route(self, signal: Signal) -> list[Route]:
        """Matching routes, the one that owns the case first.

        Matching stops at the first route without ``continue: true``. That route owns the
        case; routes passed on the way with ``continue: true`` are companions. If every
        match said ``continue``, the last one owns the case.
        """
        matched: list[Route] = []
        for route in self.routes:
            if route.match.matches(signal):
                matched.append(route)
                if not route.continue_:
                    break
        return [matched[-1], *matched[:-1]] if matched else []


class RulesError(Exception):
    """A rules file that cannot be used; ``errors`` holds one ``file: path: message`` each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def _cross_references(rules: Rules, templates: Iterable[str] | None) -> list[str]:
    known = set(templates) if templates is not None else None
    errors = []
    for i, route in enumerate(rules.routes):
        if route.policy not in rules.policies:
            errors.append(f"routes[{i}].policy: unknown policy {route.policy!r}")
    for name, policy in rules.policies.items():
        seen: set[str] = set()
        for j, stage in enumerate(policy.stages):
            where = f"policies.{name}.stages[{j}]"
            if stage.name in seen:
                errors.append(f"{where}.name: duplicate stage name {stage.name!r}")
            seen.add(stage.name)
            if stage.expects_response and stage.respond_within_working_days is None:
                errors.append(f"{where}.respond_within_working_days: required when "
                              "expects_response is true")
            if stage.on_deadline and not stage.expects_response:
                errors.append(f"{where}.on_deadline: only a stage that expects a response "
                              "has a deadline")
            if stage.screening and not (stage.expects_response
                                        and stage.response_action == "confirm"):
                errors.append(f"{where}.screening: a screening stage expects a response with "
                              "response_action confirm")
            if stage.screening and set(stage.all_recipients()) - {"operator"}:
                errors.append(f"{where}.screening: a screening stage writes to the operator "
                              "only (nobody outside before the data are checked)")
            if stage.signoff_required is False and stage.all_recipients() & REGULATORS:
                errors.append(f"{where}.signoff_required: a stage that writes to a regulator "
                              f"({', '.join(sorted(REGULATORS))}) must require sign-off")
            names = [(f"{where}.template", stage.template)] + [
                (f"{where}.on_deadline[{k}].template", step.template_name())
                for k, step in enumerate(stage.on_deadline)
            ]
            for at, template in names:
                if known is not None and template is not None and template not in known:
                    errors.append(f"{at}: unknown template {template!r}")
    return errors


def parse_rules(data: Any, source: str = "<rules>",
                templates: Iterable[str] | None = None) -> Rules:
    """Validate parsed YAML into :class:`Rules`, or raise :class:`RulesError` listing every
    problem with its path. ``templates`` (the known template names) enables that check."""
    if not isinstance(data, Mapping):
        raise RulesError([f"{source}: the file must be a mapping with policies and routes"])
    try:
        rules = Rules.model_validate(data)
    except ValidationError as error:
        # An error about the whole file keeps an empty path ("source: : message").
        raise RulesError([f"{source}: {line}" for line in
                          error_messages(error, strip_value_error=False, top="")]) from None
    errors = _cross_references(rules, templates)
    if errors:
        raise RulesError([f"{source}: {e}" for e in errors])
    return rules


def load_rules(path: str | Path, templates: Iterable[str] | None = None) -> Rules:
    """Read and validate a rules YAML file (template names checked against the bundled
    templates unless ``templates`` is given)."""
    path = Path(path)
    if templates is None:
        from notifiers.messages import template_names

        templates = template_names()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise RulesError([f"{path}: cannot read: {error.strerror}"]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise RulesError([f"{path.name}{where}: not valid YAML: "
                          f"{getattr(error, 'problem', None) or error}"]) from None
    return parse_rules(data, path.name, templates)


def default_rules_path() -> Path:
    """The bundled rules: HQIP staged process for provider alarms and the other models."""
    return Path(str(resources.files("notifiers") / "default_rules.yaml"))


class RulesHolder:
    """The rules in force. A reload that fails keeps the last good rules.

    >>> holder = RulesHolder(default_rules_path())
    >>> len(holder.version)
    64
    """

    def __init__(self, path: str | Path | None = None, rules: Rules | None = None) -> None:
        if (path is None) == (rules is None):
            raise ValueError("give a rules path or a Rules object")
        self.path = Path(path) if path is not None else None
        self.rules: Rules = rules if rules is not None else load_rules(self.path)  # type: ignore[arg-type]
        self.last_error: RulesError | None = None

    @property
    def version(self) -> str:
        return self.rules.version

    def reload(self) -> RulesError | None:
        """Read the file again; on error keep the running rules and return the error."""
        if self.path is None:
            return None
        try:
            self.rules = load_rules(self.path)
        except RulesError as error:
            self.last_error = error
            return error
        self.last_error = None
        return None
