"""Values as they read back from the escalation log: JSON types only, instants as RFC 3339.

The engine applies each event to its case projection in this form both when it decides and
when it rebuilds from the log on start, so the two can never differ.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from typing import Any


def rfc3339(moment: datetime) -> str:
    """A tz-aware instant as RFC 3339 UTC with ``Z`` (microseconds only when non-zero).

    >>> rfc3339(datetime(2026, 12, 24, 9, 30, tzinfo=UTC))
    '2026-12-24T09:30:00Z'
    """
    if moment.tzinfo is None:
        raise ValueError("naive datetime: its instant is unknown")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def parse_time(text: str | datetime) -> datetime:
    """An RFC 3339 string (or a datetime) as a tz-aware UTC datetime.

    >>> parse_time("2027-03-25T10:00:00+00:00") == parse_time("2027-03-25T10:00:00Z")
    True
    """
    if isinstance(text, datetime):
        moment = text
    else:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"time without a timezone: {text}")
    return moment.astimezone(UTC)


def _default(obj: Any) -> Any:
    """What the C encoder cannot write by itself (it does the rest, fast)."""
    if isinstance(obj, datetime):
        return rfc3339(obj)
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-ready")


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8; NaN and infinities refused (JSON has no spelling
    for them).

    >>> canonical_json({"b": 1, "a": datetime(2027, 1, 4, tzinfo=UTC)})
    b'{"a":"2027-01-04T00:00:00Z","b":1}'
    """
    return json.dumps(obj, default=_default, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode()


def json_ready(obj: Any) -> Any:
    """``obj`` as it reads back from JSON storage.

    >>> json_ready({"due": datetime(2027, 1, 4, tzinfo=UTC), "k": (1, 2)})
    {'due': '2027-01-04T00:00:00Z', 'k': [1, 2]}
    """
    return json.loads(canonical_json(obj))


def finite(obj: Any) -> Any:
    """Non-finite floats replaced by ``None`` throughout, so a signal can always be logged."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj
