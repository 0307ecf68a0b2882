"""The event contract v1: one JSON object per Kafka message or per JSONL line.

Four event types share ``event_id`` (the idempotency key), ``event_type``, ``registry``,
``occurred_at`` (RFC 3339 with an offset) and ``schema_version``. Identifiers are validated
by the rules in ``domain.md``; the NHS number is replaced at validation time by a keyed
pseudonym (the model never holds it), so it cannot reach state, signals or logs. Unknown
extra fields are accepted and dropped.

Bad input is data: ``parse_event`` raises ``InvalidEvent`` (a reason code and a reason that
never repeats an input value) and nothing else, whatever the bytes. The contract is strict
where leniency would blind or mislead a monitor:

- risk factors are booleans, category strings (≤ 64 characters) or *finite* numbers within
  ±``RISK_FACTOR_LIMIT`` (``NaN``, ``Infinity``, ``1e999``, 400-digit integers rejected);
  ``submitted`` / ``expected`` are integers from 0 to ``COUNT_LIMIT``;
- outcomes are JSON ``true`` / ``false`` only (``"yes"``, ``"off"``, ``1`` rejected);
- ``occurred_at`` is an RFC 3339 *string* with an offset (a Unix number is rejected) inside
  an ``EventTimeWindow`` (default 1900-01-01 to one day ahead of now);
- an event lists at most ``DEVICES_LIMIT`` (16) devices, each GTIN once: a repeated GTIN
  (after normalisation to 14 digits) *rejects* the event rather than being counted once,
  because an upstream system that repeats a device has a bug worth seeing;
- the privacy screen: an NHS number written into an identifier or free-text field
  (``event_id``, ``episode_id``, ``registry``, outcome and risk-factor names, category
  values, ``devices[].lot``, ``procedure.code`` / ``system``) in any form (plain, spaced,
  dotted, dashed, JSON-escaped, full-width digits) that passes Modulus 11 is replaced by
  its pseudonym, so ``"EP-9434765919"`` is held as ``"EP-p:121ee75534cd8e8dc2bb07aa"``.

>>> from streams.contract.pseudonym import Pseudonymiser
>>> line = (b'{"event_id": "e1", "event_type": "procedure", "registry": "r",'
...         b' "occurred_at": "2026-01-05T09:30:00+00:00", "episode_id": "ep1",'
...         b' "provider": {"ods_code": "RXF"}, "patient": {"nhs_number": "9434765919"},'
...         b' "risk_factors": {"parsonnet": 12}, "outcomes": {"death_30d": false}}')
>>> event = parse_event(line, Pseudonymiser(b"k" * 32))
>>> event.event_type, event.provider.ods_code, event.patient.pseudonym
('procedure', 'RXF', 'p:121ee75534cd8e8dc2bb07aa')
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from streams.contract import identifiers
from streams.contract.pseudonym import Pseudonymiser
from streams.contract.validation import error_messages

SCHEMA_VERSION: Final = "1"

_config = ConfigDict(extra="ignore", frozen=True)

OdsCode = Annotated[str, StringConstraints(pattern=identifiers.ODS_CODE)]
SiteCode = Annotated[str, StringConstraints(pattern=identifiers.ODS_SITE_CODE)]
GmcNumber = Annotated[str, StringConstraints(pattern=identifiers.GMC_NUMBER)]
IcbCode = Annotated[str, StringConstraints(pattern=identifiers.ICB_CODE)]
Gtin = Annotated[str, AfterValidator(identifiers.gtin)]


def _screened(value: str, info: ValidationInfo) -> str:
    """The privacy screen: an NHS number written into an identifier or free text (common
    in extracts: ``"episode_id": "EP-9434765919"``) is replaced by its pseudonym, like
    ``patient.nhs_number``. Pseudonymised rather than rejected: a numeric local id that
    happens to pass Modulus 11 (about one in eleven do) must not blind the monitors, and
    the pseudonym is the same in every written form, so joins on the key still work."""
    if len(value) < 10 or not identifiers.nhs_numbers_in(value):
        return value
    pseudonymiser = (info.context or {}).get("pseudonymiser")
    if pseudonymiser is None:
        raise ValueError("holds an NHS number and no pseudonymisation key is configured")
    return pseudonymiser.screen(value)


Screened = AfterValidator(_screened)
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128), Screened]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64), Screened]
FreeText = Annotated[str, StringConstraints(max_length=64), Screened]


class Provider(BaseModel):
    """The provider (trust) responsible for the episode."""

    model_config = _config
    ods_code: OdsCode
    site_code: SiteCode | None = None
    icb_code: OdsCode | None = None


class Clinician(BaseModel):
    """The responsible clinician."""

    model_config = _config
    gmc_number: GmcNumber


class Patient(BaseModel):
    """What the registry may know of the patient. The NHS number arrives as ``nhs_number``
    and is held only as ``pseudonym``. ``icb_code`` is the ICB of the patient's residence
    (or registered practice), for the ICB roll-up of published figures.

    >>> Patient(icb_code="QWE").icb_code
    'QWE'
    >>> try:
    ...     Patient(icb_code="RXF")
    ... except ValidationError as error:
    ...     print(describe_errors(error))
    icb_code: String should match pattern '^Q[A-Z0-9]{2}$'
    """

    model_config = _config
    pseudonym: str | None = Field(default=None, validation_alias="nhs_number")
    age: Annotated[int, Field(ge=0, le=130)] | None = None
    sex: Literal["M", "F", "I", "U"] | None = None
    imd_decile: Annotated[int, Field(ge=1, le=10)] | None = None
    ethnicity: str | None = None
    icb_code: IcbCode | None = None

    @field_validator("pseudonym", mode="before")
    @classmethod
    def _pseudonymise(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("NHS number must be a string of 10 digits")
        digits = identifiers.nhs_number(value)
        pseudonymiser = (info.context or {}).get("pseudonymiser")  # see Pseudonymiser.context
        if pseudonymiser is None:
            raise ValueError("no pseudonymisation key configured: refusing to hold NHS number")
        return pseudonymiser.pseudonym(digits)

    @field_validator("ethnicity")
    @classmethod
    def _ethnic_category(cls, value: str | None) -> str | None:
        if value is not None and value not in identifiers.ETHNIC_CATEGORIES:
            raise ValueError(
                "ethnicity must be an NHS ethnic category letter (A–H, J–N, P, R, S or Z)"
            )
        return value


class Device(BaseModel):
    """An implanted device, identified by its GTIN (UDI-DI), normalised to 14 digits."""

    model_config = _config
    gtin: Gtin
    lot: FreeText | None = None


class ProcedureCode(BaseModel):
    model_config = _config
    code: Annotated[str, StringConstraints(min_length=1, max_length=32), Screened]
    system: Annotated[str, StringConstraints(min_length=1, max_length=64), Screened] | None = None


RISK_FACTOR_LIMIT = 1_000_000
"""Largest magnitude of a numeric risk factor. Beyond it a value is an error upstream, and
a 400-digit integer would overflow the risk model's float arithmetic."""
COUNT_LIMIT = 10_000_000
"""Largest ``submitted`` / ``expected`` count of one provider's period."""
DEVICES_LIMIT = 16
"""Most devices one event may list."""


def _risk_factor(value: Any, info: ValidationInfo) -> bool | int | float | str:
    """A boolean, a finite number within ±``RISK_FACTOR_LIMIT``, or a category string:
    ``NaN`` (which would make a CUSUM NaN for good), ``Infinity`` and ``1e999`` (which
    read as risk 1.0) are rejected, not scored."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number")
        if not -RISK_FACTOR_LIMIT <= value <= RISK_FACTOR_LIMIT:
            raise ValueError(f"must be within ±{RISK_FACTOR_LIMIT}")
        return value
    if isinstance(value, str):
        if len(value) > 64:
            raise ValueError("a category must have at most 64 characters")
        return _screened(value, info)
    raise ValueError("must be a number, boolean or string")


RiskFactorValue = Annotated[
    bool | int | float | str,
    PlainValidator(_risk_factor, json_schema_input_type=bool | int | float | str),
]
Outcomes = dict[Name, StrictBool]
"""Outcomes are JSON ``true``/``false`` only: ``"yes"``, ``"off"`` or ``1`` are rejected."""
Count = Annotated[int, Field(ge=0, le=COUNT_LIMIT)]


def _distinct_devices(devices: tuple[Device, ...]) -> tuple[Device, ...]:
    """One event lists each device (GTIN, after normalisation to 14 digits) once: a
    revision listing one GTIN a thousand times would count a thousand revisions."""
    if len({device.gtin for device in devices}) != len(devices):
        raise ValueError("the same GTIN is listed more than once")
    return devices


Devices = Annotated[tuple[Device, ...], Field(max_length=DEVICES_LIMIT),
                    AfterValidator(_distinct_devices)]


@dataclass(frozen=True, slots=True)
class EventTimeWindow:
    """The plausible ``occurred_at`` of an event: from ``earliest`` to ``ahead`` past now
    (``now``, or the wall clock at each parse when it is ``None``). Fix ``now`` to replay
    or test as of a date.

    >>> window = EventTimeWindow(now=datetime(2026, 1, 1, tzinfo=UTC))
    >>> window.contains(datetime(2026, 1, 1, 12, tzinfo=UTC))
    True
    >>> window.contains(datetime.max.replace(tzinfo=UTC))
    False
    """

    earliest: datetime = datetime(1900, 1, 1, tzinfo=UTC)
    ahead: timedelta = timedelta(days=1)
    now: datetime | None = None

    def contains(self, at: datetime) -> bool:
        """Whether ``at`` is in the window; never raises (year 9999 or year 1 with an
        offset compare without converting to UTC)."""
        try:
            latest = (self.now or datetime.now(UTC)) + self.ahead
            return self.earliest <= at <= latest
        except (OverflowError, TypeError):
            return False


DEFAULT_WINDOW = EventTimeWindow()
"""1900-01-01 to one day ahead of the wall clock."""

WINDOW_SETTINGS = ("VIGIL_EVENT_TIME_EARLIEST", "VIGIL_EVENT_TIME_AHEAD_DAYS",
                   "VIGIL_EVENT_TIME_NOW")
"""The environment that sets the window ``parse_event`` uses by default."""


def window_from_environment(env: Mapping[str, str] | None = None) -> EventTimeWindow:
    """The plausible-time window the settings give: ``VIGIL_EVENT_TIME_EARLIEST`` (an ISO
    date or time, default 1900-01-01), ``VIGIL_EVENT_TIME_AHEAD_DAYS`` (default 1) and
    ``VIGIL_EVENT_TIME_NOW`` (fix "now", e.g. to replay or simulate a future-dated stream;
    default the wall clock). ``ValueError`` names a bad value.

    >>> window_from_environment({"VIGIL_EVENT_TIME_NOW": "2030-01-01T00:00:00Z"}).now.year
    2030
    >>> window_from_environment({"VIGIL_EVENT_TIME_AHEAD_DAYS": "soon"})
    Traceback (most recent call last):
    ...
    ValueError: VIGIL_EVENT_TIME_AHEAD_DAYS must be a number of days
    """
    env = os.environ if env is None else env
    earliest, ahead, now = (env.get(name) for name in WINDOW_SETTINGS)
    if not (earliest or ahead or now):
        return DEFAULT_WINDOW
    try:
        days = float(ahead) if ahead else 1.0
        if not 0 <= days <= 36_500:
            raise ValueError
    except ValueError:
        raise ValueError("VIGIL_EVENT_TIME_AHEAD_DAYS must be a number of days") from None
    return EventTimeWindow(
        _aware(earliest, "VIGIL_EVENT_TIME_EARLIEST") if earliest else DEFAULT_WINDOW.earliest,
        timedelta(days=days), _aware(now, "VIGIL_EVENT_TIME_NOW") if now else None)


def _aware(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 date or time") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@cache
def default_window() -> EventTimeWindow:
    """``window_from_environment()``, read once."""
    return window_from_environment()


class _Event(BaseModel):
    model_config = _config
    event_id: Identifier
    registry: Name
    occurred_at: Annotated[AwareDatetime, Field(strict=True)]
    """An RFC 3339 string with an offset (a Unix number is rejected)."""
    schema_version: Literal["1"] = SCHEMA_VERSION

    @field_validator("occurred_at")
    @classmethod
    def _plausible(cls, value: datetime, info: ValidationInfo) -> datetime:
        window = (info.context or {}).get("window") or default_window()
        if not window.contains(value):
            raise ValueError("outside the plausible window of event times")
        return value


class ProcedureEvent(_Event):
    """An operation: who did it where, the patient's risk factors, and any outcomes known."""

    event_type: Literal["procedure"]
    episode_id: Identifier
    provider: Provider
    clinician: Clinician | None = None
    patient: Patient | None = None
    devices: Devices = ()
    procedure: ProcedureCode | None = None
    risk_factors: dict[Name, RiskFactorValue] = Field(default_factory=dict)
    outcomes: Outcomes = Field(default_factory=dict)


class OutcomeEvent(_Event):
    """The outcome of an earlier procedure that arrives later (e.g. 30-day status)."""

    event_type: Literal["outcome"]
    episode_id: Identifier
    outcomes: Annotated[Outcomes, Field(min_length=1)]


class RevisionEvent(_Event):
    """A device revised: ``episode_id`` names the primary procedure."""

    event_type: Literal["revision"]
    episode_id: Identifier
    provider: Provider
    devices: Annotated[Devices, Field(min_length=1)]


class SubmissionEvent(_Event):
    """A provider's data submission for a period, against the count expected."""

    event_type: Literal["submission"]
    provider: Provider
    period: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
    submitted: Count
    expected: Count


Event = Annotated[
    ProcedureEvent | OutcomeEvent | RevisionEvent | SubmissionEvent,
    Field(discriminator="event_type"),
]
EVENT_TYPES = ("procedure", "outcome", "revision", "submission")

event_adapter: TypeAdapter[Event] = TypeAdapter(Event)


class InvalidEvent(ValueError):
    """An event that cannot be used, with a machine-readable ``code`` and a precise reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def parse_event(raw: str | bytes, pseudonymiser: Pseudonymiser,
                window: EventTimeWindow | None = None) -> Event:
    """Validate one JSON event; raise ``InvalidEvent`` naming each field that is wrong, and
    nothing else, whatever the bytes. ``window`` bounds ``occurred_at`` (default
    ``default_window()``, from the settings).

    >>> try:
    ...     parse_event(b'[' * 5000, Pseudonymiser(b"k" * 32))
    ... except InvalidEvent as error:
    ...     print(error.code)
    invalid_json
    """
    window = window or default_window()  # a bad setting raises here, not as a rejection
    context = pseudonymiser.context if window is DEFAULT_WINDOW else {
        **pseudonymiser.context, "window": window}
    try:
        return event_adapter.validate_json(raw, context=context)
    except ValidationError as error:
        raise _invalid(error) from None
    except (RecursionError, OverflowError, UnicodeError, MemoryError) as error:
        # Untrusted bytes are data: whatever the parser trips on is a rejection.
        raise InvalidEvent("invalid_json", f"unreadable input ({type(error).__name__})"
                           ) from None


def describe_errors(error: ValidationError) -> str:
    """pydantic's errors as ``path: message`` pairs, without the offending input values
    (they may be personal data).

    >>> try:
    ...     Clinician.model_validate({"gmc_number": "12"})
    ... except ValidationError as e:
    ...     print(describe_errors(e))
    gmc_number: String should match pattern '^[0-9]{7}$'
    """
    # The first element of a discriminated union's location is the tag; it is not a path.
    return "; ".join(error_messages(error, union_tags=EVENT_TYPES, mask_keys=True))


def _invalid(error: ValidationError) -> InvalidEvent:
    first = error.errors(include_url=False, include_input=False)[0]
    if first["type"] == "json_invalid":
        return InvalidEvent("invalid_json", "not valid JSON: " + first["msg"].split(": ", 1)[-1])
    if first["type"] == "union_tag_invalid":
        # The value is not echoed: it is input, and may be anything (an NHS number too).
        return InvalidEvent(
            "unknown_event_type",
            f"unknown event_type; expected one of {', '.join(EVENT_TYPES)}",
        )
    if first["type"] == "union_tag_not_found":
        return InvalidEvent("invalid_event", "event_type: Field required")
    if first["type"] == "model_attributes_type" and not first["loc"]:
        return InvalidEvent("invalid_json", "an event must be a JSON object")
    return InvalidEvent("invalid_event", describe_errors(error))


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the contract (``vigil schema``)."""
    schema = event_adapter.json_schema(by_alias=True)
    schema["title"] = "Vigil registry event (contract v1)"
    return schema
