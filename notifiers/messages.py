"""What a notification says: a plain-language letter and a machine-readable body.

Both are built only from a signal's aggregate fields (chart statistic, counts, observed and
expected) and the case; patient-level fields of a signal (``event_id``, ``episode_id``,
``details``) never reach a message. Templates are ``string.Template`` text files in
``notifiers/templates/`` whose first line is ``Subject: ...``.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from notifiers.fhir import communication
from notifiers.funnel_position import funnel_position
from notifiers.notification_facts import NotificationFacts
from streams.contract.signal import Signal

SCHEMA = "vigil.notification/1"
AGGREGATE_FIELDS = (
    "signal_id", "registry", "metric", "monitor", "monitor_kind", "entity_type", "entity_id",
    "provider", "direction", "level", "statistic", "threshold", "n", "observed", "expected",
    "occurred_at", "risk_model_version",
)


def aggregate(signal: Signal) -> dict[str, Any]:
    """The fields of a signal a message may use: aggregates only, as JSON values.

    Non-finite numbers become ``None`` (JSON has no NaN); a device signal's
    ``details.providers`` (ODS codes of providers using the device) is kept as ``providers``
    and its ``details.manufacturer`` (the maker's name) as ``manufacturer``.

    >>> signal = Signal(
    ...     signal_id="s1", registry="r", metric="implant_failure", monitor="poisson_cusum",
    ...     monitor_kind="poisson_cusum", entity_type="device", entity_id="05012345678900",
    ...     provider="RXF", direction="worse", level="alarm", statistic=float("nan"),
    ...     threshold=5.0, n=12, event_id="e1", episode_id="ep1",
    ...     occurred_at="2026-05-11T16:18:00+00:00", observed=4, expected=1.5,
    ...     details={"providers": ["RXF"], "patients": [1], "manufacturer": "Example Ltd"})
    >>> facts = aggregate(signal)
    >>> facts["statistic"], facts["providers"], "event_id" in facts, "details" in facts
    (None, ['RXF'], False, False)
    >>> facts["manufacturer"]
    'Example Ltd'

    """
    record = signal.to_dict()
    out: dict[str, Any] = {}
    for field in AGGREGATE_FIELDS:
        if field in record:
            value = record[field]
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            out[field] = value
    details = signal.details
    if isinstance(details, Mapping) and isinstance(details.get("providers"), list):
        out["providers"] = [str(code) for code in details["providers"]]
    if isinstance(details, Mapping) and isinstance(details.get("manufacturer"), str):
        out["manufacturer"] = details["manufacturer"]
    return out


ROLE_TITLES = {
    "provider": "The provider", "lead_clinician": "Lead clinician",
    "medical_director": "Medical Director", "chief_executive": "Chief Executive",
    "cqc": "Care Quality Commission", "nhs_england": "NHS England",
    "commissioner": "Commissioner", "mhra": "MHRA", "manufacturer": "Manufacturer",
    "operator": "The audit team",
}
_AT_PROVIDER = frozenset({"provider", "lead_clinician", "medical_director", "chief_executive"})


def addressee(recipient: str, signal: Mapping[str, Any]) -> str:
    """Who a letter is for: the role and, for a provider's roles, which provider (a
    clinician's own trust; for a device, each provider using it).

    >>> print(addressee("medical_director", {"entity_type": "clinician", "provider": "RXF"}))
    Medical Director, RXF (the clinician's trust)
    >>> addressee("lead_clinician", {"entity_type": "device", "providers": ["RXF"]})
    'Lead clinician, each provider using the device'
    >>> addressee("cqc", {"entity_type": "provider", "entity_id": "RXF"})
    'Care Quality Commission'
    """
    title = ROLE_TITLES.get(recipient, recipient)
    if recipient not in _AT_PROVIDER:
        return title
    kind = signal.get("entity_type")
    if kind == "provider":
        return f"{title}, {signal.get('entity_id')}"
    if kind == "clinician":
        return f"{title}, {signal.get('provider') or 'provider not given'} (the clinician's trust)"
    if kind == "device":
        return f"{title}, each provider using the device"
    return title


_ASKED = {
    "respond": "Please check the data and reply with any data errors or an explanation",
    "acknowledge": "Please acknowledge this letter and confirm that a local review is under way",
    "confirm": "Please review the data and the provider's response, then confirm or withdraw "
               "the alarm",
}


def asked_text(expects: str | None, respond_by: date | None) -> str:
    """What the recipient is asked to do, and by when.

    >>> print(asked_text("acknowledge", date(2027, 1, 21)))  # doctest: +NORMALIZE_WHITESPACE
    Please acknowledge this letter and confirm that a local review is under way
    by Thursday 21 January 2027.
    >>> asked_text(None, None)
    'No response is needed.'
    """
    if expects is None:
        return "No response is needed."
    when = f" by {_day(respond_by)}" if respond_by else ""
    return f"{_ASKED[expects]}{when}."


def letter_date(day: date) -> str:
    """A date as every letter prints it (and the dashboard shows deadlines).

    >>> letter_date(date(2027, 1, 21))
    'Thursday 21 January 2027'
    """
    return f"{day:%A} {day.day} {day:%B %Y}"


_day = letter_date


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{round(value, digits):g}"
    return str(value)


def _variables(facts: NotificationFacts) -> dict[str, str]:
    s = facts.signal
    observed, expected = s.get("observed"), s.get("expected")
    ratio = (observed / expected if isinstance(observed, int | float)
             and isinstance(expected, int | float) and expected else None)
    direction: Any = s.get("direction")  # any value; unknown ones read "different"
    entity = f"{s.get('entity_type', 'entity')} {s.get('entity_id', '?')}"
    status_word = "confirmed" if facts.confirmed else "preliminary"
    status = ("CONFIRMED after review by the audit." if facts.confirmed else
              "PRELIMINARY: based on data not yet validated by the provider.")
    values = {field: _number(s.get(field)) for field in AGGREGATE_FIELDS}
    values.update(
        entity=entity, ratio=_number(ratio, 2), status=status, status_word=status_word,
        direction_text={"worse": "worse than expected",
                        "better": "better than expected"}.get(direction, "different from expected"),
        asked=asked_text(facts.expects, facts.respond_by),
        respond_by=_day(facts.respond_by) if facts.respond_by else "no deadline",
        case_id=facts.case_id, stage=facts.stage, policy=facts.policy,
        reminder_number=str(facts.reminder_number),
        signed_off_by=facts.signed_off_by or "not signed off",
        reason=facts.reason or "not given",
        stage_outcome=facts.stage_outcome or "completed",
        reporting_period=facts.reporting_period or "not recorded",
        addressee=addressee(facts.recipient, s),
        manufacturer=str(s.get("manufacturer") or "not named in the signal (see the "
                         "registry's device record)"),
        funnel_position=funnel_position(observed, expected),
        look_back=facts.look_back or "",
    )
    return values


@cache
def template_names() -> frozenset[str]:
    """The bundled templates."""
    folder = resources.files("notifiers") / "templates"
    return frozenset(p.name.removesuffix(".txt") for p in folder.iterdir()
                     if p.name.endswith(".txt"))


@cache
def _template(name: str) -> tuple[string.Template, string.Template]:
    text = (resources.files("notifiers") / "templates" / f"{name}.txt").read_text("utf-8")
    first, _, rest = text.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"template {name}: the first line must be 'Subject: ...'")
    return string.Template(first.removeprefix("Subject: ")), string.Template(rest.strip() + "\n")


def body(facts: NotificationFacts) -> dict[str, Any]:
    """The machine-readable JSON body."""
    return {
        "schema": SCHEMA,
        "key": facts.key,
        "case_id": facts.case_id,
        "policy": facts.policy,
        "stage": facts.stage,
        "purpose": facts.purpose,
        "recipient": facts.recipient,
        "status": "confirmed" if facts.confirmed else "preliminary",
        "asked": facts.expects,
        "respond_by": facts.respond_by.isoformat() if facts.respond_by else None,
        "signed_off_by": facts.signed_off_by,
        "signal": dict(facts.signal),
    }


def render(template: str, facts: NotificationFacts, *, fhir: bool = True) -> dict[str, Any]:
    """Subject, text, JSON body and (optionally) a FHIR R4 ``Communication``.

    >>> from datetime import datetime
    >>> facts = NotificationFacts(
    ...     key="c1:p:s:provider:stage", case_id="c1", policy="p", stage="s", purpose="stage",
    ...     recipient="provider", confirmed=False, at=datetime(2027, 1, 4),
    ...     signal={"registry": "ncap", "metric": "death_30d", "entity_type": "provider",
    ...             "entity_id": "RXF", "level": "alert", "direction": "worse",
    ...             "statistic": 3.61, "threshold": 3.5, "n": 120, "observed": 9,
    ...             "expected": 4.2})
    >>> message = render("alert_notice", facts)
    >>> message["subject"]
    '[ncap] Alert (preliminary): death_30d for provider RXF'
    >>> "Observed 9 against 4.2 expected (ratio 2.14)." in message["text"]
    True
    """
    subject, text = _template(template)
    values = _variables(facts)
    rendered_text = text.substitute(values)
    return {
        "template": template,
        "subject": subject.substitute(values),
        "text": rendered_text,
        "body": body(facts),
        "fhir": communication(facts, rendered_text) if fhir else None,
    }
