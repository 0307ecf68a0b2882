"""Where a partition's delivery order starts after a rebalance, and why it is the group's
committed offset, not the first record faust delivers (``streams.worker.delivery_order``).

faust can deliver, after a rebalance, a record it had fetched before (a put to a stream's
queue that waited out the rebalance, after the queue was cleared of the ones before it).
Then the consumer, seeked to the committed offset, delivers again from there.
"""

from __future__ import annotations

from streams.worker.delivery_order import DeliveryOrder
from streams.worker.records import Record

TOPIC = "events"


def _records(*offsets: int) -> list[Record]:
    return [Record(0, offset, b"") for offset in offsets]


def _offsets(records: list[Record]) -> list[int]:
    return [record.offset for record in records]


def test_a_stale_record_first_is_a_hole_when_the_order_starts_at_the_committed_offset(
) -> None:
    order = DeliveryOrder()
    order.resume(TOPIC, 0, 10)  # the group's committed offset, asked before admitting
    admitted, holes = order.admit(TOPIC, _records(14))  # fetched before the rebalance
    assert (_offsets(admitted), holes) == ([], {0: (10, 14)})  # the worker seeks to 10
    admitted, holes = order.admit(TOPIC, _records(10, 11, 12, 13, 14, 15))
    assert (_offsets(admitted), holes) == ([10, 11, 12, 13, 14, 15], {})


def test_taken_as_the_start_the_stale_record_would_lose_the_records_before_it() -> None:
    """What the worker did before it asked the group: 10 to 13 were never applied."""
    order = DeliveryOrder()
    order.admit(TOPIC, _records(14))
    admitted, holes = order.admit(TOPIC, _records(10, 11, 12, 13, 14, 15))
    assert (_offsets(admitted), holes) == ([15], {})


def test_a_kept_partition_keeps_its_order_across_a_rebalance() -> None:
    """Redelivered from the committed offset (below what was applied: the stages still
    hold those records' items), the applied records are dropped and the rest admitted;
    a stale record beyond the next is a hole, not a new start."""
    order = DeliveryOrder()
    order.resume(TOPIC, 0, 10)
    order.admit(TOPIC, _records(10, 11, 12, 13))
    # the rebalance: partition 0 revoked and assigned again, so not forgotten
    admitted, holes = order.admit(TOPIC, _records(16))
    assert (_offsets(admitted), holes) == ([], {0: (14, 16)})
    admitted, holes = order.admit(TOPIC, _records(11, 12, 13, 14, 15, 16))
    assert (_offsets(admitted), holes) == ([14, 15, 16], {})


def test_a_forgotten_partition_starts_afresh() -> None:
    order = DeliveryOrder()
    order.resume(TOPIC, 0, 10)
    order.admit(TOPIC, _records(10, 11))
    order.forget([(TOPIC, 0)])
    assert order.next_offset(TOPIC, 0) is None
