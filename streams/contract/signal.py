"""The signal contract: what the pipeline emits when a monitor crosses a limit, and what the
escalation side (``notifiers``) receives from the signals topic or ``signals.jsonl``.

A :class:`Signal` is frozen and typed. Its JSON (:meth:`Signal.to_json`) is the record the
pipeline has always written: keys in the same order, the optional ``risk_model_version``,
``vlad`` and ``details`` absent (not ``null``) when the signal has none, and ``occurred_at``
as the event's own ``isoformat()``. So the deterministic ids, the topic and ``signals.jsonl``
do not depend on whether a record went through the model.

At a boundary (a Kafka consumer, a JSONL reader), :meth:`Signal.parse` turns a bad record
into :class:`InvalidSignal` with a reason that names each wrong field but never repeats a
value (a malformed record may hold anything); :func:`read_signal` returns that error as a
value, for consumers that must log a rejection and carry on.

>>> line = ('{"signal_id":"s1","registry":"r","metric":"death_30d","monitor":"ra_cusum_or2",'
...         '"monitor_kind":"ra_cusum","entity_type":"provider","entity_id":"RXF",'
...         '"provider":"RXF","direction":"worse","level":"alarm","statistic":4.61,'
...         '"threshold":4.5,"n":120,"event_id":"e1","episode_id":"ep1",'
...         '"occurred_at":"2026-05-11T16:18:00+01:00","observed":9,"expected":4.2,'
...         '"risk_model_version":"logistic-1","vlad":-4.8}')
>>> signal = Signal.parse(line)
>>> signal.level, signal.occurred_at.utcoffset()
(<Level.ALARM: 'alarm'>, datetime.timedelta(seconds=3600))
>>> signal.to_json() == line
True
>>> "details" in signal.to_dict()
False
>>> read_signal('{"signal_id": "s2", "level": "loud"}').reason[:40]
'registry: Field required; metric: Field '
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
)

from signals.crossing import Direction, Level
from streams.contract.events import describe_errors

Text = Annotated[str, StringConstraints(min_length=1)]
"""A field the escalation side keys on: an empty string is as good as missing."""
Number = float | int
"""A count stays an int and a statistic a float, so the JSON reads as the pipeline wrote it."""

OPTIONAL_FIELDS = frozenset({"risk_model_version", "vlad", "details", "late"})
"""Fields left out of the record, rather than written as ``null`` (or ``false``), when a
signal has none."""


class InvalidSignal(ValueError):
    """A signal record that cannot be used: ``reason`` says why, and ``signal_id`` and
    ``entity_id`` are what could be read of the record (for the rejection's log entry)."""

    def __init__(self, reason: str, *, signal_id: str | None = None,
                 entity_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.signal_id = signal_id
        self.entity_id = entity_id


class Signal(BaseModel):
    """One crossing of a control limit by one monitor for one entity.

    ``signal_id`` derives from the data (``streams.pipeline.core.signal_id``); ``event_id``
    and ``episode_id`` name the observation that caused the crossing, ``occurred_at`` its
    event time. ``observed``/``expected`` are the chart's running totals where it has them,
    ``vlad`` (binary outcomes) expected − observed, and ``details`` what a metric kind adds
    (a device signal's ``providers``, say). ``late`` is true when the worker applied the
    observation behind its watermark, out of the canonical order
    (``streams.pipeline.order``): such a signal may differ from ``vigil replay``'s.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    signal_id: Text
    registry: str
    metric: Text
    monitor: str
    monitor_kind: str
    entity_type: Text
    entity_id: Text
    provider: str | None
    direction: Direction
    level: Level
    statistic: Number
    threshold: Number
    n: int
    event_id: str
    episode_id: str | None
    occurred_at: AwareDatetime
    observed: Number | None
    expected: Number | None
    risk_model_version: str | None = None
    vlad: Number | None = None
    details: dict[str, Any] | None = None
    late: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as the pipeline writes it: plain JSON values, in field order."""
        record: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if (value is None or value is False) and name in OPTIONAL_FIELDS:
                continue
            record[name] = value
        record["direction"] = self.direction.value
        record["level"] = self.level.value
        record["occurred_at"] = self.occurred_at.isoformat()
        return record

    def to_json(self) -> str:
        """One line of ``signals.jsonl`` (without the newline), the value on the topic."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def parse(cls, raw: str | bytes | bytearray | Mapping[str, Any]) -> Signal:
        """A signal from JSON text or a decoded record; :class:`InvalidSignal` if it is not
        one (not JSON, not an object, a field missing, wrong or unknown)."""
        if isinstance(raw, str | bytes | bytearray):
            try:
                raw = json.loads(raw)
            except ValueError as error:  # UnicodeDecodeError is one too
                raise InvalidSignal(f"not valid JSON: {error.__class__.__name__}") from None
        if not isinstance(raw, Mapping):
            raise InvalidSignal("a signal must be a JSON object")
        try:
            return cls.model_validate(raw)
        except ValidationError as error:
            raise InvalidSignal(describe_errors(error), signal_id=_text(raw, "signal_id"),
                                entity_id=_text(raw, "entity_id")) from None


def read_signal(raw: str | bytes | bytearray | Mapping[str, Any]) -> Signal | InvalidSignal:
    """:meth:`Signal.parse`, with a rejection returned as a value rather than raised."""
    try:
        return Signal.parse(raw)
    except InvalidSignal as rejected:
        return rejected


def _text(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    return value if isinstance(value, str) and value else None
