"""How faust's consumer is tuned for Vigil: it drops no record, it commits what the
worker says is applied, it restores a table to the true end of its changelog, and its
fetches wait less.

faust's fetch loop keeps a "read offset" per partition and drops any record below it,
records a "gap" when offsets jump, and at a commit treats the gap as acked. Around a
rebalance it delivers records fetched before its re-seek to the committed offset, so the
read offset runs ahead, the re-fetched records are dropped, and a commit could pass
records no stage ever applied (a ``kill -9`` test lost events that way), or never pass
them (a restarted worker stalled). With :func:`install`:

* the read offset is always unknown, so nothing is dropped and no gap recorded: after
  any seek, every record from the seek position is delivered again, and
  ``streams.worker.delivery_order`` keeps each partition's records in order, once each;
* an app that sets ``vigil_commit_offsets`` (a mapping of ``(topic, partition)`` to the
  next offset, which the worker fills once a batch's effects are durable) commits
  exactly those offsets; faust's acked lists are no longer consulted;
* table recovery reads changelogs to their true end (:func:`log_ends`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog
from faust.transport.consumer import Consumer
from mode.utils.futures import notify

log = structlog.get_logger("vigil.worker")

_INSTALLED = False


class _NoReadOffsets(dict[Any, int | None]):
    """faust's read offsets, forever unknown (see the module docstring)."""

    def __getitem__(self, key: Any) -> None:
        return None

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def update(self, *args: Any, **kwargs: Any) -> None:
        pass


_NO_READ_OFFSETS = _NoReadOffsets()


def _commit_offsets(consumer: Any) -> Mapping[tuple[str, int], int] | None:
    return getattr(consumer.app, "vigil_commit_offsets", None)


def _patch_commits() -> None:
    faust_ack, faust_new_offset = Consumer.ack, Consumer._new_offset

    def ack(self: Any, message: Any) -> bool:
        if _commit_offsets(self) is None:
            return faust_ack(self, message)
        if message.acked:
            return False
        message.acked = True
        self._unacked_messages.discard(message)
        self._acked[message.tp]  # the partition now has offsets to commit
        self._n_acked += 1
        notify(self._waiting_for_ack)
        return True

    def new_offset(self: Any, tp: Any) -> int | None:
        offsets = _commit_offsets(self)
        if offsets is None:
            return faust_new_offset(self, tp)
        return offsets.get((tp.topic, tp.partition))

    Consumer.ack = ack  # type: ignore[method-assign]
    Consumer._new_offset = new_offset  # type: ignore[method-assign]
    Consumer._read_offset = property(  # type: ignore[assignment]
        lambda self: _NO_READ_OFFSETS, lambda self, value: None)


async def log_ends(consumer: Any, listed: Mapping[Any, int | None],
                   timeout: float = 10.0) -> dict[Any, int | None]:
    """The log end offset of each partition: the larger of ``listed`` (a ListOffsets
    answer) and the high watermark of a fetch, read by a short-lived consumer with
    ``consumer``'s connection settings.

    faust restores a table by reading its changelog up to the ListOffsets answer. The
    embedded broker (Tansu 0.6) answers the last record batch's base offset + 1, not the
    end, so a restarted or newly assigned worker restored its tables without the last
    batch of writes while its committed offsets already covered them: the events behind
    those writes were never applied again (lost pending episodes, monitor counts one or
    two short after a ``kill -9``). A fetch response carries the true end; on Apache
    Kafka both answers agree and this costs one fetch per rebalance. Empty partitions
    need no fetch:

    >>> import asyncio
    >>> asyncio.run(log_ends(None, {"events-0": 0, "events-1": None}))
    {'events-0': 0, 'events-1': None}
    """
    probe_at = {tp: end - 1 for tp, end in listed.items() if end}
    if not probe_at:
        return dict(listed)
    ends = dict(listed)
    async with _probe(consumer, probe_at) as probe:
        waiting, deadline = set(probe_at), time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            await probe.getmany(timeout_ms=200, max_records=1)
            for tp in list(waiting):
                highwater = probe.highwater(tp)
                if highwater is not None:
                    ends[tp] = max(highwater, listed[tp] or 0)
                    waiting.discard(tp)
        if waiting:
            log.warning("log_end_unconfirmed", partitions=sorted(map(str, waiting)))
    return ends


async def first_offsets(consumer: Any, starts: Mapping[Any, int], timeout: float = 10.0
                        ) -> dict[Any, int | None]:
    """Per partition, the offset of the first record the broker holds at or after
    ``starts[tp]`` (None if none, or no answer within ``timeout``): whether offsets
    skipped in a delivery hold records at all (a transaction marker holds none)."""
    found: dict[Any, int | None] = dict.fromkeys(starts)
    async with _probe(consumer, starts) as probe:
        waiting, deadline = set(starts), time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            batch = await probe.getmany(timeout_ms=200)
            for tp in list(waiting):
                records = batch.get(tp)
                highwater = probe.highwater(tp)
                if records:
                    found[tp] = records[0].offset
                elif highwater is None or highwater > starts[tp]:
                    continue
                waiting.discard(tp)
    return found


@asynccontextmanager
async def _probe(consumer: Any, positions: Mapping[Any, int]) -> AsyncIterator[Any]:
    """A short-lived consumer with ``consumer``'s connection settings, no group, its
    partitions at ``positions``."""
    from aiokafka import AIOKafkaConsumer

    client = consumer._client
    probe = AIOKafkaConsumer(
        bootstrap_servers=client._bootstrap_servers, client_id="vigil-probe",
        security_protocol=client._security_protocol, ssl_context=client._ssl_context,
        sasl_mechanism=client._sasl_mechanism,
        sasl_plain_username=client._sasl_plain_username,
        sasl_plain_password=client._sasl_plain_password,
        group_id=None, enable_auto_commit=False,
    )
    await probe.start()
    try:
        probe.assign(list(positions))
        for tp, offset in positions.items():
            probe.seek(tp, offset)
        yield probe
    finally:
        await probe.stop()


def install() -> None:
    """Patch faust's consumer as described above (once per process)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    _patch_commits()
    listed_ends = AIOKafkaConsumerThread._highwaters

    async def highwaters(self: Any, partitions: Any) -> Mapping[Any, int | None]:
        listed = await listed_ends(self, partitions)
        if self.consumer.in_transaction:
            return listed
        return await log_ends(self._ensure_consumer(), listed)

    AIOKafkaConsumerThread._highwaters = highwaters  # type: ignore[method-assign]
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
