"""Which of the records faust delivers a stage may apply: each partition's records in
offset order, each once, none skipped; and the offset the worker may commit.

faust's consumer does not promise that on its own. Around a rebalance it can deliver a
record fetched before its re-seek to the committed offset, then (by design) drop the
re-fetched records below it; it can discard fetched records when its flow stops; and it
delivers the last record it read again after a re-seek. Its commit then "fills the
gap" and can commit past records no stage ever saw. ``streams.worker.transport`` turns
faust's dropping and gap filling off, so every record is delivered again after a seek,
and makes faust commit what :class:`DeliveryOrder` says is applied.

The worker starts each newly assigned partition's order at the group's committed offset
(:meth:`DeliveryOrder.resume`) before it admits any of its records, not at the first record
delivered: faust can deliver, after a rebalance, a record it fetched before (taken as the
start, the records between the committed offset and it would look like copies and be
dropped). A partition kept across a rebalance keeps its order. With no start set, the first
record delivered starts it (as in these examples); then only the next offset is admitted:

>>> from streams.worker.records import Record
>>> def delivered(*offsets): return [Record(0, offset, b"") for offset in offsets]
>>> def offsets(records): return [record.offset for record in records]
>>> order = DeliveryOrder()
>>> admitted, holes = order.admit("events", delivered(5, 6, 6, 9, 10))
>>> offsets(admitted), holes
([5, 6], {0: (7, 9)})

A duplicate is skipped; a record beyond a hole waits for the worker to re-seek the
partition to the expected offset (or, when the broker holds nothing there, as after a
transaction marker, to move the order on with :meth:`resume`):

>>> admitted, holes = order.admit("events", delivered(7, 8, 9))
>>> offsets(admitted), holes
([7, 8, 9], {})
>>> order.resume("events", 0, 12)
>>> offsets(order.admit("events", delivered(12))[0])
[12]
>>> order.next_offset("events", 0)
13
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar


class Delivered(Protocol):
    """A delivered record: its partition and offset."""

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...


R = TypeVar("R", bound=Delivered)


class DeliveryOrder:
    """The next offset each (topic, partition) may apply, and what a batch admits."""

    __slots__ = ("next",)

    def __init__(self) -> None:
        self.next: dict[tuple[str, int], int] = {}

    def admit(self, topic: str, records: Sequence[R]
              ) -> tuple[list[R], dict[int, tuple[int, int]]]:
        """The records to apply, in order, and per partition a hole: (the offset
        expected, the first offset delivered beyond it)."""
        admitted: list[R] = []
        holes: dict[int, tuple[int, int]] = {}
        following = self.next
        for record in records:
            partition, offset = record.partition, record.offset
            key = (topic, partition)
            expected = following.get(key)
            if expected is None or offset == expected:
                following[key] = offset + 1
                admitted.append(record)
            elif offset > expected and partition not in holes:
                holes[partition] = (expected, offset)
        return admitted, holes

    def resume(self, topic: str, partition: int, offset: int) -> None:
        """Expect ``offset`` next (the broker holds nothing between)."""
        self.next[topic, partition] = offset

    def next_offset(self, topic: str, partition: int) -> int | None:
        """The offset after the last one admitted: what the worker may commit once the
        batch that applied it is durable."""
        return self.next.get((topic, partition))

    def forget(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Drop revoked partitions: a later assignment starts them afresh."""
        for key in partitions:
            self.next.pop((key[0], key[1]), None)
