"""The facts of one notification: the case, its stage and the signal's aggregates at one
moment. Both renderings of a notification, the letter (:mod:`notifiers.messages`) and the
FHIR ``Communication`` (:mod:`notifiers.fhir`), are built from these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class NotificationFacts:
    """Everything a notification may say about a case at one moment."""

    key: str
    case_id: str
    policy: str
    stage: str
    purpose: str  # stage | reminder | non_response | withdrawn
    recipient: str
    signal: Mapping[str, Any]
    confirmed: bool
    at: datetime
    expects: str | None = None  # the awaited action, if a response is asked for
    respond_by: date | None = None
    reminder_number: int = 0
    signed_off_by: str | None = None
    reason: str | None = None
    stage_outcome: str | None = None
    reporting_period: str | None = None
    look_back: str | None = None  # the line about the look-back pack, where there is one
