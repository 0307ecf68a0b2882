"""The worker's signal consumer: redeliveries dropped, timers and delivery alongside, stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest

from notifiers.adapters.channels import build_notifiers
from notifiers.clock import SystemClock
from notifiers.delivery import Dispatcher, RetryPolicy
from notifiers.recipients import embedded_recipients
from notifiers.signal_consumer import consume_signals
from streams.contract.signal import InvalidSignal, Signal, read_signal
from tests.support.escalation import NewLog, engine, kinds, signal

FAST = RetryPolicy(first_delay=0.01, max_delay=0.1, deadline=1.0, attempt_timeout=1.0)


async def topic(records: Iterable[Signal | InvalidSignal], *, then_wait: bool = False
                ) -> AsyncIterator[Signal | InvalidSignal]:
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
    records = [first, second, first, first.model_copy(), second]
    report = asyncio.run(consume_signals(topic(records), eng, dispatcher, poll_every=0.01))
    assert report.as_dict() == {"received": 2, "dropped": 3, "outcomes": {"opened": 2}}
    assert kinds(eng.log.entries(kind="signal_received")) == ["signal_received"] * 2
    assert list(eng.log.entries(kind="signal_duplicate")) == []
    assert len(list((tmp_path / "lead_clinician").glob("*.json"))) == 2
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
            if list((tmp_path / "operator").glob("*.json")):  # the screening notice
                break
            await asyncio.sleep(0.01)
        stop.set()
        return (await asyncio.wait_for(consumer, 5)).as_dict()

    assert asyncio.run(scenario())["outcomes"] == {"opened": 1}
    assert len(list((tmp_path / "operator").glob("*.json"))) == 1


def test_a_malformed_topic_value_is_rejected_and_logged_not_a_crash(new_log: NewLog,
                                                                    tmp_path: Path) -> None:
    eng, _ = engine(new_log())
    eng.clock = SystemClock()
    recipients = embedded_recipients(tmp_path)
    dispatcher = Dispatcher(eng.log, build_notifiers(recipients), recipients, retry=FAST)
    values = [b"{not json", b'{"signal_id": "s9", "level": "loud"}', signal("alert").to_json()]
    report = asyncio.run(consume_signals(topic(read_signal(v) for v in values), eng,
                                         dispatcher, poll_every=0.01))
    assert report.as_dict()["outcomes"] == {"opened": 1, "rejected": 2}
    rejected = [e.payload for e in eng.log.entries(kind="signal_rejected")]
    assert [p["signal_id"] for p in rejected] == [None, "s9"]
    assert all(p["reason"] for p in rejected)
    assert eng.log.verify().ok


def test_a_failing_timer_or_delivery_ends_the_consumer_with_its_error(
        new_log: NewLog, tmp_path: Path, monkeypatch: Any) -> None:
    """Timers and deliveries whose log write fails must reach the caller's retry (the
    worker's escalation side backs off and restarts), not die unseen while signals keep
    being read. Before, the consumer waited on a quiet topic for ever."""
    eng, _ = engine(new_log())
    recipients = embedded_recipients(tmp_path)
    dispatcher = Dispatcher(eng.log, build_notifiers(recipients), recipients, retry=FAST)

    class LogRefused(Exception):
        pass

    async def failing_service(*args: Any, **kwargs: Any) -> None:
        raise LogRefused("permission denied for table log_entries")

    monkeypatch.setattr("notifiers.signal_consumer.run_escalation", failing_service)

    async def scenario() -> None:
        await asyncio.wait_for(consume_signals(
            topic([signal("alarm")], then_wait=True), eng, dispatcher, poll_every=0.01),
            timeout=60)

    with pytest.raises(LogRefused):
        asyncio.run(scenario())
