"""The facts of a case drawer: the statistic against its limit, O, E and O/E, the dates in
the registry's time zone (Europe/London), the next step and its deadline as the letter
prints it, the route and who was told. Pure functions of the case summary
(``Case.to_dict()``) and the chart.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from notifiers.messages import letter_date
from notifiers.working_days import local_date
from streams.dashboard.chart_history import registry_time


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
        "excursion_start_exact": bool((excursion or {}).get("exact")),
        "last_signal_at": registry_time(signal.get("occurred_at")),
        "next_step": next_step(str(case.get("status")), case.get("stage"), expects),
        "deadline_text": deadline_date(case.get("respond_by"), case.get("deadline")),
        "route": case.get("route"), "policy": case.get("policy"), "recipients": recipients,
    }
