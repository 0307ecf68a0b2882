"""What is kept of a rejected line: the record behind a dead letter and ``rejected.jsonl``.

Building it never raises and its size is bounded, whatever the line: the worker must be
able to publish every dead letter (a broker takes messages of at most 1 MB, and a raw line
escaped into JSON can grow six-fold), and one hostile line must not stop a replay. The raw
line is redacted first (``Pseudonymiser.redact_line``), then cut to ``RAW_LIMIT``
characters; a cut record says so with ``raw_truncated`` and the line's length in bytes,
``raw_length``.

>>> from streams.contract.events import InvalidEvent
>>> from streams.contract.pseudonym import Pseudonymiser
>>> record = rejection_record(b'{"event_id": "EP-9434765919", "x": ' + b"[" * 20000,
...                           InvalidEvent("invalid_json", "not valid JSON"),
...                           Pseudonymiser(b"k" * 32))
>>> record["event_id"], len(record["raw"]), record["raw_truncated"], record["raw_length"]
(None, 16384, True, 20035)
>>> event_id_of(b'{"event_id": "EP-9434765919"}', Pseudonymiser(b"k" * 32))
'EP-p:121ee75534cd8e8dc2bb07aa'
"""

from __future__ import annotations

import json
import re
from typing import Any

from streams.contract.pseudonym import Pseudonymiser

RAW_LIMIT = 16_384
"""Characters of the redacted raw line a rejection record keeps."""
REASON_LIMIT = 2_000
"""Characters of the reason kept (a line with thousands of bad fields has a long one)."""
EVENT_ID_LIMIT = 128
"""An ``event_id`` longer than the contract allows is not reported."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def event_id_of(raw: str | bytes, pseudonymiser: Pseudonymiser) -> str | None:
    """The line's ``event_id`` where it is readable (a JSON object whose ``event_id`` is a
    string of at most ``EVENT_ID_LIMIT`` characters), screened for NHS numbers like the
    contract's identifiers; ``None`` otherwise. Never raises."""
    try:
        data = json.loads(raw)
        value = data.get("event_id") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value or len(value) > EVENT_ID_LIMIT:
            return None
        return _SURROGATE.sub("\ufffd", pseudonymiser.screen(value))
    except (ValueError, RecursionError, TypeError, MemoryError):
        return None


def rejection_record(raw: str | bytes, error: Any, pseudonymiser: Pseudonymiser
                     ) -> dict[str, Any]:
    """``event_id``, ``reason_code``, ``reason`` and the redacted, bounded ``raw`` line of
    a rejected line (``error`` an ``InvalidEvent``). Never raises."""
    code = str(getattr(error, "code", "invalid_event"))[:64]
    reason = str(getattr(error, "reason", ""))
    if len(reason) > REASON_LIMIT:
        reason = reason[:REASON_LIMIT] + "…"
    size = len(raw.encode("utf-8", "replace") if isinstance(raw, str) else raw)
    try:
        # A line far beyond the limit is cut before redaction: parsing it is not needed.
        head = raw[:RAW_LIMIT * 4] if size > RAW_LIMIT * 4 else raw
        text = pseudonymiser.redact_line(head).rstrip("\n")
    except Exception:  # a dead letter must always be built
        text = ""
    record: dict[str, Any] = {
        "event_id": event_id_of(raw, pseudonymiser) if size <= RAW_LIMIT * 4 else None,
        "reason_code": code,
        "reason": _SURROGATE.sub("\ufffd", reason),
    }
    if len(text) > RAW_LIMIT or size > RAW_LIMIT * 4:
        record["raw"] = text[:RAW_LIMIT]
        record["raw_truncated"] = True
        record["raw_length"] = size
    else:
        record["raw"] = text
    return record
