"""The escalation log in memory: for tests, benchmarks and demos (``open_log("memory://")``).

Entries are built and checked by :mod:`notifiers.log.chain`, exactly as the SQLite and
PostgreSQL backends build and check theirs, so code tested against this log sees the entries
(numbers, hashes, payloads in read-back form) it will see in production. Nothing is kept
after the process ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

from notifiers.log.base import EscalationLog
from notifiers.log.chain import (
    GENESIS_HASH,
    LogEntry,
    LogItem,
    check_head,
    extend_chain,
)


class MemoryEscalationLog(EscalationLog):
    """An :class:`~notifiers.log.escalation_log.EscalationLog` held in a list.

    Threads may share one instance (appends are serialised).

    >>> from datetime import UTC, datetime
    >>> log = MemoryEscalationLog()
    >>> t = datetime(2027, 1, 4, tzinfo=UTC)
    >>> e = log.append("note", {"due": t}, at=t, case_id="c1")
    >>> e.seq, e.payload, log.verify().ok
    (1, {'due': '2027-01-04T00:00:00Z'}, True)
    >>> log.append("note", {}, at=t, expected_seq=0)
    Traceback (most recent call last):
    ...
    notifiers.log.chain.StaleHead: expected the log's head at entry 0, it is at 1
    """

    def __init__(self) -> None:
        self._entries: list[LogEntry] = []
        self._lock = threading.Lock()

    def append_many(
        self, items: Iterable[LogItem], *, expected_seq: int | None = None
    ) -> list[LogEntry]:
        with self._lock:
            head = self._entries[-1] if self._entries else None
            prev_seq, prev_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
            check_head(expected_seq, prev_seq)
            batch = extend_chain(prev_seq, prev_hash, items)
            self._entries.extend(batch)
            return batch

    def entries(
        self,
        *,
        case_id: str | None = None,
        entity_id: str | None = None,
        kind: str | None = None,
        since_seq: int = 0,
    ) -> Iterator[LogEntry]:
        with self._lock:
            # seq n is at index n - 1 (appends are the only writes)
            snapshot = self._entries[max(since_seq, 0):]
        for entry in snapshot:
            if (
                (case_id is None or entry.case_id == case_id)
                and (entity_id is None or entry.entity_id == entity_id)
                and (kind is None or entry.kind == kind)
            ):
                yield entry
