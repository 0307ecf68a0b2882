"""The interface every escalation-log backend implements (:mod:`notifiers.log.sqlite`,
:mod:`notifiers.log.postgres`, :mod:`notifiers.log.memory`). Import it from
:mod:`notifiers.log.escalation_log`, which also chooses a backend by URL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Protocol, Self, runtime_checkable

from notifiers.log.chain import LogEntry, LogItem, VerifyResult, verify_chain


@runtime_checkable
class EscalationLog(Protocol):
    """What every escalation-log backend provides.

    The backends subclass it explicitly and supply :meth:`append_many`, :meth:`entries`
    and :meth:`close`; :meth:`append` (a batch of one), :meth:`verify` (the chain walked
    by :func:`~notifiers.log.chain.verify_chain`) and use as a context manager come from
    here, so every backend numbers, hashes and checks entries the same way.
    """

    def append(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        at: datetime,
        case_id: str | None = None,
        entity_id: str | None = None,
        expected_seq: int | None = None,
    ) -> LogEntry:
        """Append one fact at the head of the chain and return it, numbered and hashed.

        ``at`` is the time of the fact (tz-aware); ``payload`` must be JSON-ready (datetimes
        are written as RFC 3339 UTC text, which is how they read back). With
        ``expected_seq``, append only if the head is that entry (0: the log is empty), else
        raise :class:`StaleHead`.
        """
        return self.append_many(
            [LogItem(kind, payload, at, case_id, entity_id)], expected_seq=expected_seq
        )[0]

    def append_many(
        self, items: Iterable[LogItem], *, expected_seq: int | None = None
    ) -> list[LogEntry]:
        """Append ``(kind, payload, at, case_id, entity_id)`` items in one transaction
        (all or none), with the same ``expected_seq`` check as :meth:`append`."""
        ...

    def entries(
        self,
        *,
        case_id: str | None = None,
        entity_id: str | None = None,
        kind: str | None = None,
        since_seq: int = 0,
    ) -> Iterator[LogEntry]:
        """Entries with ``seq > since_seq`` matching every filter given, in ``seq`` order."""
        ...

    def verify(self) -> VerifyResult:
        """Walk the whole chain; report how many entries are intact and the first bad one."""
        return verify_chain(self.entries())

    def close(self) -> None:
        """Release the connection."""
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
