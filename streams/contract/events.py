"""The event contract v1: one JSON object per Kafka message or per JSONL line.

Four event types share ``event_id`` (the idempotency key), ``event_type``, ``registry``,
``occurred_at`` (RFC 3339 with an offset) and ``schema_version``. Identifiers are validated
by the rules in ``domain.md``; the NHS number is replaced at validation time by a keyed
pseudonym (the model never holds it), so it cannot reach state, signals or logs. Unknown
extra fields are accepted and dropped.

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

from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
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
Gtin = Annotated[str, AfterValidator(identifiers.gtin)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]


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
    and is held only as ``pseudonym``."""

    model_config = _config
    pseudonym: str | None = Field(default=None, validation_alias="nhs_number")
    age: Annotated[int, Field(ge=0, le=130)] | None = None
    sex: Literal["M", "F", "I", "U"] | None = None
    imd_decile: Annotated[int, Field(ge=1, le=10)] | None = None
    ethnicity: str | None = None

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
    lot: Annotated[str, StringConstraints(max_length=64)] | None = None


class ProcedureCode(BaseModel):
    model_config = _config
    code: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    system: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


RiskFactorValue = bool | int | float | str
Outcomes = dict[Name, bool]


class _Event(BaseModel):
    model_config = _config
    event_id: Identifier
    registry: Name
    occurred_at: AwareDatetime
    schema_version: Literal["1"] = SCHEMA_VERSION


class ProcedureEvent(_Event):
    """An operation: who did it where, the patient's risk factors, and any outcomes known."""

    event_type: Literal["procedure"]
    episode_id: Identifier
    provider: Provider
    clinician: Clinician | None = None
    patient: Patient | None = None
    devices: tuple[Device, ...] = ()
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
    devices: Annotated[tuple[Device, ...], Field(min_length=1)]


class SubmissionEvent(_Event):
    """A provider's data submission for a period, against the count expected."""

    event_type: Literal["submission"]
    provider: Provider
    period: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
    submitted: Annotated[int, Field(ge=0)]
    expected: Annotated[int, Field(ge=0)]


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


def parse_event(raw: str | bytes, pseudonymiser: Pseudonymiser) -> Event:
    """Validate one JSON event; raise ``InvalidEvent`` naming each field that is wrong."""
    try:
        return event_adapter.validate_json(raw, context=pseudonymiser.context)
    except ValidationError as error:
        raise _invalid(error) from None


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
    return "; ".join(error_messages(error, union_tags=EVENT_TYPES))


def _invalid(error: ValidationError) -> InvalidEvent:
    first = error.errors(include_url=False, include_input=False)[0]
    if first["type"] == "json_invalid":
        return InvalidEvent("invalid_json", "not valid JSON: " + first["msg"].split(": ", 1)[-1])
    if first["type"] == "union_tag_invalid":
        tag = (first.get("ctx") or {}).get("tag")
        return InvalidEvent(
            "unknown_event_type",
            f"unknown event_type {tag!r}; expected one of {', '.join(EVENT_TYPES)}",
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
