"""External producers of a test's own: several aiokafka producers writing the events topic
at once, each with its own keys, as systems other than ``vigil produce`` would (it keys by
provider and gives an outcome its episode's provider; issue 12's worker owes replay's
answer whatever the keys).

A feed is a list of (key, line) pairs. ``speed`` paces every feed by event time (each
line is due ``(occurred_at - first occurred_at) / speed`` seconds after the start, the
first taken over all the feeds sent together), so that concurrent feeds stay close in
event time; without it each feed is sent as fast as the broker takes it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

Feed = list[tuple[bytes | None, bytes]]
"""(key, line) pairs, sent in this order."""
Sent = list[tuple[int, int]]
"""(partition, offset) of each line of a feed, in the feed's order."""


def lines_of(path: Path) -> list[bytes]:
    """The non-blank lines of a JSONL file, without their newlines."""
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def keyed(lines: Iterable[bytes], key: Callable[[dict[str, Any]], str | None]) -> Feed:
    """A feed of ``lines`` with ``key`` of each parsed event (``None``: no key)."""
    feed: Feed = []
    for line in lines:
        value = key(json.loads(line))
        feed.append((None if value is None else value.encode(), line))
    return feed


def by_provider(event: dict[str, Any]) -> str | None:
    """The provider's ODS code (none for an outcome)."""
    provider = event.get("provider")
    return provider.get("ods_code") if isinstance(provider, dict) else None


def by_episode(event: dict[str, Any]) -> str | None:
    """The episode id, or the provider's ODS code for an event of no episode (a
    submission)."""
    episode = event.get("episode_id")
    return episode if isinstance(episode, str) else by_provider(event)


def is_outcome(line: bytes) -> bool:
    return bool(json.loads(line).get("event_type") == "outcome")


def event_time(line: bytes) -> datetime:
    return datetime.fromisoformat(json.loads(line)["occurred_at"])


async def _ensure_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if topic not in set(await admin.list_topics()):
            await admin.create_topics([NewTopic(topic, partitions, 1)])
        [description] = await admin.describe_topics([topic])
        found = len(description["partitions"])
        assert found == partitions, f"{topic} has {found} partitions, not {partitions}"
    finally:
        await admin.close()


def create_events_topic(env: dict[str, str]) -> None:
    """Create the events topic of ``env`` with its ``VIGIL_PARTITIONS``. Before a worker
    starts: a worker subscribing to a missing topic has the broker create it with the
    broker's default partitions."""
    asyncio.run(_ensure_topic(env["VIGIL_BOOTSTRAP_SERVERS"], env["VIGIL_EVENTS_TOPIC"],
                              int(env["VIGIL_PARTITIONS"])))


async def _send(bootstrap: str, topic: str, feed: Feed, due: list[float]) -> Sent:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    loop = asyncio.get_running_loop()
    try:
        futures = []
        for (key, line), at in zip(feed, due, strict=True):
            if at > loop.time():
                await asyncio.sleep(at - loop.time())
            futures.append(await producer.send(topic, line, key=key))
            await asyncio.sleep(0)  # a feed catching up must not starve the others
        return [(m.partition, m.offset) for m in await asyncio.gather(*futures)]
    finally:
        await producer.stop()


async def send_feeds(bootstrap: str, topic: str, partitions: int, feeds: list[Feed],
                     speed: float | None = None) -> list[Sent]:
    """Send ``feeds`` to ``topic`` (created with ``partitions`` if missing) at the same time,
    one producer each; return where each line went."""
    await _ensure_topic(bootstrap, topic, partitions)
    start = asyncio.get_running_loop().time()
    times = [[event_time(line) for _, line in feed] for feed in feeds]
    first = min(t for feed in times for t in feed)
    dues = [[start + ((t - first).total_seconds() / speed if speed else 0.0) for t in feed]
            for feed in times]
    return list(await asyncio.gather(*(_send(bootstrap, topic, feed, due)
                                       for feed, due in zip(feeds, dues, strict=True))))


class Feeding(threading.Thread):
    """``send_feeds`` in a thread of its own, so that a test can kill workers meanwhile."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, feeds: list[Feed],
                 speed: float | None = None) -> None:
        super().__init__(daemon=True)
        self.args = (bootstrap, topic, partitions, feeds, speed)
        self.sent: list[Sent] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.sent = asyncio.run(send_feeds(*self.args))
        except BaseException as error:  # handed to result()
            self.error = error

    def result(self, timeout: float = 300) -> list[Sent]:
        """Wait for the feeds to be sent; where each line went."""
        self.join(timeout)
        assert not self.is_alive(), f"the producers were still sending after {timeout} s"
        if self.error is not None:
            raise self.error
        assert self.sent is not None
        return self.sent


def produce_feeds(env: dict[str, str], feeds: list[Feed], speed: float | None = None
                  ) -> list[Sent]:
    """Send ``feeds`` at once to the events topic of ``env``; where each line went."""
    feeding = Feeding(env["VIGIL_BOOTSTRAP_SERVERS"], env["VIGIL_EVENTS_TOPIC"],
                      int(env["VIGIL_PARTITIONS"]), feeds, speed)
    feeding.start()
    return feeding.result()


def disorder(feeds: list[Feed], sent: list[Sent]) -> float:
    """The most event time, in seconds, by which a line came after a later one on its
    partition: how far behind the latest event time read a worker finds an event."""
    placed = sorted((place, event_time(line)) for feed, places in zip(feeds, sent, strict=True)
                    for (_, line), place in zip(feed, places, strict=True))
    worst = 0.0
    latest: dict[int, datetime] = {}
    for (partition, _), when in placed:
        ahead = latest.get(partition)
        if ahead is not None and ahead > when:
            worst = max(worst, (ahead - when).total_seconds())
        latest[partition] = when if ahead is None else max(ahead, when)
    return worst
