"""The hash chain behind the escalation log: canonical JSON, entry hashes and verification.

Pure functions only: no database, no clock. The storage backends (``log_sqlite``,
``log_postgres``, ``memory_log``) compute every hash here, so one definition of the chain
serves all of them and an exported log can be checked offline with :func:`verify_chain`.
The JSON helpers (:func:`canonical_json`, :func:`json_ready`, :func:`rfc3339`,
:func:`parse_rfc3339`, :func:`finite`) are also the escalation engine's, so what it decides
on is byte for byte what the log stores.

Canonical JSON
--------------
The bytes that are hashed are the entry serialised as

* UTF-8, non-ASCII characters written as themselves (no ``\\u`` escapes);
* object keys sorted by code point, at every depth;
* no insignificant whitespace (separators ``,`` and ``:``);
* ``datetime`` values as RFC 3339 in UTC with a ``Z`` suffix, with microseconds only when
  they are not zero (``2024-05-01T09:30:00Z``, ``2024-05-01T09:30:00.250000Z``); naive
  datetimes are refused because their instant is unknown;
* ``date`` values as ``YYYY-MM-DD``; tuples as arrays; any other mapping as an object;
* NaN, infinities and sets refused (JSON has no spelling for the first two, and no order
  for the third); integers and floats as Python's ``json`` writes them (shortest
  round-tripping form).

:func:`next_entry` stores a payload in its read-back form (:func:`json_ready`) and hashes
that, so the hash is always over exactly what storage returns, whatever the writer passed.

Entry hash
----------
``hash = sha256(prev_hash + canonical_json(entry without hash))`` in lowercase hex, where
``prev_hash`` is the ASCII hex hash of the previous entry (64 zeros for the first) and the
entry without its hash is the object with keys ``seq``, ``at``, ``kind``, ``case_id``,
``entity_id``, ``payload`` and ``prev_hash``. Every field is therefore covered, and each entry
commits to the whole history before it.

What the chain proves
---------------------
:func:`verify_chain` finds any edited, deleted, inserted or reordered entry *before the last
one whose hash you trust*. Someone able to rewrite the database could recompute every hash
after the entry they changed, so record the head hash (``VerifyResult.last_hash``) somewhere
they cannot reach (a ticket, an email, a second system) when it matters.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of entry 1."""

HASHED_FIELDS = ("seq", "at", "kind", "case_id", "entity_id", "payload", "prev_hash")


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One fact in the escalation log.

    Attributes
    ----------
    seq
        Position in the chain: 1, 2, 3, …
    at
        Time of the fact (event or simulated time given by the caller), tz-aware UTC.
    kind
        What the fact is: the engine and the dispatcher write only
        :class:`~notifiers.log.kinds.LogKind` values, stored as plain strings.
    case_id, entity_id
        What the fact is about, for look-ups; either may be ``None``.
    payload
        JSON-ready details, as read back from storage (datetimes already RFC 3339 strings).
    prev_hash
        Hex SHA-256 of the previous entry, ``"0" * 64`` for the first.
    hash
        ``entry_hash(prev_hash, fields)`` of this entry.
    """

    seq: int
    at: datetime
    kind: str
    case_id: str | None
    entity_id: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def fields(self) -> dict[str, Any]:
        """The hashed fields except ``prev_hash`` (which :func:`entry_hash` takes apart)."""
        return {
            "seq": self.seq,
            "at": self.at,
            "kind": self.kind,
            "case_id": self.case_id,
            "entity_id": self.entity_id,
            "payload": self.payload,
        }

    def to_record(self) -> dict[str, Any]:
        """All fields as a JSON-ready dict (``at`` as RFC 3339), e.g. one line of an export."""
        record = self.fields()
        record["at"] = rfc3339(self.at)
        return {**record, "prev_hash": self.prev_hash, "hash": self.hash}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LogEntry:
        """The inverse of :meth:`to_record`."""
        return cls(
            seq=int(record["seq"]),
            at=parse_rfc3339(record["at"]),
            kind=record["kind"],
            case_id=record["case_id"],
            entity_id=record["entity_id"],
            payload=dict(record["payload"]),
            prev_hash=record["prev_hash"],
            hash=record["hash"],
        )


class LogItem(NamedTuple):
    """One entry to append, as given to ``append_many``: ``(kind, payload, at, case_id,
    entity_id)``; a plain tuple in that order does as well."""

    kind: str
    payload: Mapping[str, Any]
    at: datetime
    case_id: str | None = None
    entity_id: str | None = None


class StaleHead(RuntimeError):
    """A compare-and-append found the chain's head elsewhere than the writer expected.

    Raised by ``append``/``append_many`` given ``expected_seq`` when another writer appended
    since: nothing of the batch is written, and the caller decides again on fresh state.
    """

    def __init__(self, expected_seq: int, head_seq: int) -> None:
        super().__init__(f"expected the log's head at entry {expected_seq}, it is at {head_seq}")
        self.expected_seq = expected_seq
        self.head_seq = head_seq


def check_head(expected_seq: int | None, head_seq: int) -> None:
    """Raise :class:`StaleHead` unless ``expected_seq`` is ``None`` or the head's ``seq``.

    >>> check_head(None, 7), check_head(7, 7)
    (None, None)
    >>> check_head(6, 7)
    Traceback (most recent call last):
    ...
    notifiers.log.chain.StaleHead: expected the log's head at entry 6, it is at 7
    """
    if expected_seq is not None and expected_seq != head_seq:
        raise StaleHead(expected_seq, head_seq)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of walking a chain.

    ``entries`` counts the entries found intact, i.e. the chain is sound up to ``seq ==
    entries``; ``first_bad_seq`` and ``reason`` say where and why it breaks (``None`` when
    ``ok``). ``last_hash`` is the hash of the last intact entry: keep it outside the database
    to detect a later rewrite of the whole tail.
    """

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None
    last_hash: str = GENESIS_HASH

    def to_dict(self) -> dict[str, Any]:
        """The report printed by ``vigil audit verify``."""
        if self.ok:
            return {"ok": True, "entries": self.entries}
        return {"ok": False, "first_bad_seq": self.first_bad_seq, "reason": self.reason}


def rfc3339(moment: datetime) -> str:
    """A tz-aware datetime as canonical RFC 3339 UTC text.

    >>> from datetime import timedelta, timezone
    >>> rfc3339(datetime(2024, 5, 1, 10, 30, tzinfo=timezone(timedelta(hours=1))))
    '2024-05-01T09:30:00Z'
    >>> rfc3339(datetime(2024, 5, 1, 9, 30, 0, 250000, tzinfo=UTC))
    '2024-05-01T09:30:00.250000Z'
    >>> rfc3339(datetime(2024, 5, 1, 9, 30))
    Traceback (most recent call last):
    ...
    ValueError: naive datetime 2024-05-01 09:30:00: give a timezone (UTC)
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment}: give a timezone (UTC)")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def parse_rfc3339(text: str | datetime) -> datetime:
    """RFC 3339 text (``Z`` or an offset; or a tz-aware datetime) as a tz-aware UTC datetime.

    >>> parse_rfc3339("2024-05-01T09:30:00.250000Z")
    datetime.datetime(2024, 5, 1, 9, 30, 0, 250000, tzinfo=datetime.timezone.utc)
    >>> parse_rfc3339("2024-05-01T10:30:00+01:00") == parse_rfc3339("2024-05-01t09:30:00z")
    True
    """
    moment = text if isinstance(text, datetime) else datetime.fromisoformat(text.upper())
    if moment.tzinfo is None:
        raise ValueError(f"RFC 3339 time without offset: {text!r}")
    return moment.astimezone(UTC)


def _default(obj: Any) -> Any:
    """What the C encoder cannot write by itself (it does the rest, fast)."""
    if isinstance(obj, datetime):
        return rfc3339(obj)
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, Mapping):
        return dict(obj)
    # Sets have no order and no JSON spelling: refused rather than guessed at.
    raise TypeError(f"{type(obj).__name__} is not JSON-ready")


def canonical_json(obj: Any) -> bytes:
    """The canonical JSON bytes of ``obj`` (see the module docstring for the rules).

    >>> canonical_json({"b": [1, 2.5, None], "a": "café", "at": datetime(2024, 5, 1, tzinfo=UTC)})
    b'{"a":"caf\\xc3\\xa9","at":"2024-05-01T00:00:00Z","b":[1,2.5,null]}'
    >>> canonical_json({"z": {"y": 1, "x": (True, False)}, "due": date(2027, 1, 4)})
    b'{"due":"2027-01-04","z":{"x":[true,false],"y":1}}'
    >>> canonical_json({"rate": float("nan")})
    Traceback (most recent call last):
    ...
    ValueError: NaN and infinities have no JSON spelling
    >>> canonical_json({"ids": {1, 2}})
    Traceback (most recent call last):
    ...
    TypeError: set is not JSON-ready
    """
    try:
        text = json.dumps(obj, default=_default, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        if "Out of range float" in str(exc):
            raise ValueError("NaN and infinities have no JSON spelling") from None
        raise
    return text.encode("utf-8")


def json_ready(obj: Any) -> Any:
    """``obj`` as it reads back from storage: canonical JSON, parsed.

    The engine applies every event to its case projection in this form both when it decides
    and when it rebuilds from the log, so the two can never differ.

    >>> json_ready({"due": datetime(2024, 5, 1, tzinfo=UTC), "stages": (2, 3)})
    {'due': '2024-05-01T00:00:00Z', 'stages': [2, 3]}
    """
    return json.loads(canonical_json(obj))


def finite(obj: Any) -> Any:
    """Non-finite floats replaced by ``None`` throughout, so that any signal can be logged.

    >>> finite({"statistic": float("nan"), "limits": [1.5, float("inf")]})
    {'statistic': None, 'limits': [1.5, None]}
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """``sha256(prev_hash + canonical_json(fields + prev_hash))`` as lowercase hex.

    ``fields`` holds ``seq``, ``at``, ``kind``, ``case_id``, ``entity_id`` and ``payload``
    (it may also hold ``prev_hash``, which must then agree).

    >>> first = {"seq": 1, "at": datetime(2024, 5, 1, 9, 30, tzinfo=UTC), "kind": "signal",
    ...          "case_id": None, "entity_id": "RXF", "payload": {"level": "alarm"}}
    >>> canonical_json({**first, "prev_hash": GENESIS_HASH})[:60]
    b'{"at":"2024-05-01T09:30:00Z","case_id":null,"entity_id":"RXF'
    >>> h1 = entry_hash(GENESIS_HASH, first)
    >>> h1
    '41a3cba84270ea0eb3952bcb713289d6d481c736b584bdd54e9953654bf0785e'

    Any change to any field, or to the previous hash, gives another hash:

    >>> entry_hash(GENESIS_HASH, {**first, "payload": {"level": "alert"}}) == h1
    False
    >>> entry_hash("f" * 64, first) == h1
    False
    """
    document = {name: fields[name] for name in HASHED_FIELDS if name != "prev_hash"}
    if fields.get("prev_hash", prev_hash) != prev_hash:
        raise ValueError("fields['prev_hash'] disagrees with prev_hash")
    document["prev_hash"] = prev_hash
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json(document)).hexdigest()


def next_entry(
    prev_seq: int,
    prev_hash: str,
    kind: str,
    payload: Mapping[str, Any],
    at: datetime,
    case_id: str | None = None,
    entity_id: str | None = None,
) -> LogEntry:
    """The entry that follows ``(prev_seq, prev_hash)``: numbered and hashed.

    >>> e1 = next_entry(0, GENESIS_HASH, "signal", {"n": 3}, datetime(2024, 5, 1, tzinfo=UTC))
    >>> e2 = next_entry(e1.seq, e1.hash, "route", {"to": "provider"}, e1.at, entity_id="RXF")
    >>> (e2.seq, e2.prev_hash == e1.hash, verify_chain([e1, e2]).ok)
    (2, True, True)
    """
    if not isinstance(kind, str) or not kind:
        raise ValueError("kind must be a non-empty string")
    if not isinstance(payload, Mapping):
        raise TypeError(f"payload must be a dict, not {type(payload).__name__}")
    for name, value in (("case_id", case_id), ("entity_id", entity_id)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a string or None, not {type(value).__name__}")
    rfc3339(at)  # refuses naive datetimes before anything is written
    entry = LogEntry(
        seq=prev_seq + 1,
        at=at.astimezone(UTC),
        kind=str(kind),  # a LogKind is stored, and read back, as its plain string
        case_id=case_id,
        entity_id=entity_id,
        payload=json_ready(payload),
        prev_hash=prev_hash,
        hash="",
    )
    return replace(entry, hash=entry_hash(prev_hash, entry.fields()))


def extend_chain(prev_seq: int, prev_hash: str, items: Iterable[LogItem]) -> list[LogEntry]:
    """The entries appending ``items`` after ``(prev_seq, prev_hash)``, in order.

    Every backend builds a batch with this before writing any of it, so a bad item (a naive
    time, a payload that is not JSON) writes nothing.

    >>> t = datetime(2024, 5, 1, tzinfo=UTC)
    >>> [(e.seq, e.kind) for e in extend_chain(4, "f" * 64, [LogItem("signal", {}, t),
    ...                                                      ("route", {}, t, "C1", "RXF")])]
    [(5, 'signal'), (6, 'route')]
    """
    batch = []
    for kind, payload, at, case_id, entity_id in items:
        entry = next_entry(prev_seq, prev_hash, kind, payload, at, case_id, entity_id)
        batch.append(entry)
        prev_seq, prev_hash = entry.seq, entry.hash
    return batch


def verify_chain(entries: Iterable[LogEntry]) -> VerifyResult:
    """Walk entries in storage order (by ``seq``) and report the first that breaks the chain.

    Checks, for each entry in turn: its ``seq`` is the next number (a gap means entries were
    deleted, a repeat or step back means entries were reordered or duplicated); its stored
    hash matches its contents (an edit of any field); its ``prev_hash`` is the hash of the
    entry before (an entry deleted or moved, with the hashes after it rewritten).

    >>> t = datetime(2024, 5, 1, tzinfo=UTC)
    >>> chain = [next_entry(0, GENESIS_HASH, "signal", {"n": 0}, t)]
    >>> for n in range(1, 5):
    ...     chain.append(next_entry(chain[-1].seq, chain[-1].hash, "signal", {"n": n}, t))
    >>> result = verify_chain(chain)
    >>> (result.ok, result.entries, result.first_bad_seq, result.last_hash == chain[-1].hash)
    (True, 5, None, True)

    An edited payload, a deleted entry and two entries swapped:

    >>> from dataclasses import replace
    >>> verify_chain(chain[:2] + [replace(chain[2], payload={"n": 99})] + chain[3:]).reason
    'stored hash does not match the contents of entry 3 (an edited field)'
    >>> bad = verify_chain(chain[:1] + chain[2:])
    >>> (bad.ok, bad.entries, bad.first_bad_seq, bad.reason)
    (False, 1, 2, 'entry 2 is missing (next stored entry is 3)')
    >>> swapped = [chain[0], replace(chain[3], seq=2), chain[2], replace(chain[1], seq=4)]
    >>> verify_chain(swapped).first_bad_seq
    2
    """
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    iterator = iter(entries)
    while True:
        try:
            entry = next(iterator)
        except StopIteration:
            break
        except UnreadableEntry as exc:
            return VerifyResult(False, checked, min(exc.seq, expected_seq), str(exc), prev_hash)
        problem = _first_problem(entry, expected_seq, prev_hash)
        if problem is not None:
            # The first position where the chain breaks; for a gap that is the missing seq.
            return VerifyResult(False, checked, expected_seq, problem, prev_hash)
        checked += 1
        expected_seq += 1
        prev_hash = entry.hash
    return VerifyResult(True, checked, None, None, prev_hash)


class UnreadableEntry(ValueError):
    """A stored row that cannot be read back as a :class:`LogEntry` (raised while iterating)."""

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"entry {seq} cannot be read: {reason}")
        self.seq = seq


def paged_entries(fetch: Callable[[int], Sequence[Sequence[Any]]], since_seq: int,
                  page_size: int) -> Iterator[LogEntry]:
    """Entries from a database, a page at a time: ``fetch(last_seq)`` returns up to
    ``page_size`` raw rows with ``seq > last_seq`` in order (``decode_entry``'s columns).
    Pages are keyed on seq, so no transaction stays open while the caller works.

    >>> rows = [(1, "2024-05-01T00:00:00Z", "signal", None, None, "{}", "0" * 64, "h")]
    >>> [e.seq for e in paged_entries(lambda last: [r for r in rows if r[0] > last], 0, 2)]
    [1]
    """
    last = since_seq
    while True:
        rows = fetch(last)
        for row in rows:
            yield decode_entry(*row)
        if len(rows) < page_size:
            return
        last = rows[-1][0]


def decode_entry(
    seq: int,
    at: datetime | str,
    kind: str,
    case_id: str | None,
    entity_id: str | None,
    payload: str,
    prev_hash: str,
    hash: str,
) -> LogEntry:
    """A stored row (``at`` as a datetime or RFC 3339 text, ``payload`` as JSON text).

    >>> decode_entry(1, "2024-05-01T00:00:00Z", "signal", None, "RXF", '{"n":1}', "0" * 64,
    ...              "ab").payload
    {'n': 1}
    >>> try:
    ...     decode_entry(7, "2024-05-01T00:00:00Z", "signal", None, None, "{oops", "0" * 64, "")
    ... except UnreadableEntry as exc:
    ...     print(exc)
    entry 7 cannot be read: payload is not a JSON object
    """
    try:
        moment = parse_rfc3339(at) if isinstance(at, str) else at.astimezone(UTC)
    except (TypeError, ValueError) as exc:
        raise UnreadableEntry(seq, f"time {at!r}: {exc}") from None
    try:
        document = json.loads(payload)
    except (TypeError, ValueError):
        document = None
    if not isinstance(document, dict):
        raise UnreadableEntry(seq, "payload is not a JSON object")
    return LogEntry(seq, moment, kind, case_id, entity_id, document, prev_hash, hash)


def _first_problem(entry: LogEntry, expected_seq: int, prev_hash: str) -> str | None:
    if entry.seq > expected_seq:
        missing = (
            f"entry {expected_seq} is missing"
            if entry.seq == expected_seq + 1
            else f"entries {expected_seq}–{entry.seq - 1} are missing"
        )
        return f"{missing} (next stored entry is {entry.seq})"
    if entry.seq < expected_seq:
        return f"entry {entry.seq} is out of order or repeated (expected {expected_seq})"
    try:
        recomputed = entry_hash(entry.prev_hash, entry.fields())
    except (TypeError, ValueError, UnicodeError) as exc:
        return f"entry {entry.seq} cannot be hashed: {exc}"
    if recomputed != entry.hash:
        return f"stored hash does not match the contents of entry {entry.seq} (an edited field)"
    if entry.prev_hash != prev_hash:
        before = f"entry {entry.seq - 1}" if entry.seq > 1 else "the genesis value"
        return (
            f"prev_hash of entry {entry.seq} is not the hash of {before} "
            "(an entry deleted, inserted or moved)"
        )
    return None
