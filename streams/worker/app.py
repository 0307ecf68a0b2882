"""The streaming worker: a faust app running the shared pipeline core on Kafka.

Topology (three stages; each record's partition is chosen from the data, so the answer does
not depend on how producers keyed the events)::

    events topic (any key, or none)
      └─ agent ``ingest`` (stage 1: contract; no table)           streams.worker.ingest_stage
           ├─ dead-letter topic (reason + line with NHS numbers pseudonymised)
           └─ episodes topic (partition: the event's route, i.e. its episode; bundles of
              events with their canonical keys, then the marks of event-time progress)
                └─ agent ``episodes`` (stage 2: canonical order, de-duplication, join)
                     table ``episodes``                             streams.worker.episode_stage
                     └─ observations topic (partition: metric|entity_type|entity_id;
                        bundles of observations, then the partition's watermark)
                          └─ agent ``entities`` (stage 3: monitors, canonical order)
                               table ``monitors``                   streams.worker.entity_stage
                               └─ signals topic (key: metric|entity_type|entity_id)

Stages 2 and 3 hold what they read until a watermark passes it and apply it in the
canonical order (``streams.pipeline.order``), so, whenever no observation is late, every
entity's monitors and signals equal ``vigil replay``'s: devices and clinicians at several
trusts included, for any producers, keys, partition count, worker count or crash.

Effectively-once: see ``streams.worker.records``. Batches come from ``take_batches``, a
variant of faust's ``Stream.take_events`` that acks a batch only after the agent has
finished with it (faust's acks in a ``finally``, so an exception or a cancellation in the
middle of a batch would let its offsets be committed). Each batch passes through a
``DeliveryOrder`` (each partition's records in order from the group's committed offset,
once each, none skipped; a hole makes the worker seek back), and the worker commits,
once a batch's effects are durable, the offset after it, or that of the earliest record a
stage still holds (``streams.worker.transport`` makes faust commit exactly that).

Each stage's input topic is read a fetch at a time: ``streams.worker.transport`` delivers
each fetch of a partition as one faust message holding a ``Fetch`` of its records
(``vigil_bundled_topics``), and ``_records`` expands a batch's messages into their records,
each with its own offset, so the ``DeliveryOrder``, the commit offsets and the re-seeks see
records exactly as they would one message each; faust acks each fetch once.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import faust
import structlog
from faust import streams as faust_streams
from faust.types import TP, EventT, StreamT
from mode.utils.futures import notify

from streams.contract.pseudonym import Pseudonymiser
from streams.dashboard import install_dashboard  # dashboard hook
from streams.pipeline.core import Pipeline
from streams.settings import VigilSettings
from streams.worker import metrics, offset_tracking
from streams.worker.delivery_order import DeliveryOrder
from streams.worker.entity_stage import EntityStage
from streams.worker.episode_stage import EpisodeStage
from streams.worker.ingest_stage import IngestStage
from streams.worker.records import Record, dumps
from streams.worker.retry import write_durably
from streams.worker.transport import Fetch

log = structlog.get_logger("vigil.worker")

FETCHES_QUEUED = 64
"""Fetches a stage's agent may have waiting (each up to aiokafka's
``max_partition_fetch_bytes`` of records) before faust pauses fetching: one message per
record, faust's 4,096 were a few MB; as many fetches could have been gigabytes."""

COMMITTED_TIMEOUT = 10.0
"""Seconds to wait for the group's committed offset of one partition before asking again
(a coordinator that never answers must not hold a batch, or a stop, for ever)."""


class PartitionedTable(faust.Table):  # type: ignore[misc]
    """A table written only through ``write_partition``, which chooses the changelog
    partition: that of the source record the write belongs to. A batch mixes partitions,
    so faust's ``current_event`` cannot say which, and ``use_partitioner`` (hash of the
    table key) would put an episode's state on another partition than its events."""

    def partition_for_key(self, key: Any) -> int | None:
        raise RuntimeError("write this table with write_partition()")


async def write_partition(table: faust.Table, partition: int, writes: dict[str, Any]
                          ) -> list[asyncio.Future[Any]]:
    """Write ``writes`` to ``table``'s store and, in order, to changelog partition
    ``partition``; return the delivery futures.

    faust's own path (``table[key] = value``) queues changelog records in a buffer whose
    ``flush()`` gives up after 0.1 s without a send, so it cannot prove durability before
    a commit; these futures resolve only when the broker has acknowledged the record.
    """
    producer = table.app.producer
    topic = table.changelog_topic.get_topic_name()
    futures = []
    store = table.data
    partition_db = getattr(store, "_db_for_partition", None)  # RocksDB: one db per partition
    for key, value in writes.items():
        if partition_db is None:
            store[key] = value
        else:
            # faust's RocksDB store picks the partition's database from the current event,
            # which a batch written after the fact does not have: name the partition.
            encoded = store._encode_key(key)
            store._key_index[encoded] = partition
            partition_db(partition).put(encoded, store._encode_value(value))
        futures.append(await producer.send(topic, dumps(key), dumps(value), partition,
                                           None, None))
    return futures


def _size(event: EventT) -> int:
    """The Kafka records an event delivers: a fetch's (``vigil_bundled_topics``), or one."""
    value = event.message.value
    return len(value) if type(value) is Fetch else 1


async def take_batches(stream: StreamT, max_: int, within: float
                       ) -> AsyncIterator[Sequence[EventT]]:
    """Like ``Stream.take_events``, but acks a batch only when the consumer asks for the
    next one: a batch abandoned by an exception or cancellation stays uncommitted.

    A batch is full at ``max_`` Kafka records, an event bundling a fetch counting its
    records (so a batch may hold up to one fetch more)."""
    events: list[EventT] = []
    size = 0
    buffer_full = asyncio.Event()
    buffer_consumed = asyncio.Event()
    consuming: asyncio.Future[None] | None = None
    channel_it = stream.channel.__aiter__()

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming, size
        if consuming is not None:
            try:
                await consuming
            finally:
                consuming = None
        event = stream.current_event
        if event is None:
            raise RuntimeError("take_batches found current_event is None")
        events.append(event)
        size += _size(event)
        if size >= max_:
            buffer_full.set()
            buffer_consumed.clear()
            await stream.wait(buffer_consumed)  # type: ignore[arg-type]
        return value

    stream.enable_acks = False
    stream.add_processor(add_to_buffer)
    stream._enable_passive(channel_it)
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(buffer_full, timeout=within)  # type: ignore[arg-type]
            if events:
                consuming = asyncio.get_running_loop().create_future()
                yield list(events)
                for event in events:  # only reached when the batch was handled
                    await stream.ack(event)
                events.clear()
                size = 0
                notify(consuming)
                buffer_full.clear()
                buffer_consumed.set()
    finally:
        stream._processors.remove(add_to_buffer)


async def _finish(batch: Any) -> None:
    """Run a batch to the end even when the agent is cancelled (SIGTERM, rebalance): its
    writes then reach the changelog before this worker lets its partitions go, so the next
    owner recovers them instead of racing a late write. The batch is not acked then, and
    the next owner skips it as already applied."""
    task = asyncio.ensure_future(batch)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


def _records(events: Sequence[EventT]) -> list[Record]:
    """The Kafka records a batch of events delivers, in delivery order: a fetch's
    (``vigil_bundled_topics``) each with its own offset, or the event's message."""
    out: list[Record] = []
    for event in events:
        message = event.message
        value = message.value
        if type(value) is Fetch:
            out += cast(Fetch, value).records
            continue
        timestamp = message.timestamp
        out.append(Record(message.partition, message.offset, message.value,
                          int(timestamp * 1000) if timestamp else None, message.key))
    return out


def _input_topic(app: faust.App, name: str, partitions: int, internal: bool) -> Any:
    """A stage's input topic, raw bytes. Its records arrive a fetch per message
    (``vigil_bundled_topics``), so its agent's queue holds :data:`FETCHES_QUEUED` fetches,
    not ``stream_buffer_maxsize`` (which table recovery's queue of single changelog
    records keeps), before faust pauses fetching. ``faust.Topic`` itself: ``app.topic()``
    drops its ``maxsize`` argument."""
    return app.conf.Topic(app, topics=[name], partitions=partitions, key_serializer="raw",
                          value_serializer="raw", internal=internal, maxsize=FETCHES_QUEUED)


def _names(partitions: Any) -> list[str]:
    """Topic partitions as ``topic:partition`` strings, sorted (for the log)."""
    return sorted(f"{tp.topic}:{tp.partition}" for tp in partitions)


def _log_batch(stage: str, records: Sequence[Record], **counts: int) -> None:
    """An INFO line for a batch that skipped, flushed or took late anything: what a
    restart, a rebalance or the end of a backfill did (otherwise batches are silent)."""
    if any(counts.values()):
        log.info("batch_applied", stage=stage, records=len(records),
                 partitions=sorted({r.partition for r in records}), **counts)


def _credentials(settings: VigilSettings) -> Any:
    context = settings.ssl_context()
    if settings.sasl_mechanism:
        assert settings.sasl_password is not None
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password.get_secret_value(),
            ssl_context=context, mechanism=settings.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def _forget_current_event() -> None:
    """Clear faust's current event in this task (``_finish`` runs each batch in its own).
    faust's RocksDB store reads a key from the current event's partition only, and a batch
    spans partitions: without an event it looks the key up in every partition it holds."""
    faust_streams._current_event.set(None)


def _view_handler(method: Any) -> Any:
    """A plain function for ``app.page``: faust makes the handler a method of a View class,
    so it is called with the view first; a bound method would take the view for its
    ``web`` argument and miss ``request`` (every request a 500)."""

    async def handler(view: Any, request: Any) -> Any:
        return await method(view, request)

    return handler


class Worker:
    """The faust app and its three agents, built from settings and a pipeline."""

    def __init__(self, settings: VigilSettings, pipeline: Pipeline,
                 pseudonymiser: Pseudonymiser, escalation: Any = None) -> None:
        if not settings.bootstrap_servers:
            raise ValueError("no Kafka cluster configured (VIGIL_BOOTSTRAP_SERVERS)")
        self.settings = settings
        self.pipeline = pipeline
        self.ingest_stage = IngestStage(pseudonymiser, settings.partitions,
                                        settings.idle_timeout, settings.on_internal_error)
        self.episode_stage = EpisodeStage(pipeline, pseudonymiser, settings.partitions,
                                          int(settings.allowed_lateness * 1_000_000),
                                          settings.on_internal_error)
        self.entity_stage = EntityStage(pipeline, settings.partitions,
                                        settings.on_internal_error)
        # vigil://: faust's aiokafka driver as streams.worker.transport subclasses it
        servers = [f"vigil://{s.strip()}" for s in settings.bootstrap_servers.split(",")]
        self.app = app = faust.App(
            settings.app_id,
            broker=servers,
            broker_credentials=_credentials(settings),
            store=settings.store,
            topic_partitions=settings.partitions,
            topic_replication_factor=settings.replication_factor,
            web_port=settings.web_port,
            web_enabled=True,
            broker_session_timeout=settings.session_timeout,
            broker_heartbeat_interval=settings.heartbeat_interval,
            broker_commit_interval=settings.commit_interval,
            table_standby_replicas=0,
            processing_guarantee="at_least_once",
            producer_acks=-1,
            consumer_auto_offset_reset="earliest",
            stream_buffer_maxsize=max(4096, 2 * settings.batch_size),
            autodiscover=False,
            key_serializer="raw",
            value_serializer="raw",
        )
        p = settings.partitions
        self.events_topic = _input_topic(app, settings.events_topic, p, internal=False)
        self.episodes_topic = _input_topic(app, settings.episodes_topic, p, internal=True)
        self.observations_topic = _input_topic(app, settings.observations_topic, p,
                                               internal=True)
        self.signals_topic = app.topic(settings.signals_topic, partitions=p, internal=True)
        self.dead_letter_topic = app.topic(settings.dead_letter_topic, partitions=p,
                                           internal=True)
        self.episodes = self._table("episodes", "per episode: events seen, pending "
                                    "procedure, waiting outcomes; per partition: marks")
        self.monitors = self._table("monitors", "monitor state per entity")
        self.order = DeliveryOrder()
        self.commit_offsets: dict[tuple[str, int], int] = {}
        app.vigil_commit_offsets = self.commit_offsets  # read by streams.worker.transport
        # Each fetch of a stage's input partition is one faust message (a Fetch).
        app.vigil_bundled_topics = frozenset({settings.events_topic, settings.episodes_topic,
                                              settings.observations_topic})
        app.vigil_fetch_max_wait_ms = settings.fetch_max_wait_ms
        app.vigil_embedded_broker = settings.broker_quirks == "tansu"
        self._revoked: set[tuple[str, int]] = set()
        self._rebalances = 0
        """Counts rebalance callbacks: an answer asked for before one is stale after it."""
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_partitions_assigned.connect(self._on_assigned)
        app.agent(self.events_topic, name="ingest")(self._ingest_agent)
        app.agent(self.episodes_topic, name="episodes")(self._episodes_agent)
        app.agent(self.observations_topic, name="entities")(self._entities_agent)
        app.task(self._declare_topics)
        app.timer(min(1.0, settings.idle_timeout / 2))(self._idle_marks)
        app.timer(5.0)(self._gauges)
        app.page("/metrics", name="metrics")(_view_handler(self._metrics_page))
        app.page("/healthz", name="healthz")(_view_handler(self._healthz))
        app.page("/readyz", name="readyz")(_view_handler(self._readyz))
        self.escalation = escalation  # streams.worker.escalation.EscalationSide
        if escalation is not None:
            app.task(escalation.run)
            api = escalation.api()
            if api is not None:
                app.web.web_app.add_subapp("/api", api)
        install_dashboard(self)  # dashboard hook: chart history + /dashboard/ pages

    def _table(self, name: str, help: str) -> faust.Table:
        table = PartitionedTable(
            self.app, name=name, default=None, beacon=self.app.tables.beacon,
            partitions=self.settings.partitions, help=help,
            schema=faust.Schema(key_serializer="json", value_serializer="json"),
        )
        return self.app.tables.add(table)

    async def _declare_topics(self) -> None:
        outputs = (self.signals_topic, self.dead_letter_topic, self.episodes_topic,
                   self.observations_topic)
        for topic in outputs:
            await topic.maybe_declare()
        await self._track_output_topics(
            [*outputs, self.episodes.changelog_topic, self.monitors.changelog_topic])

    async def _track_output_topics(self, topics: Sequence[Any]) -> None:
        """Make the producer's client keep the metadata of every topic the worker writes.

        aiokafka's client asks only for the topics in its list once the list is not empty,
        and a send adds its topic to the list only if the cluster metadata lacks it. A
        topic first known from a request for all topics (an empty list, as at start-up) is
        never added, and the next refresh forgets it: its leader is then unknown, the
        sender holds its records, and the batch that sent them waits for ever (a CI run
        showed stage 2 stuck so on its changelog, and then its stop)."""
        client = self.app.producer._ensure_producer().client
        await asyncio.gather(*(client.add_topic(topic.get_topic_name()) for topic in topics))

    def _crash(self, stage: str, error: BaseException) -> None:
        # A bug outside any one record's processing, or VIGIL_ON_INTERNAL_ERROR=stop: die
        # like kill -9 rather than let faust commit the batch.
        log.critical("stage_failed", stage=stage, error=repr(error), exc_info=error)
        os._exit(70)

    async def _ingest_agent(self, stream: StreamT) -> None:
        settings = self.settings
        async for events in take_batches(stream, settings.batch_size, settings.batch_within):
            await _finish(self._ingest_batch(events))

    async def _episodes_agent(self, stream: StreamT) -> None:
        settings = self.settings
        async for events in take_batches(stream, settings.batch_size, settings.batch_within):
            await _finish(self._episode_batch(events))

    async def _entities_agent(self, stream: StreamT) -> None:
        settings = self.settings
        async for events in take_batches(stream, settings.batch_size, settings.batch_within):
            await _finish(self._entity_batch(events))

    async def _send_all(self, messages: Any) -> None:
        """Send (topic, key, value, partition) messages, in order, and wait until the
        broker has them all."""
        producer = self.app.producer
        sent = [await producer.send(topic, key, value, partition, None, None)
                for topic, key, value, partition in messages]
        await asyncio.gather(*sent)

    async def _ingest_batch(self, events: Sequence[EventT]) -> None:
        _forget_current_event()
        settings = self.settings
        try:
            records, holes = await self._admit(settings.events_topic, events)
            out = self.ingest_stage.run(records)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._crash("ingest", error)

        async def write() -> None:
            await self._send_all(
                [(settings.episodes_topic, None, value, partition)
                 for partition, value in out.bundles]
                + [(settings.dead_letter_topic, key, value, None)
                   for key, value in out.dead_letters])

        await write_durably("ingest", write)
        metrics.QUARANTINED.labels("ingest").inc(out.quarantined)
        for entry in out.critical:
            log.critical(**entry)
        metrics.EVENTS_CONSUMED.inc(len(records))
        for reason, count in out.rejected.items():
            metrics.EVENTS_REJECTED.labels(reason).inc(count)
        for entry in out.log:
            log.warning(**entry)
        self._applied(settings.events_topic, records)
        await self._reseek(settings.events_topic, holes)

    async def _idle_marks(self) -> None:
        """Tell stage 2 which events partitions have had nothing to read for the idle
        timeout (a quiet partition must not hold the watermark back). Only once the worker
        is ready, and only for partitions read to their end: a worker recovering its
        tables, or behind, has not read what is there."""
        if not self.ready():
            return
        topic, consumer = self.settings.events_topic, self.app.consumer
        assigned = [tp for tp in consumer.assignment() if tp.topic == topic]
        if not await self._expect_committed(topic, [tp.partition for tp in assigned]):
            return
        if not self.ready():  # a rebalance began while the group answered
            return
        assigned = [tp for tp in consumer.assignment() if tp.topic == topic]

        def caught_up(partition: int) -> bool:
            tp = next(tp for tp in assigned if tp.partition == partition)
            try:
                highwater = consumer.highwater(tp)
            except Exception:  # not fetched yet
                return False
            position = self.order.next_offset(topic, partition)
            return highwater is not None and position is not None and position >= highwater

        was_idle = {p for p, idle in self.ingest_stage.idle.items() if idle}
        messages = self.ingest_stage.idle_marks([tp.partition for tp in assigned], caught_up)
        if messages:
            log.info("partitions_idle", topic=topic, partitions=sorted(
                {p for p, idle in self.ingest_stage.idle.items() if idle} - was_idle))
            await write_durably("ingest", lambda: self._send_all(
                [(self.settings.episodes_topic, None, value, partition)
                 for partition, value in messages]))

    async def _expect_committed(self, topic: str, partitions: Sequence[int]) -> bool:
        """Make each of ``partitions`` whose delivery order is unknown (newly assigned,
        nothing read yet) start at the group's committed offset; False if the group could
        not say (ask again later).

        Where a partition starts must come from the group, not from the first record
        faust delivers: around a rebalance faust can deliver a record it fetched before
        (a put to a stream's queue that waited out the rebalance). Taken as the start, it
        made the records between the committed offset and it look like copies, and they
        were dropped (a kill -9 run lost hundreds of observations that way). And a
        partition taken over from a worker that had read it to its end has nothing to
        deliver: without its committed offset it never counted as read to its end, never
        as idle, and stage 2's watermark stood still (a handover stalled)."""
        unknown = [p for p in partitions if self.order.next_offset(topic, p) is None]
        if not unknown:
            return True
        thread = self.app.consumer._thread  # aiokafka's consumer lives on its thread's loop
        client = thread._ensure_consumer()
        known, rebalances = True, self._rebalances
        for partition in unknown:
            try:
                offset = await asyncio.wait_for(
                    thread.call_thread(client.committed, TP(topic, partition)),
                    COMMITTED_TIMEOUT)
            except Exception as error:  # the coordinator is moving (or slow): ask again
                log.info("committed_offset_unknown", topic=topic, partition=partition,
                         error=error.__class__.__name__)
                known = False
                continue
            if self._rebalances != rebalances:  # the answer may be another owner's past
                return False
            if self.order.next_offset(topic, partition) is None:
                # None: nothing committed yet, the consumer starts at the log's start;
                # a hole from 0 makes _reseek find the first offset the broker holds.
                self.order.resume(topic, partition, offset or 0)
        return known

    async def _episode_batch(self, events: Sequence[EventT]) -> None:
        _forget_current_event()
        settings = self.settings
        try:
            records, holes = await self._admit(settings.episodes_topic, events)
            # Quarantines what raises on one record (unless on_internal_error=stop).
            out = self.episode_stage.run(records, self.episodes)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._crash("episodes", error)

        async def write() -> None:
            await self._send_all(
                [(settings.observations_topic, None, value, partition)
                 for partition, value in out.bundles]
                + [(settings.dead_letter_topic, key, value, None)
                   for key, value in out.dead_letters])
            sent = []
            for partition, writes in out.writes.items():
                sent += await write_partition(self.episodes, partition, writes)
            await asyncio.gather(*sent)

        await write_durably("episodes", write)
        metrics.QUARANTINED.labels("episodes").inc(out.quarantined)
        for entry in out.critical:
            log.critical(**entry)
        metrics.EVENTS_ACCEPTED.inc(out.accepted)
        metrics.EVENTS_SKIPPED.inc(out.skipped)
        _log_batch("episodes", records, skipped=out.skipped, flushed=out.flushed,
                   late=out.late)
        metrics.LATE.labels("episodes").inc(out.late)
        metrics.HELD.labels("episodes").set(out.held)
        for reason, count in out.rejected.items():
            metrics.EVENTS_REJECTED.labels(reason).inc(count)
        for entry in out.log:
            log.warning(**entry)
        self._applied(settings.episodes_topic, records, self.episode_stage.lowest_held)
        await self._reseek(settings.episodes_topic, holes)

    async def _entity_batch(self, events: Sequence[EventT]) -> None:
        _forget_current_event()
        settings, producer = self.settings, self.app.producer
        try:
            records, holes = await self._admit(settings.observations_topic, events)
            # Quarantines what raises on one message (unless on_internal_error=stop).
            out = self.entity_stage.run(records, self.monitors)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._crash("entities", error)
        published = time.time()

        async def write() -> None:
            nonlocal published
            sent = [await producer.send(settings.signals_topic, key, value, None, None,
                                        None) for key, value, _, _ in out.signals]
            sent += [await producer.send(settings.dead_letter_topic, key, value, None, None,
                                         None) for key, value in out.dead_letters]
            await asyncio.gather(*sent)
            published = time.time()
            sent = []
            for partition, writes in out.writes.items():
                sent += await write_partition(self.monitors, partition, writes)
            await asyncio.gather(*sent)

        await write_durably("entities", write)
        metrics.QUARANTINED.labels("entities").inc(out.quarantined)
        for entry in out.critical:
            log.critical(**entry)
        metrics.OBSERVATIONS_APPLIED.inc(out.applied)
        metrics.OBSERVATIONS_SKIPPED.inc(out.skipped + out.copies)
        _log_batch("entities", records, skipped=out.skipped, copies=out.copies,
                   flushed=out.flushed, late=out.late)
        metrics.LATE.labels("entities").inc(out.late)
        metrics.HELD.labels("entities").set(out.held)
        for _, _, signal, source_ms in out.signals:
            metrics.SIGNALS.labels(signal.level.value, signal.direction.value).inc()
            if source_ms:
                metrics.LATENCY.observe(max(0.0, published - source_ms / 1000))
            log.info("signal_published", signal_id=signal.signal_id,
                     metric=signal.metric, entity_type=signal.entity_type,
                     entity_id=signal.entity_id, level=signal.level.value,
                     direction=signal.direction.value, event_id=signal.event_id,
                     late=bool(signal.late))
        self._applied(settings.observations_topic, records, self.entity_stage.lowest_held)
        await self._reseek(settings.observations_topic, holes)

    async def _admit(self, topic: str, events: Sequence[EventT]
                     ) -> tuple[list[Record], dict[int, tuple[int, int]]]:
        """The batch's records this worker may apply: of partitions it still holds (a
        batch taken before a rebalance may carry others), in order from the group's
        committed offset, once each."""
        held = {tp.partition for tp in self.app.consumer.assignment() if tp.topic == topic}
        records = [r for r in _records(events) if r.partition in held]

        async def expect() -> None:
            if self.app.should_stop:  # see below
                return
            if not await self._expect_committed(topic, sorted({r.partition for r in records})):
                raise ConnectionError("the group did not say where a partition starts")

        await write_durably("assignment", expect)
        # A partition whose start is still unknown is not applied: the worker is stopping
        # (it does not wait on the group then: a stop must not hang on a coordinator that
        # does not answer), and its records are read again, uncommitted, by the next owner.
        held = {tp.partition for tp in self.app.consumer.assignment() if tp.topic == topic
                and self.order.next_offset(topic, tp.partition) is not None}
        return self.order.admit(topic, [r for r in records if r.partition in held])

    def _applied(self, topic: str, records: Sequence[Record],
                 lowest_held: Any = None) -> None:
        """The batch's effects are durable: its offsets may be committed, up to the
        earliest record the stage still holds (read again after a restart)."""
        for partition in {record.partition for record in records}:
            position = self.order.next_offset(topic, partition)
            held = lowest_held(partition) if lowest_held is not None else None
            if held is not None:
                position = held if position is None else min(position, held)
            if position is not None:
                self.commit_offsets[topic, partition] = position

    async def _reseek(self, topic: str, holes: dict[int, tuple[int, int]]) -> None:
        """Fetch a partition again from the offset its order expects; if the broker
        holds no record there (a transaction marker), from the next record it holds."""
        if not holes or self.app.should_stop:  # a stopping worker reads nothing more
            return
        consumer = self.app.consumer
        expected = {TP(topic, partition): offset for partition, (offset, _) in holes.items()}
        found = await offset_tracking.first_offsets(consumer._thread._ensure_consumer(),
                                                    expected)
        seeks = {}
        for tp, offset in expected.items():
            first = found.get(tp)
            if first is not None and first > offset:
                self.order.resume(topic, tp.partition, first)
                offset = first
            seeks[tp] = offset
            log.info("delivery_hole", topic=topic, partition=tp.partition,
                     expected=expected[tp], delivered=holes[tp.partition][1], seek=offset)
        await consumer.seek_wait(seeks)

    async def _on_revoked(self, app: Any, revoked: Any, **kwargs: Any) -> None:
        log.info("partitions_revoked", partitions=_names(revoked))
        self._rebalances += 1
        for tp in revoked:
            self.commit_offsets.pop((tp.topic, tp.partition), None)
            self._revoked.add((tp.topic, tp.partition))

    async def _on_assigned(self, app: Any, assigned: Any, **kwargs: Any) -> None:
        """What the stages held for a partition now gone is dropped (its next owner reads
        it again from the committed offset); a partition kept keeps it (a copy read
        again after a re-seek is dropped by the buffer)."""
        log.info("partitions_assigned", partitions=_names(assigned))
        self._rebalances += 1
        settings, kept = self.settings, {(tp.topic, tp.partition) for tp in assigned}
        # A kept partition keeps its delivery order too: faust revokes every partition at
        # a rebalance and then delivers again from the committed offset, which the order
        # drops up to what was applied (the stages still hold what they held).
        self.order.forget(self._revoked - kept)
        for topic, partition in self._revoked - kept:
            if topic == settings.episodes_topic:
                self.episode_stage.forget(partition)
            elif topic == settings.observations_topic:
                self.entity_stage.forget(partition)
            elif topic == settings.events_topic:
                self.ingest_stage.revoked([partition])
        self._revoked.clear()
        for topic in (settings.events_topic, settings.episodes_topic,
                      settings.observations_topic):
            metrics.ASSIGNED.labels(topic).set(sum(tp.topic == topic for tp in assigned))
        self.ingest_stage.assigned(tp.partition for tp in assigned
                                   if tp.topic == settings.events_topic)

    async def _gauges(self) -> None:
        consumer = self.app.consumer
        for tp in consumer.assignment():
            try:
                highwater = consumer.highwater(tp)
            except Exception:  # not fetched yet
                continue
            if highwater is None:
                continue
            applied = self.commit_offsets.get((tp.topic, tp.partition), 0)
            metrics.LAG.labels(tp.topic, str(tp.partition)).set(max(0, highwater - applied))
        metrics.TABLE_KEYS.labels("episodes").set(len(self.episodes.data))
        metrics.TABLE_KEYS.labels("monitors").set(len(self.monitors.data))

    def ready(self) -> bool:
        """Assigned partitions and tables recovered."""
        app = self.app
        return (bool(app.consumer.assignment()) and not app.rebalancing
                and app.tables.recovery.completed.is_set())

    async def _metrics_page(self, web: Any, request: Any) -> Any:
        await self._gauges()
        body, content_type = metrics.exposition()
        # As a header: aiohttp refuses a charset in content_type=, and Prometheus' type has one.
        return web.bytes(body, headers={"Content-Type": content_type})

    async def _healthz(self, web: Any, request: Any) -> Any:
        return web.json({"status": "alive"})

    async def _readyz(self, web: Any, request: Any) -> Any:
        # Readiness is the stages': an escalation log refusing writes is named in the body
        # (and on vigil_escalation_log_up) but does not fail it, since the stages go on
        # monitoring and the signals wait on their topic (see streams.worker.escalation).
        ready = self.ready()
        body: dict[str, Any] = {"ready": ready}
        if self.escalation is not None:
            body.update(self.escalation.status())
        return web.json(body, status=200 if ready else 503)
