"""faust's aiokafka transport as Vigil runs it: the driver's classes, subclassed.

faust picks a transport by the scheme of the broker URL (``faust.transport.by_url``), and
takes schemes from the ``faust.transports`` entry points: pyproject.toml registers
``vigil = "streams.worker.transport:Transport"``, and ``streams.worker.app.Worker`` names
its brokers ``vigil://host:port``. Only the apps built that way behave as below; nothing of
faust or aiokafka is replaced for the rest of the process.

Each behaviour is switched on by an attribute the worker sets on its app (faust's
``app.conf`` takes no keys of its own); an app without them runs faust's driver as is:

``vigil_commit_offsets``
    A mapping of ``(topic, partition)`` to the next offset, which the worker fills once a
    batch's effects are durable. With it, :class:`VigilConsumer` commits exactly those
    offsets (faust's acked lists are no longer consulted) and never drops a record.

    faust's fetch loop keeps a "read offset" per partition and drops any record below it,
    records a "gap" when offsets jump, and at a commit treats the gap as acked. Around a
    rebalance it delivers records fetched before its re-seek to the committed offset, so
    the read offset runs ahead, the re-fetched records are dropped, and a commit could pass
    records no stage ever applied (a ``kill -9`` test lost events that way), or never pass
    them (a restarted worker stalled). Here the read offset is always unknown, so nothing
    is dropped and no gap recorded: after any seek, every record from the seek position is
    delivered again, and ``streams.worker.delivery_order`` keeps each partition's records
    in order, once each.

``vigil_bundled_topics``
    Topic names (with ``vigil_commit_offsets`` only) whose records are delivered as one faust
    message per partition and fetch, its value a :class:`Fetch` of the fetch's records in
    offset order (each a ``streams.worker.records.Record`` with its own offset), instead
    of one message each. faust's path per message (the message, the conductor, the
    channel queue, the stream's event, the ack) cost about 280 µs: far more than a stage
    spends on a record. The message's offset is the fetch's last, and it is acked once;
    the worker commits the offsets its records name (``vigil_commit_offsets``), so faust's
    read offsets and gaps, which would misread a bundle's offset span, play no part.
    faust's flow checks (generation, active partitions, a stopped flow) then apply to a
    whole fetch: a fetch cut off is fetched again after the worker's re-seek, as single
    records were.

``vigil_fetch_max_wait_ms``
    The longest the broker may hold a fetch (``VIGIL_FETCH_MAX_WAIT_MS``). faust's driver
    fixes ``fetch_max_wait_ms=1500``; on a quiet topic every hop (events → observations →
    signals) can then wait that long for data that arrived meanwhile.

``vigil_embedded_broker``
    True on the embedded broker (``VIGIL_BROKER_QUIRKS=tansu``): table recovery reads
    changelogs to their true end (``streams.worker.offset_tracking.log_ends``), since
    Tansu's ListOffsets answer falls short of it. On Apache Kafka the answer is right and
    faust's own is used.

>>> import faust.transport
>>> faust.transport.by_url("vigil://127.0.0.1:9092") is Transport
True
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, ClassVar, cast

import aiokafka
from faust.transport.consumer import ConsumerMessage, RecordMap
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, ConsumerT, Message
from mode.utils.futures import notify

from streams.worker.offset_tracking import log_ends
from streams.worker.records import Record

SCHEME = "vigil"
"""The broker URL scheme that selects :class:`Transport` (its ``faust.transports`` entry
point)."""


class _NoReadOffsets(dict[Any, int | None]):
    """faust's read offsets, forever unknown (see the module docstring).

    >>> offsets = _NoReadOffsets()
    >>> offsets["events-0"] = 41
    >>> offsets.update({"events-1": 7})
    >>> offsets["events-0"], len(offsets)
    (None, 0)
    """

    def __getitem__(self, key: Any) -> None:
        return None

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def update(self, *args: Any, **kwargs: Any) -> None:
        pass


_NO_READ_OFFSETS = _NoReadOffsets()


class Fetch:
    """The records of one fetch of one partition, in offset order: the value of the one
    faust message that delivers them (see ``vigil_bundled_topics``).

    >>> fetch = Fetch([Record(0, 7, b"a"), Record(0, 8, b"bc")])
    >>> len(fetch), fetch.last.offset, fetch.size
    (2, 8, 3)
    """

    __slots__ = ("last", "records", "size")

    def __init__(self, records: Sequence[Record]) -> None:
        if not records:
            raise ValueError("a fetch holds at least one record")
        self.records = records
        self.last = records[-1]
        self.size = sum(len(record.value) for record in records if record.value)

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return (f"Fetch(partition={self.last.partition}, offsets="
                f"{self.records[0].offset}..{self.last.offset})")


def fetch_of(records: Sequence[Any]) -> Fetch:
    """A :class:`Fetch` of aiokafka's records (``ConsumerRecord``) of one partition.

    >>> from aiokafka.structs import ConsumerRecord
    >>> fetch_of([ConsumerRecord("events", 3, 41, 1700000000123, 0, b"k", b"{}", None,
    ...                          1, 2, ())]).records
    [Record(partition=3, offset=41, value=b'{}', timestamp_ms=1700000000123, key=b'k')]
    """
    return Fetch([Record(r.partition, r.offset, r.value, r.timestamp or None, r.key)
                  for r in records])


class VigilConsumerThread(driver.AIOKafkaConsumerThread):
    """faust's aiokafka consumer thread with Vigil's fetch wait and, on the embedded
    broker, changelog ends from a fetch."""

    def _create_worker_consumer(self, transport: driver.Transport
                                ) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        wait = getattr(self.app, "vigil_fetch_max_wait_ms", None)
        if wait is not None:
            # aiokafka reads it when the consumer starts, which is after this returns.
            consumer._fetch_max_wait_ms = wait
        return consumer

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        listed = await super()._highwaters(partitions)
        if not getattr(self.app, "vigil_embedded_broker", False) \
                or self.consumer.in_transaction:
            return listed
        # A partition whose end no fetch confirmed keeps the listed answer.
        return cast(Mapping[TP, int], await log_ends(self._ensure_consumer(), listed))


def _commit_offsets(consumer: Any) -> Mapping[tuple[str, int], int] | None:
    return getattr(consumer.app, "vigil_commit_offsets", None)


def _bundled_topics(consumer: Any) -> Collection[str]:
    """The topics delivered as :class:`Fetch` messages: none unless the worker names the
    commit offsets (faust's own acks and gaps would take a fetch's span for one record)."""
    if _commit_offsets(consumer) is None:
        return ()
    return cast(Collection[str], getattr(consumer.app, "vigil_bundled_topics", ()))


class VigilConsumer(driver.Consumer):
    """faust's aiokafka consumer, committing the offsets the worker names (when its app
    has ``vigil_commit_offsets``) and running :class:`VigilConsumerThread`."""

    def _new_consumer_thread(self) -> VigilConsumerThread:
        return VigilConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _getmany(self, active_partitions: set[TP] | None, timeout: float
                       ) -> RecordMap:
        fetched = await super()._getmany(active_partitions, timeout)
        topics = _bundled_topics(self)
        if not topics or not fetched:
            return fetched
        # faust's getmany takes each partition's list for its records; a bundled
        # partition's list holds one Fetch, which _to_message makes one message.
        return {tp: [fetch_of(records)] if records and tp.topic in topics else records
                for tp, records in fetched.items()}

    def _to_message(self, tp: TP, record: Any) -> ConsumerMessage:
        if type(record) is not Fetch:
            return super()._to_message(tp, record)
        last = record.last
        timestamp = last.timestamp_ms
        return ConsumerMessage(
            tp.topic, tp.partition, last.offset,
            cast(float, None) if timestamp is None else timestamp / 1000.0, 0, None, None,
            cast(bytes, record), None, 0, record.size, tp,
            generation_id=self.app.consumer_generation_id)

    def ack(self, message: Message) -> bool:
        if _commit_offsets(self) is None:
            return super().ack(message)
        if message.acked:
            return False
        message.acked = True
        self._unacked_messages.discard(message)
        self._acked[message.tp]  # the partition now has offsets to commit
        self._n_acked += 1
        notify(self._waiting_for_ack)
        return True

    def _new_offset(self, tp: TP) -> int | None:
        offsets = _commit_offsets(self)
        if offsets is None:
            return super()._new_offset(tp)
        return offsets.get((tp.topic, tp.partition))

    # faust's Consumer.__init__ assigns its read offsets (a defaultdict); they are kept,
    # and read back only by an app without vigil_commit_offsets.
    @property  # type: ignore[override]
    def _read_offset(self) -> dict[TP, int | None]:
        if _commit_offsets(self) is not None:
            return _NO_READ_OFFSETS
        return self._faust_read_offset

    @_read_offset.setter
    def _read_offset(self, value: dict[TP, int | None]) -> None:
        self._faust_read_offset = value


class Transport(driver.Transport):
    """faust's aiokafka transport with :class:`VigilConsumer`; the producer is faust's."""

    Consumer: ClassVar[type[ConsumerT]] = VigilConsumer
