"""What the worker's stages read and write: Kafka records, bundles, partitions of a key, and
a stage partition's table records, whose last write proves the rest durable.

Effectively-once without transactions
-------------------------------------
Kafka redelivers everything after the last committed offset, so a stage may read a record
again whose effects are already (wholly or partly) in its table. Each stage therefore
computes a batch's outputs and state changes in memory; the worker publishes the outputs
and flushes the producer, *then* writes the state (each key once per batch) and flushes
again, and only then commits offsets; so no offset is committed before the state it covers
is durable, and state never records a record whose outputs were lost.

A stage's table records are ``{"v": value, "prev": value before the batch, "b": last offset
of the batch that wrote it}``, and each input partition has a *mark* ``w:<partition>``
(:data:`MARK`) written after them, to the same changelog partition, so its presence proves
theirs: ``{"o": last offset of the last batch whose writes are durable, ...}`` plus the
stage's own partition-wide state. A record whose batch is beyond the mark belongs to a batch
cut short by a crash and reads as its ``prev``.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic_core

Table = Mapping[str, Any]

BUNDLE_SIZE = 500
"""Most items in one message between stages (keeps messages far below 1 MB)."""
MARK = "w:"
"""The prefix of a stage partition's mark record in its table."""


@dataclass(frozen=True, slots=True)
class Record:
    """A Kafka record as a stage sees it."""

    partition: int
    offset: int
    value: bytes
    timestamp_ms: int | None = None
    key: bytes | None = None


def partition_of(key: str, partitions: int) -> int:
    """The partition of a key (a route, an entity): stable across processes and versions,
    unlike Python's ``hash``.

    >>> partition_of("death_30d|provider|RXF", 4)
    1
    """
    return zlib.crc32(key.encode()) % partitions


def entity_key(metric: str, entity_type: str, entity_id: str) -> str:
    """The observations' routing key and the monitor table's key.

    >>> entity_key("death_30d", "provider", "RXF")
    'death_30d|provider|RXF'
    """
    return f"{metric}|{entity_type}|{entity_id}"


def dumps(value: Any) -> bytes:
    """A value as the stages write it between them and to their tables' changelogs: JSON,
    compact, UTF-8, by pydantic-core (about four times ``json.dumps``' speed; JSON
    encoding was a tenth of the worker's time). ``json.loads`` reads it back the same.

    >>> dumps({"o": 5, "w": [1e-07, float("inf")], "é": None})
    b'{"o":5,"w":[1e-7,Infinity],"\xc3\xa9":null}'
    """
    return pydantic_core.to_json(value, inf_nan_mode="constants")


def loads(value: bytes | str) -> Any:
    """A stage's input record or a changelog value (what :func:`dumps` or ``json.dumps``
    wrote); ValueError when it is not JSON.

    >>> loads(b'{"w":[1e-7,Infinity]}')
    {'w': [1e-07, inf]}
    """
    return pydantic_core.from_json(value)


def chunks(items: list[Any], size: int = BUNDLE_SIZE) -> list[list[Any]]:
    """``items`` in runs of at most ``size`` (at least one run, perhaps empty).

    >>> chunks([1, 2, 3], 2), chunks([], 2)
    ([[1, 2], [3]], [[]])
    """
    return [items[i:i + size] for i in range(0, len(items), size)] or [[]]


class PartitionView:
    """Reads and batch-local writes of one input partition's table records. A value read
    is the table's own object: a stage copies what it changes (``write`` a new value)."""

    __slots__ = ("batch_end", "mark", "original", "overlay", "partition", "stale", "table",
                 "watermark")

    def __init__(self, table: Table, partition: int, batch_end: int) -> None:
        self.table = table
        self.partition = partition
        self.batch_end = batch_end
        mark = table.get(f"{MARK}{partition}")
        self.mark: dict[str, Any] = dict(mark) if mark else {}
        """The stage's partition-wide state as of the last durable batch; the stage
        updates it in place and it is written last."""
        self.watermark: int = -1 if mark is None else int(mark["o"])
        self.overlay: dict[str, Any] = {}
        self.original: dict[str, Any] = {}
        self.stale: set[str] = set()

    def read(self, key: str) -> Any:
        if key in self.overlay:
            return self.overlay[key]
        record = self.table.get(key)
        if record is None:
            return None
        if record["b"] > self.watermark:  # written by a batch a crash cut short
            self.stale.add(key)
            return record["prev"]
        return record["v"]

    def write(self, key: str, value: Any) -> None:
        if key not in self.original:
            self.original[key] = self.read(key)
        self.overlay[key] = value

    def writes(self) -> dict[str, Any]:
        out = {
            key: {"v": value, "prev": self.original[key], "b": self.batch_end}
            for key, value in self.overlay.items()
            if value != self.original[key] or key in self.stale
        }
        # Last: its presence proves the rest durable. Never lower it: a batch read again
        # from an older commit ends below it, and a lowered mark would make records of
        # several later batches read as "cut short" at once, when only one batch can be.
        if self.batch_end > self.watermark:
            out[f"{MARK}{self.partition}"] = {**self.mark, "o": self.batch_end}
        return out


def partition_views(batch: Sequence[Record], table: Table) -> dict[int, PartitionView]:
    """A view of each partition the batch holds records of, ending at its last offset."""
    ends: dict[int, int] = {}
    for record in batch:
        ends[record.partition] = max(ends.get(record.partition, -1), record.offset)
    return {p: PartitionView(table, p, end) for p, end in ends.items()}


def current_values(items: Mapping[str, Any], partitions: int) -> dict[str, Any]:
    """The values a stage's table holds, from its records (e.g. the last value per key of
    its changelog), each key on partition ``partition_of(key, partitions)``: each record's
    value, or its ``prev`` when its batch was cut short (beyond its partition's mark);
    marks and deleted keys left out.

    >>> current_values({"w:0": {"o": 5}, "a": {"v": 1, "prev": None, "b": 5},
    ...                 "b": {"v": 2, "prev": 1, "b": 9}}, 1)
    {'a': 1, 'b': 1}
    """
    marks = {int(k[len(MARK):]): int(v["o"]) for k, v in items.items()
             if k.startswith(MARK) and v is not None}
    out = {}
    for key, record in items.items():
        if key.startswith(MARK) or record is None:
            continue
        durable = marks.get(partition_of(key, partitions), -1)
        value = record["prev"] if record["b"] > durable else record["v"]
        if value is not None:
            out[key] = value
    return out
