"""Stage 1 of the worker: read the events topic, whatever its keys, and repartition.

Each event is checked against the contract (a rejection goes to the dead letters with its
reason, NHS numbers pseudonymised) and forwarded, pseudonymised and with its canonical key
(``streams.pipeline.order.EventKey``), to the episodes topic's partition of its route
(``route_of``: its episode), so a procedure, its outcomes and its revisions meet in one place
however the producers keyed them. After each batch the stage tells every episodes
partition how far each events partition it read has got in event time (a *mark*: the
latest ``occurred_at`` read there), and when a partition has had nothing to read for the
idle timeout, that it is idle; those marks are what stage 2's watermark is made of. A
partition coming back from idle is announced active *before* its records, so no record is
read while its partition still counts as idle.

The stage keeps no table: Kafka redelivers what it has not committed, and stage 2 drops a
copy of a record it has already taken (same source partition and offset).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.contract.events import InvalidEvent, parse_event
from streams.contract.pseudonym import Pseudonymiser
from streams.contract.rejections import event_id_of, rejection_record
from streams.pipeline.order import event_key, route_of
from streams.worker import quarantine
from streams.worker.quarantine import OnInternalError
from streams.worker.records import Record, chunks, dumps, partition_of


@dataclass(slots=True)
class IngestBatch:
    """What stage 1 made of a batch."""

    bundles: list[tuple[int, bytes]] = field(default_factory=list)
    """(episodes partition, value) messages: ``{"pre": marks, "i": items, "m": marks}``."""
    dead_letters: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    forwarded: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    quarantined: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)
    critical: list[dict[str, Any]] = field(default_factory=list)


def dead_letter(record: Record, error: InvalidEvent, pseudonymiser: Pseudonymiser
                ) -> dict[str, Any]:
    """A dead-letter message: the reason and the line with any NHS number pseudonymised,
    cut to a size any broker takes (``streams.contract.rejections``); never raises."""
    letter = rejection_record(record.value, error, pseudonymiser)
    return {"event_id": letter.pop("event_id"), "reason_code": letter.pop("reason_code"),
            "reason": letter.pop("reason"), "source": [record.partition, record.offset],
            **letter}


class IngestStage:
    """Stage 1: the contract, the route, and the marks of event-time progress."""

    def __init__(self, pseudonymiser: Pseudonymiser, partitions: int, idle_timeout: float,
                 on_internal_error: OnInternalError = "quarantine",
                 clock: Callable[[], float] = time.time) -> None:
        self.pseudonymiser = pseudonymiser
        self.partitions = partitions
        """Partitions of the episodes topic."""
        self.idle_timeout = idle_timeout
        self.on_internal_error = on_internal_error
        self.clock = clock
        self.latest: dict[int, int] = {}
        """Events partition → the latest event time read there (µs)."""
        self.last_read: dict[int, float] = {}
        self.idle: dict[int, bool] = {}
        """As last announced; a partition not in it is announced active before its
        records."""

    def assigned(self, partitions: Iterable[int]) -> None:
        now = self.clock()
        for partition in partitions:
            self.last_read[partition] = now
            self.idle.pop(partition, None)

    def revoked(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.last_read.pop(partition, None)
            self.idle.pop(partition, None)
            self.latest.pop(partition, None)

    def _mark(self, partition: int, idle: bool, now: float) -> list[Any]:
        return [str(partition), self.latest.get(partition), idle, [int(now * 1000)]]

    def run(self, batch: Sequence[Record]) -> IngestBatch:
        result = IngestBatch()
        now = self.clock()
        read = sorted({record.partition for record in batch})
        pre = [self._mark(p, False, now) for p in read if self.idle.get(p, True)]
        items: dict[int, list[dict[str, Any]]] = {}
        for record in batch:
            self._one(record, result, items)
        for partition in read:
            self.last_read[partition] = now
            self.idle[partition] = False
        marks = [self._mark(p, False, now) for p in read]
        for partition in range(self.partitions):
            runs = chunks(items.get(partition, []))
            for i, run in enumerate(runs):
                message: dict[str, Any] = {"i": run}
                if i == 0 and pre:
                    message["pre"] = pre
                if i == len(runs) - 1 and marks:
                    message["m"] = marks
                if run or "pre" in message or "m" in message:
                    result.bundles.append((partition, dumps(message)))
        return result

    def idle_marks(self, assigned: Iterable[int],
                   caught_up: Callable[[int], bool] = lambda partition: True
                   ) -> list[tuple[int, bytes]]:
        """Messages announcing the assigned partitions that have had nothing to read for
        the idle timeout (each once, until it is read again). A partition with records
        still to read (``caught_up`` false: a worker recovering its tables, or behind)
        is not idle, however long since it was last read."""
        now = self.clock()
        marks = []
        for partition in assigned:
            if not caught_up(partition):
                self.last_read[partition] = now
                continue
            since = self.last_read.setdefault(partition, now)
            if not self.idle.get(partition) and now - since >= self.idle_timeout:
                self.idle[partition] = True
                marks.append(self._mark(partition, True, now))
        if not marks:
            return []
        value = dumps({"m": marks})
        return [(partition, value) for partition in range(self.partitions)]

    def _one(self, record: Record, result: IngestBatch,
             items: dict[int, list[dict[str, Any]]]) -> None:
        try:
            event = parse_event(record.value, self.pseudonymiser)
            key = event_key(event.occurred_at, event.event_id, record.value)
            route = route_of(event)
            item = {"src": [record.partition, record.offset], "k": list(key), "r": route,
                    "ts": record.timestamp_ms,
                    "ev": event.model_dump_json(exclude_none=True)}
        except InvalidEvent as error:
            result.rejected[error.code] += 1
            result.dead_letters.append((record.key, dumps(dead_letter(
                record, error, self.pseudonymiser))))
            result.log.append({"event": "event_rejected",
                               "event_id": event_id_of(record.value, self.pseudonymiser),
                               "reason_code": error.code, "partition": record.partition,
                               "offset": record.offset})
            return
        except Exception as error:
            if self.on_internal_error == "stop":
                raise
            bounded = rejection_record(record.value, error, self.pseudonymiser)
            letter = quarantine.quarantine_letter(
                "ingest", error, event_id=bounded.get("event_id"),
                source=[record.partition, record.offset], raw=str(bounded.get("raw", "")))
            result.quarantined += 1
            result.dead_letters.append((record.key, quarantine.safe_dumps(letter)))
            result.critical.append(quarantine.log_entry(letter, error))
            return
        if key.time_us > self.latest.get(record.partition, -1):
            self.latest[record.partition] = key.time_us
        result.forwarded += 1
        items.setdefault(partition_of(route, self.partitions), []).append(item)
