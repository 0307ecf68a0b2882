"""Reading the embedded broker's topics and consumer groups from a test: a topic's records, a
changelog's last values, a group's committed offsets, and waits on them with deadlines."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from streams.kafka.embedded_broker import EmbeddedBroker


def read_topic(bootstrap: str, topic: str, idle: float = 1.0) -> list[tuple[bytes | None, Any]]:
    """Every (key, JSON value) on ``topic`` from the beginning, in partition order."""

    async def run() -> list[tuple[bytes | None, Any]]:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    group_id=None)
        await consumer.start()
        out: list[tuple[bytes | None, Any]] = []
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=int(idle * 1000), max_records=10000)
                if not batch:
                    break
                for records in batch.values():
                    out.extend((r.key, json.loads(r.value) if r.value is not None else None)
                               for r in records)
        finally:
            await consumer.stop()
        return out

    return asyncio.run(run())


def last_values(bootstrap: str, topic: str) -> dict[str, Any]:
    """A table's changelog reduced to the last value per key."""
    out: dict[str, Any] = {}
    for key, value in read_topic(bootstrap, topic):
        assert key is not None
        out[json.loads(key)] = value
    return out


def committed(bootstrap: str, group: str, topics: list[str]) -> tuple[bool, int, int]:
    """(all caught up, committed offsets summed, end offsets summed).

    End offsets are the high watermarks of fetch responses: the embedded broker's
    ListOffsets answers below the true end (the last batch's base offset), which would call
    a worker done one batch early."""

    async def check() -> tuple[bool, int, int]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(t, p) for t in topics
                   for p in await _partitions(consumer, t)]
            if not tps:
                return False, 0, 0
            offsets = {tp: (await consumer.committed(tp)) or 0 for tp in tps}
            ends = await _highwaters(consumer, tps)
            done = all(offsets[tp] >= ends[tp] for tp in tps)
            return done, sum(offsets.values()), sum(ends.values())
        finally:
            await consumer.stop()

    return asyncio.run(check())


def committed_partitions(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The offset ``group`` has committed on each partition of ``topic`` (0: none yet)."""

    async def check() -> dict[int, int]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            return {p: (await consumer.committed(TopicPartition(topic, p))) or 0
                    for p in sorted(await _partitions(consumer, topic))}
        finally:
            await consumer.stop()

    return asyncio.run(check())


async def _highwaters(consumer: Any, tps: list[Any], timeout: float = 10.0) -> dict[Any, int]:
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, 0)
    deadline = time.monotonic() + timeout
    ends: dict[Any, int] = {}
    while len(ends) < len(tps) and time.monotonic() < deadline:
        await consumer.getmany(timeout_ms=200, max_records=1)
        for tp in tps:
            highwater = consumer.highwater(tp)
            if highwater is not None:
                ends[tp] = highwater
    for tp in tps:  # no fetch answered for it: assume not done
        ends.setdefault(tp, 1 << 62)
    return ends


async def _partitions(consumer: Any, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


def wait_done(broker: EmbeddedBroker, env: dict[str, str], stall: float = 60.0,
              limit: float = 900.0) -> None:
    """Wait until every stage has committed to the end of its input topic; fail only when
    the committed offsets have not moved for ``stall`` seconds (or after ``limit``).

    The inputs are the events and observations topics and, where ``env`` names it, the
    episodes topic (issue 12's repartition by episode id). For a worker that holds
    observations until the event-time watermark passes them, this counts on its committing
    an input offset only once what it read before it has been released: the end of a
    stream is then done only after ``VIGIL_IDLE_TIMEOUT`` has flushed it. A topic that does
    not exist (yet) is left out."""
    topics = [env["VIGIL_EVENTS_TOPIC"], env["VIGIL_OBSERVATIONS_TOPIC"]]
    if env.get("VIGIL_EPISODES_TOPIC"):
        topics.append(env["VIGIL_EPISODES_TOPIC"])
    started = last_move = time.monotonic()
    streak, last = 0, (-1, -1)
    while True:
        done, offsets, ends = committed(broker.bootstrap_servers, env["VIGIL_APP_ID"], topics)
        now = time.monotonic()
        if (offsets, ends) != last:
            last, last_move = (offsets, ends), now
        streak = streak + 1 if done else 0
        if streak >= 2:
            return
        if now - last_move > stall or now - started > limit:
            raise AssertionError(f"the worker made no progress for {now - last_move:.0f} s: "
                                 f"{offsets} of {ends} offsets committed")
        time.sleep(1.0)  # poll interval


def wait_progress(broker: EmbeddedBroker, env: dict[str, str], beyond: int,
                  timeout: float = 60.0) -> int:
    """Wait until the events committed exceed ``beyond``; return the new sum."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, now, _ = committed(broker.bootstrap_servers, env["VIGIL_APP_ID"],
                              [env["VIGIL_EVENTS_TOPIC"]])
        if now > beyond:
            return now
        time.sleep(0.5)  # poll interval
    raise AssertionError(f"no commit beyond {beyond} events within {timeout:.0f} s")
