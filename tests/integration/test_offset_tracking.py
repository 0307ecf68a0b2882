"""The log end a table is restored to, on the embedded broker whose ListOffsets answer
falls short of it."""

from __future__ import annotations

import asyncio

import pytest

from streams.kafka.embedded_broker import EmbeddedBroker
from streams.worker.offset_tracking import log_ends


@pytest.mark.integration
def test_log_ends_reach_the_last_record_batch(broker: EmbeddedBroker) -> None:
    """Three batches of ten records: the broker lists an end inside the last batch, and
    ``log_ends`` (which faust's table recovery now reads to) finds all thirty."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    async def run() -> tuple[int, int]:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers,
                                    linger_ms=50)
        await producer.start()
        try:
            for _ in range(3):
                sent = [await producer.send("log-ends", b"x", partition=0)
                        for _ in range(10)]
                await asyncio.gather(*sent)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers)
        await consumer.start()
        try:
            tp = TopicPartition("log-ends", 0)
            listed = await consumer.end_offsets([tp])
            return listed[tp], (await log_ends(consumer, listed))[tp]
        finally:
            await consumer.stop()

    listed, end = asyncio.run(run())
    assert end == 30
    print(f"ListOffsets answered {listed}; the log ends at {end}")
