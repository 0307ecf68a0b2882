"""The Kafka producer behind ``vigil produce``, ``vigil simulate --rate`` and ``vigil demo``:
events keyed by provider so that each provider's events stay in order on one partition."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from streams.settings import VigilSettings


def event_keys(lines: Iterator[bytes]) -> Iterator[tuple[bytes | None, bytes]]:
    """(key, line) pairs: the provider's ODS code, so that each provider's events stay in
    order on one partition; an ``outcome`` (which names no provider) gets its episode's
    provider, remembered from the procedure. Unreadable lines get no key.

    >>> list(event_keys(iter([
    ...     b'{"event_type": "procedure", "episode_id": "e1", "provider": {"ods_code": "RXF"}}',
    ...     b'{"event_type": "outcome", "episode_id": "e1"}', b'{oops'])))[1][0], None
    (b'RXF', None)
    """
    # Total: a line is data, whatever it holds. A line nested too deep for ``json.loads``
    # (``RecursionError``), a lone surrogate (which cannot encode) or an over-long key gets
    # no key and is still sent, for the worker to dead-letter. A key is sent to the broker:
    # an NHS number written into an episode id is replaced by a digest before it is one.
    from streams.contract.identifiers import NHS_NUMBER_LIKE

    providers: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            continue
        key = None
        try:
            data = json.loads(line)
            if isinstance(data, dict):
                provider = data.get("provider")
                episode = data.get("episode_id")
                ods = provider.get("ods_code") if isinstance(provider, dict) else None
                if isinstance(ods, str):
                    key = ods
                    if isinstance(episode, str) and data.get("event_type") == "procedure":
                        providers[episode] = ods
                elif isinstance(episode, str):
                    key = providers.get(episode, episode)
            if key is not None and NHS_NUMBER_LIKE.search(key):
                key = "h:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:24]
            encoded = key.strip().encode() if key else None
        except (ValueError, RecursionError, UnicodeError, MemoryError):
            encoded = None
        yield (encoded if encoded and len(encoded) <= 256 else None), line.rstrip(b"\n")


async def ensure_topics(settings: VigilSettings, *names: str) -> None:
    """Create topics that do not exist yet, with the configured partitions."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers,
                                **settings.aiokafka_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(n, settings.partitions, settings.replication_factor)
               for n in names if n not in existing]
        if new:
            await admin.create_topics(new)
    finally:
        await admin.close()


async def publish(settings: VigilSettings, lines: Iterable[bytes], *,
                  rate: float | None = None, seconds: float | None = None,
                  stop: asyncio.Event | None = None,
                  on_sent: Callable[[bytes], None] | None = None) -> int:
    """Publish JSON lines to the events topic, keyed by provider (``event_keys``); return
    how many were sent. The one producer behind ``vigil produce``, ``vigil simulate`` and
    the demo.

    With ``rate``, send a steady ``rate`` events per second (each one due at ``i / rate``
    seconds after the start, so a slow moment is caught up rather than lost). Stops at the
    end of ``lines``, after ``seconds``, or when ``stop`` is set.
    """
    if rate is not None and rate <= 0:
        raise ValueError("rate must be positive")
    from aiokafka import AIOKafkaProducer

    await ensure_topics(settings, settings.events_topic)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers,
                                linger_ms=5, max_batch_size=256 * 1024, acks="all",
                                **settings.aiokafka_options())
    await producer.start()
    sent = 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        pending = []
        for key, line in event_keys(iter(lines)):
            if stop is not None and stop.is_set():
                break
            if seconds is not None and loop.time() - started >= seconds:
                break
            if rate is not None:
                due = started + sent / rate
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
            pending.append(await producer.send(settings.events_topic, line, key=key))
            sent += 1
            if on_sent is not None:
                on_sent(line)
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


async def produce(settings: VigilSettings, path: Path, progress: bool = False,
                  rate: float | None = None) -> int:
    """Publish the JSONL file ``path`` (see ``publish``), with a progress bar if asked."""
    if not progress:
        with path.open("rb") as stream:
            return await publish(settings, stream, rate=rate)
    from tqdm import tqdm

    with tqdm(total=path.stat().st_size, unit="B", unit_scale=True, file=sys.stderr,
              desc="produce") as bar, path.open("rb") as stream:
        return await publish(settings, stream, rate=rate,
                             on_sent=lambda line: bar.update(len(line) + 1))
