"""An in-memory escalation log for tests, benchmarks and the embedded demo.

It keeps the same hash chain rule as the real backends (``sha256(prev_hash + canonical JSON
of the entry)``) and stores payloads as they would read back from a database (JSON
round-tripped, datetimes as RFC 3339 strings), so code tested against it sees what it will
see in production.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from notifiers.json_ready import canonical_json
from notifiers.log_protocol import GENESIS_HASH, LogEntry, LogItem, VerifyResult


class MemoryEscalationLog:
    """:class:`~notifiers.log_protocol.EscalationLog` held in a list.

    >>> log = MemoryEscalationLog()
    >>> e = log.append("note", {"at": datetime(2027, 1, 4, tzinfo=UTC)},
    ...                at=datetime(2027, 1, 4, tzinfo=UTC), case_id="c1")
    >>> e.seq, e.payload, log.verify().ok
    (1, {'at': '2027-01-04T00:00:00Z'}, True)
    """

    def __init__(self) -> None:
        self._entries: list[LogEntry] = []
        self._lock = threading.Lock()

    def append(self, kind: str, payload: dict[str, Any], *, at: datetime,
               case_id: str | None = None, entity_id: str | None = None) -> LogEntry:
        return self.append_many([LogItem(kind, payload, at, case_id, entity_id)])[0]

    def append_many(self, items: Iterable[LogItem]) -> list[LogEntry]:
        with self._lock:
            # Build the whole batch first so a bad payload appends nothing.
            last = self._entries[-1] if self._entries else None
            seq, prev = (last.seq, last.hash) if last else (0, GENESIS_HASH)
            batch = []
            for item in items:
                seq += 1
                entry = _chained(seq, prev, LogItem(*item))
                batch.append(entry)
                prev = entry.hash
            self._entries.extend(batch)
            return batch

    def entries(self, *, case_id: str | None = None, entity_id: str | None = None,
                kind: str | None = None, since_seq: int = 0) -> Iterator[LogEntry]:
        with self._lock:
            snapshot = self._entries[since_seq:]
        for entry in snapshot:
            if case_id is not None and entry.case_id != case_id:
                continue
            if entity_id is not None and entry.entity_id != entity_id:
                continue
            if kind is not None and entry.kind != kind:
                continue
            yield entry

    def verify(self) -> VerifyResult:
        prev = GENESIS_HASH
        for expected, entry in enumerate(list(self._entries), start=1):
            again = _chained(expected, prev, LogItem(entry.kind, entry.payload, entry.at,
                                                    entry.case_id, entry.entity_id))
            if entry.seq != expected or entry.prev_hash != prev or entry.hash != again.hash:
                return VerifyResult(False, expected - 1, entry.seq, "hash mismatch", prev)
            prev = entry.hash
        return VerifyResult(True, len(self._entries), last_hash=prev)

    def close(self) -> None:
        """Nothing to release; kept for the Protocol."""


def _chained(seq: int, prev_hash: str, item: LogItem) -> LogEntry:
    payload = json.loads(canonical_json(item.payload))
    at = item.at.astimezone(UTC)
    fields = {"seq": seq, "at": at, "kind": item.kind, "case_id": item.case_id,
              "entity_id": item.entity_id, "payload": payload, "prev_hash": prev_hash}
    digest = hashlib.sha256(prev_hash.encode() + canonical_json(fields)).hexdigest()
    return LogEntry(seq, at, item.kind, item.case_id, item.entity_id, payload, prev_hash, digest)
