"""The worker's signal consumer: redeliveries dropped, timers and delivery alongside, stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from notifiers.adapters.channels import build_notifiers
from notifiers.clock import SystemClock
from notifiers.delivery import Dispatcher, RetryPolicy
from notifiers.recipients import embedded_recipients
from notifiers.signal_consumer import consume_signals
from tests.support.escalation import NewLog, engine, kinds, signal

FAST = RetryPolicy(first_delay=0.01, max_delay=0.1, deadline=1.0, attempt_timeout=1.0)


async def topic(records: Iterable[dict[str, Any]], *, then_wait: bool = False
                ) -> AsyncIterator[dict[str, Any]]:
    for record in records:
        await asyncio.sleep(0)
        yield record
    if then_wait:
        await asyncio.Event().wait()  # a quiet topic: the consumer waits for more


def test_redeliveries_are_dropped_and_notices_delivered(new_log: NewLog, tmp_path: Path) -> None:
    eng, _ = engine(new_log())
    eng.clock = SystemClock()
    recipients = embedded_recipients(tmp_path)
    dispatcher = Dispatcher(eng.log, build_notifiers(recipients), recipients, retry=FAST)
    first, second = signal("alert", entity_id="RXF"), signal("alert", entity_id="RAJ")
    records = [first, second, first, dict(first), second]
    report = asyncio.run(consume_signals(topic(records), eng, dispatcher, poll_every=0.01))
    assert report.as_dict() == {"received": 2, "dropped": 3, "outcomes": {"opened": 2}}
    assert kinds(eng.log.entries(kind="signal_received")) == ["signal_received"] * 2
    assert list(eng.log.entries(kind="signal_duplicate")) == []
    assert len(list((tmp_path / "provider").glob("*.json"))) == 2
    assert eng.log.verify().ok


def test_stop_ends_the_wait_for_a_quiet_topic(new_log: NewLog, tmp_path: Path) -> None:
    eng, _ = engine(new_log())
    eng.clock = SystemClock()
    recipients = embedded_recipients(tmp_path)
    dispatcher = Dispatcher(eng.log, build_notifiers(recipients), recipients, retry=FAST)

    async def scenario() -> dict[str, Any]:
        stop = asyncio.Event()
        consumer = asyncio.create_task(consume_signals(
            topic([signal("alarm")], then_wait=True), eng, dispatcher, stop=stop,
            poll_every=0.01))
        for _ in range(200):
            if list((tmp_path / "provider").glob("*.json")):
                break
            await asyncio.sleep(0.01)
        stop.set()
        return (await asyncio.wait_for(consumer, 5)).as_dict()

    assert asyncio.run(scenario())["outcomes"] == {"opened": 1}
    assert len(list((tmp_path / "provider").glob("*.json"))) == 1
