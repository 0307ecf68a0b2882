"""The worker's writes to Kafka are retried with bounded backoff, then it exits cleanly
(one critical line, ``EXIT_INFRASTRUCTURE``) instead of crash-looping or spinning."""

from __future__ import annotations

import asyncio

from streams.worker.retry import EXIT_INFRASTRUCTURE, Backoff, write_durably

FAST = Backoff(attempts=4, first_delay=0.001, max_delay=0.002)


def test_a_write_that_fails_twice_is_retried_until_it_succeeds() -> None:
    calls: list[int] = []
    exits: list[int] = []

    async def write() -> None:
        calls.append(1)
        if len(calls) <= 2:
            raise ConnectionError("broker away")

    assert asyncio.run(write_durably("episodes", write, FAST, exit=exits.append))
    assert len(calls) == 3 and exits == []


def test_a_write_that_keeps_failing_exits_after_the_last_attempt() -> None:
    calls: list[int] = []
    exits: list[int] = []

    async def write() -> None:
        calls.append(1)
        raise ConnectionError("broker away")

    assert not asyncio.run(write_durably("entities", write, FAST, exit=exits.append))
    assert len(calls) == 4 and exits == [EXIT_INFRASTRUCTURE]
