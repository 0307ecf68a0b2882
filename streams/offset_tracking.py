"""How faust's consumer is tuned for Vigil: which offset it may commit (its acked offsets
per partition, each counted once) and how long a fetch may wait.

faust's consumer commits, per partition, the end of the first run of consecutive acked
offsets. It also records "gaps" (offsets it skipped over, as compacted or transactional
topics leave) and, at the next commit, adds them to the acked list. Around a rebalance
(a restarted worker joins, then the killed member's session expires and the group
rebalances again) a record fetched before the re-seek to the committed offset arrives
after it, so faust records a false gap over offsets it had already delivered and acked;
they then sit in the acked list twice. Its run finder (``consecutive_numbers``) splits
``[5, 5, 6, 6, 7, 7]`` into runs of one or two, so every commit moved the offset by one
record: a restarted worker crawled at one event per partition per commit interval (a few
events a second) for minutes, which is why the kill -9 test timed out.

:func:`install` makes faust commit the first run of *distinct* acked offsets, gaps filled as
before. Filling a gap is faust's own behaviour, kept: the offsets in it were delivered
before the re-seek, and the stages' own state (watermarks, applied offsets) makes a
redelivery harmless.
"""

from __future__ import annotations

from typing import Any

from faust.transport.consumer import Consumer

_INSTALLED = False


def first_run(acked: list[int]) -> list[int]:
    """The first run of consecutive distinct offsets in sorted ``acked``.

    >>> first_run([5, 5, 6, 6, 7, 9])
    [5, 6, 7]
    >>> first_run([])
    []
    """
    run: list[int] = []
    for offset in acked:
        if run and offset == run[-1]:
            continue
        if run and offset != run[-1] + 1:
            break
        run.append(offset)
    return run


def _new_offset(self: Any, tp: Any) -> int | None:
    acked: list[int] = self._acked[tp]
    if not acked:
        return None
    gaps = self._gap[tp]
    if gaps:
        top = max(acked)
        filled = [o for gap in sorted(gaps.overlap(0, top), key=lambda g: g.begin)
                  for o in range(gap.begin, gap.end)]
        if filled:
            acked.extend(filled)
            gaps.chop(0, max(filled[-1], top + 1))
    acked[:] = sorted(set(acked))
    committed = self._committed_offset[tp]
    if committed and acked[0] - committed > 1:
        return None  # the record after the committed one is not acked yet
    run = first_run(acked)
    del acked[:len(run)]
    self._acked_index[tp].difference_update(run)
    return run[-1] + 1


def install() -> None:
    """Patch faust's consumer as described above (once per process)."""
    global _INSTALLED
    if not _INSTALLED:
        Consumer._new_offset = _new_offset
        _INSTALLED = True


def set_fetch_max_wait(milliseconds: int) -> None:
    """Make faust's worker consumers ask the broker to hold a fetch at most this long.

    faust's aiokafka driver hard-codes ``fetch_max_wait_ms=1500``; on a quiet topic every
    hop (events → observations → signals) can then wait that long for data that arrived
    meanwhile. The setting is read by aiokafka when the consumer starts.
    """
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    original = getattr(AIOKafkaConsumerThread, "_vigil_original_create", None)
    if original is None:
        original = AIOKafkaConsumerThread._create_worker_consumer
        AIOKafkaConsumerThread._vigil_original_create = original  # type: ignore[attr-defined]

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = milliseconds
        return consumer

    AIOKafkaConsumerThread._create_worker_consumer = create  # type: ignore[method-assign]
