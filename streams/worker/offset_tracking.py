"""Offsets read from the broker beside faust's consumer: the true end of a changelog
(:func:`log_ends`) and the first record at or after an offset (:func:`first_offsets`), each
through a short-lived probe consumer with the worker consumer's connection settings.

How faust's consumer itself is tuned for Vigil (the offsets it commits, the records it never
drops, its fetch wait, when it uses :func:`log_ends`) is in ``streams.worker.transport``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog

log = structlog.get_logger("vigil.worker")


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
    two short after a ``kill -9``). A fetch response carries the true end. On Apache
    Kafka both answers agree, so the worker asks this only of the embedded broker
    (``VIGIL_BROKER_QUIRKS=tansu``, see ``streams.worker.transport``), one fetch per
    rebalance. Empty partitions need no fetch:

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
