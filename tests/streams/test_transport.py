"""Vigil's faust transport without a broker: ``vigil://`` selects it through the
``faust.transports`` entry point, each behaviour follows the attribute the worker sets on
its app, an app without them gets faust's own, and faust itself is left unpatched."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import faust
import faust.transport
import faust.transport.consumer
import pytest
from aiokafka.structs import ConsumerRecord
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, Message

from streams.worker import transport
from streams.worker.records import Record
from streams.worker.transport import Transport, VigilConsumer, VigilConsumerThread

EVENTS_0 = TP("events", 0)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[faust.App]:
    yield faust.App("transport-test", broker="vigil://127.0.0.1:9", autodiscover=False,
                    store="memory://", datadir=tmp_path)


def _message(offset: int) -> Message:
    return Message("events", 0, offset, 0.0, 0, None, None, b"", None, tp=EVENTS_0)


def test_vigil_scheme_selects_the_subclasses_and_faust_s_producer(app: faust.App) -> None:
    assert faust.transport.by_url("vigil://h:9092") is Transport
    assert type(app.transport) is Transport
    assert type(app.consumer) is VigilConsumer
    assert type(app.consumer._thread) is VigilConsumerThread
    # broker_producer defaults to the broker: the producer is faust's aiokafka one.
    assert type(app.producer_transport) is Transport
    assert type(app.producer) is driver.Producer
    assert app.transport.url == app.producer_transport.url


def test_faust_is_not_patched() -> None:
    assert transport.VigilConsumer.__module__ == "streams.worker.transport"
    for cls, name in [(faust.transport.consumer.Consumer, "ack"),
                      (faust.transport.consumer.Consumer, "_new_offset"),
                      (driver.Consumer, "_new_consumer_thread"),
                      (driver.AIOKafkaConsumerThread, "_highwaters"),
                      (driver.AIOKafkaConsumerThread, "_create_worker_consumer")]:
        assert getattr(cls, name).__module__.startswith("faust."), (cls, name)
    assert "_read_offset" not in vars(faust.transport.consumer.Consumer)
    assert driver.Transport.Consumer is driver.Consumer


def test_without_commit_offsets_the_consumer_is_faust_s(app: faust.App) -> None:
    consumer = app.consumer
    read = consumer._read_offset
    assert read is vars(consumer)["_faust_read_offset"]  # what faust's __init__ assigned
    read[EVENTS_0] = 7
    assert consumer._read_offset[EVENTS_0] == 7
    assert consumer._new_offset(EVENTS_0) is None  # nothing acked
    # faust's ack: no agent reads "events" here, so faust keeps no ack for it
    assert consumer.ack(_message(3)) is False and consumer._n_acked == 0


def test_commit_offsets_decide_commits_and_no_record_is_dropped(app: faust.App) -> None:
    consumer = app.consumer
    offsets: dict[tuple[str, int], int] = {}
    app.vigil_commit_offsets = offsets
    consumer._read_offset[EVENTS_0] = 7
    consumer._read_offset.update({EVENTS_0: 8})
    assert consumer._read_offset[EVENTS_0] is None
    message = _message(5)
    assert consumer.ack(message) is True and message.acked
    assert consumer.ack(message) is False
    assert EVENTS_0 in consumer._acked and consumer._n_acked == 1
    assert consumer._new_offset(EVENTS_0) is None  # the worker has named no offset
    offsets["events", 0] = 4
    assert consumer._new_offset(EVENTS_0) == 4  # not 6: the worker's offset, not the acks


@pytest.mark.parametrize(("setting", "expected"), [(None, 1500), (100, 100)])
def test_fetch_max_wait_from_the_app(app: faust.App, setting: int | None,
                                     expected: int) -> None:
    if setting is not None:
        app.vigil_fetch_max_wait_ms = setting

    async def created() -> int:
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        try:
            return int(consumer._fetch_max_wait_ms)
        finally:
            await consumer.stop()

    assert asyncio.run(created()) == expected


class _ListingConsumer:
    """An aiokafka consumer's ListOffsets answer, as the embedded broker gives it."""

    async def end_offsets(self, partitions: list[TP]) -> dict[TP, int]:
        return dict.fromkeys(partitions, 10)


@pytest.mark.parametrize("embedded", [False, True])
def test_log_ends_only_on_the_embedded_broker(app: faust.App, embedded: bool,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    probed: list[Mapping[Any, int | None]] = []

    async def log_ends(consumer: Any, listed: Mapping[Any, int | None]
                       ) -> dict[Any, int | None]:
        probed.append(listed)
        return {tp: 12 for tp in listed}

    monkeypatch.setattr(transport, "log_ends", log_ends)
    if embedded:
        app.vigil_embedded_broker = True
    thread = app.consumer._thread
    thread._consumer = _ListingConsumer()
    ends = asyncio.run(thread._highwaters([EVENTS_0]))
    assert ends == {EVENTS_0: 12 if embedded else 10}
    assert probed == ([{EVENTS_0: 10}] if embedded else [])


class _FetchingThread:
    """The consumer thread's answer to one fetch: aiokafka's records per partition."""

    def __init__(self, records: dict[TP, list[ConsumerRecord[bytes, bytes]]]) -> None:
        self.records = records

    async def getmany(self, active_partitions: Any, timeout: float
                      ) -> dict[TP, list[ConsumerRecord[bytes, bytes]]]:
        return self.records

    def highwater(self, tp: TP) -> int:
        return 100


def _kafka_record(tp: TP, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(tp.topic, tp.partition, offset, 1_700_000_000_000 + offset, 0,
                          b"k%d" % offset, b"v%d" % offset, None, 2, 2, ())


def _delivered(app: faust.App, records: dict[TP, list[ConsumerRecord[bytes, bytes]]]
               ) -> list[tuple[TP, Message]]:
    consumer = app.consumer
    consumer._thread = _FetchingThread(records)
    consumer._active_partitions = set(records)

    async def messages() -> list[tuple[TP, Message]]:
        return [item async for item in consumer.getmany(timeout=0.1)]

    return asyncio.run(messages())


@pytest.mark.parametrize("commit_offsets", [False, True])
def test_a_bundled_topic_s_fetch_is_one_message_of_its_records(
        app: faust.App, commit_offsets: bool) -> None:
    events_1, changelog_0 = TP("events", 1), TP("changelog", 0)
    fetched = {EVENTS_0: [_kafka_record(EVENTS_0, o) for o in (5, 6, 7)],
               events_1: [_kafka_record(events_1, 2)],
               changelog_0: [_kafka_record(changelog_0, o) for o in (0, 1)]}
    app.vigil_bundled_topics = frozenset({"events"})
    if commit_offsets:
        app.vigil_commit_offsets = {}
    delivered = _delivered(app, fetched)
    if not commit_offsets:  # faust's acks would take a fetch for its last record
        assert sorted((tp, m.offset) for tp, m in delivered) == sorted(
            (tp, r.offset) for tp, records in fetched.items() for r in records)
        assert not any(isinstance(m.value, transport.Fetch) for _, m in delivered)
        return
    by_tp: dict[TP, list[Message]] = {}
    for tp, message in delivered:
        by_tp.setdefault(tp, []).append(message)
    assert [m.offset for m in by_tp[changelog_0]] == [0, 1]  # not bundled: faust's own
    assert [m.value for m in by_tp[changelog_0]] == [b"v0", b"v1"]
    (bundle,) = by_tp[EVENTS_0]
    assert (bundle.topic, bundle.partition, bundle.offset) == ("events", 0, 7)
    assert bundle.timestamp == 1_700_000_000.007
    assert bundle.generation_id == app.consumer_generation_id
    fetch = bundle.value
    assert isinstance(fetch, transport.Fetch) and len(fetch) == 3
    assert fetch.records == [Record(0, o, b"v%d" % o, 1_700_000_000_000 + o, b"k%d" % o)
                             for o in (5, 6, 7)]
    assert [r.offset for r in by_tp[events_1][0].value.records] == [2]
    # A bundle is acked once, and counts once in faust's ack accounting.
    consumer = app.consumer
    assert consumer.ack(bundle) is True and consumer.ack(bundle) is False
    assert consumer._n_acked == 1


def test_a_bundled_message_decodes_to_its_fetch(app: faust.App) -> None:
    """The raw value serializer passes a Fetch through to the stream's event."""
    app.vigil_commit_offsets, app.vigil_bundled_topics = {}, frozenset({"events"})
    topic = app.topic("events", key_serializer="raw", value_serializer="raw")
    ((_, message),) = _delivered(app, {EVENTS_0: [_kafka_record(EVENTS_0, 3)]})
    event = asyncio.run(topic.decode(message, propagate=True))
    assert event.value is message.value and event.key is None


class _Event:
    def __init__(self, message: Message) -> None:
        self.message = message


def test_a_batch_of_fetches_expands_into_its_records_in_delivery_order() -> None:
    """The worker's records of a batch mixing fetches and single messages, each with its
    own offset: a fetch delivered again after a re-seek is admitted once, and a fetch
    beyond a hole waits for the re-seek, as single records do."""
    from streams.worker.app import _records, _size
    from streams.worker.delivery_order import DeliveryOrder

    def fetch(*offsets: int) -> Any:
        value = transport.Fetch([Record(0, o, b"v") for o in offsets])
        return _Event(Message("events", 0, offsets[-1], 0.0, 0, None, None,
                              value, None, tp=EVENTS_0))  # type: ignore[arg-type]

    single = _Event(Message("events", 1, 9, 1.5, 0, None, b"k", b"v", None,
                            tp=TP("events", 1)))
    batch: list[Any] = [fetch(0, 1, 2), single, fetch(1, 2, 3), fetch(6, 7)]
    assert [_size(event) for event in batch] == [3, 1, 3, 2]
    records = _records(batch)
    assert [(r.partition, r.offset) for r in records] == [
        (0, 0), (0, 1), (0, 2), (1, 9), (0, 1), (0, 2), (0, 3), (0, 6), (0, 7)]
    assert records[3] == Record(1, 9, b"v", 1500, b"k")
    admitted, holes = DeliveryOrder().admit("events", records)
    assert [(r.partition, r.offset) for r in admitted] == [(0, 0), (0, 1), (0, 2), (1, 9),
                                                           (0, 3)]
    assert holes == {0: (4, 6)}


def test_the_worker_reads_its_stages_inputs_a_fetch_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's app names its three input topics for bundling (and its commit offsets,
    without which they would not be bundled); their agents' queues hold FETCHES_QUEUED
    fetches while table recovery's queue of single records keeps stream_buffer_maxsize."""
    from streams.bundled_samples import sample_paths
    from streams.contract.pseudonym import Pseudonymiser
    from streams.pipeline.config import load_config
    from streams.pipeline.core import Pipeline
    from streams.settings import VigilSettings
    from streams.worker.app import FETCHES_QUEUED, Worker

    monkeypatch.chdir(tmp_path)  # faust's data directory
    settings = VigilSettings(bootstrap_servers="127.0.0.1:9", store="memory://")
    worker = Worker(settings, Pipeline(load_config(sample_paths()[1])),
                    Pseudonymiser.ephemeral())
    app = worker.app
    inputs = {settings.events_topic, settings.episodes_topic, settings.observations_topic}
    assert app.vigil_bundled_topics == inputs
    assert app.vigil_commit_offsets is worker.commit_offsets
    assert transport._bundled_topics(app.consumer) == inputs
    for topic in (worker.events_topic, worker.episodes_topic, worker.observations_topic):
        assert topic.maxsize == FETCHES_QUEUED
        assert topic.clone(is_iterator=True).queue.maxsize == FETCHES_QUEUED
    assert app.tables.changelog_queue.maxsize == app.conf.stream_buffer_maxsize >= 4096
