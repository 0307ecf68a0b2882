"""The escalation log as the escalation side sees it: an append-only, hash-chained record.

A copy of the interface the log's own branch implements (``notifiers/escalation_log.py``),
kept here so that the engine, delivery and API code against a Protocol rather than a
backend; the lead reconciles the two on merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One fact in the log. ``payload`` is JSON-ready (datetimes as RFC 3339 strings)."""

    seq: int
    at: datetime
    kind: str
    case_id: str | None
    entity_id: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of checking the hash chain from the first entry to the last."""

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None
    last_hash: str = GENESIS_HASH


class LogItem(NamedTuple):
    """One entry to append, as given to :meth:`EscalationLog.append_many`."""

    kind: str
    payload: dict[str, Any]
    at: datetime
    case_id: str | None = None
    entity_id: str | None = None


class EscalationLog(Protocol):
    """Append-only log of everything the escalation engine decides and every delivery."""

    def append(self, kind: str, payload: dict[str, Any], *, at: datetime,
               case_id: str | None = None, entity_id: str | None = None) -> LogEntry: ...

    def append_many(self, items: Iterable[LogItem]) -> list[LogEntry]: ...

    def entries(self, *, case_id: str | None = None, entity_id: str | None = None,
                kind: str | None = None, since_seq: int = 0) -> Iterator[LogEntry]: ...

    def verify(self) -> VerifyResult: ...

    def close(self) -> None: ...
