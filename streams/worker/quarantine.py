"""Quarantine: what the worker makes of a record on which a stage raised.

Bad input is an :class:`~streams.contract.events.InvalidEvent` and a dead letter with its
reason code. Anything else a stage raises is a bug, and one record that trips it must not
stop every partition behind it (the worker used to exit before committing, so the same
record crashed it again on every restart). Under ``VIGIL_ON_INTERNAL_ERROR=quarantine``
(the default) the record becomes a dead letter with reason code ``internal_error``, the
stage, the exception's type and a *stack fingerprint*, and the batch goes on.

The fingerprint is a hash of the exception's type and the code locations (file, function,
line) of its traceback: the same bug gives the same fingerprint on every record and every
worker, so an operator can count and group them, while nothing of the input (the exception's
message, local values) enters it or the dead letter's ``reason``. The ``raw`` field holds the
line with NHS numbers pseudonymised, as for any dead letter.
"""

from __future__ import annotations

import hashlib
import json
import traceback
from pathlib import PurePath
from typing import Any, Literal

INTERNAL_ERROR = "internal_error"
"""The dead-letter reason code of a quarantined record."""

OnInternalError = Literal["quarantine", "stop"]


def stack_fingerprint(error: BaseException) -> str:
    """16 hex digits from the exception's type and its traceback's code locations (file
    name, function, line), never its message or any value.

    >>> def fail(value):
    ...     raise ValueError(f"bad {value}")
    >>> prints = set()
    >>> for value in ("9990000001", "other"):
    ...     try:
    ...         fail(value)
    ...     except ValueError as error:
    ...         prints.add(stack_fingerprint(error))
    >>> len(prints), len(prints.pop())
    (1, 16)
    """
    kind = type(error)
    parts = [f"{kind.__module__}.{kind.__qualname__}"]
    # File names without directories: the same code installed elsewhere gives the same print.
    parts += [f"{PurePath(frame.filename).name}:{frame.name}:{frame.lineno}"
              for frame in traceback.extract_tb(error.__traceback__)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def quarantine_letter(stage: str, error: BaseException, *, event_id: str | None,
                      source: list[int], raw: str) -> dict[str, Any]:
    """The dead letter of a quarantined record: the fields of every dead letter, plus
    ``stage`` and ``fingerprint``; ``reason`` names the exception's type only.

    >>> letter = quarantine_letter("episodes", KeyError("x"), event_id="e1", source=[0, 7],
    ...                            raw="{}")
    >>> letter["reason_code"], letter["reason"], letter["stage"]
    ('internal_error', 'internal error (KeyError) in stage episodes', 'episodes')
    """
    return {
        "event_id": event_id,
        "reason_code": INTERNAL_ERROR,
        "reason": f"internal error ({type(error).__name__}) in stage {stage}",
        "source": source,
        "raw": raw,
        "stage": stage,
        "fingerprint": stack_fingerprint(error),
    }


def log_entry(letter: dict[str, Any], error: BaseException) -> dict[str, Any]:
    """The critical log line of a quarantined record: no raw line, no exception message."""
    return {"event": "record_quarantined", "stage": letter["stage"],
            "event_id": letter["event_id"], "reason_code": INTERNAL_ERROR,
            "error_type": type(error).__name__, "fingerprint": letter["fingerprint"],
            "source": letter["source"]}


def safe_dumps(value: Any) -> bytes:
    """JSON of a dead letter; one that cannot be serialised still yields a dead letter."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    except (TypeError, ValueError, RecursionError):
        return json.dumps({**{k: value.get(k) for k in ("reason_code", "reason", "stage",
                                                         "fingerprint", "source")},
                           "event_id": None, "raw": ""}, separators=(",", ":")).encode()
