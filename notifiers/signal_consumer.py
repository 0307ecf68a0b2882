"""The streaming worker's side of escalation: signals from a topic, through the engine.

:func:`consume_signals` takes an async iterator of signals as read from the signals topic
(:func:`streams.contract.signal.read_signal` on each value: a :class:`Signal`, or the
:class:`InvalidSignal` a malformed value made, which the engine logs ``signal_rejected``),
receives each with :meth:`~notifiers.engine.EscalationEngine.receive` on the
wall clock, and meanwhile runs :func:`~notifiers.escalation_service.run_escalation`, which
fires deadline timers and delivers what the engine requested. When the iterator ends it
delivers what is pending and returns; when ``stop`` is set it returns at once, and deliveries
in flight are cancelled (they stay pending in the log, for the next start to send).

Topics deliver at least once, so the same signal can arrive again (a consumer restarted
before committing its offset, a producer retrying). A signal whose id this engine has seen
already is dropped here without touching the log; one seen only by another worker sharing
the log is found by the engine when it refreshes, and logged ``signal_duplicate``. Either
way it opens nothing and sends nothing twice.

For the worker (``vigil run --rules RULES``)::

    engine = EscalationEngine(open_log(url), RulesHolder(rules_path))
    recipients = load_recipients(path)   # or embedded_recipients(outbox)
    dispatcher = Dispatcher(engine.log, build_notifiers(recipients), recipients)
    report = await consume_signals(read_signals(topic), engine, dispatcher, stop=stop)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from notifiers.delivery import Dispatcher
from notifiers.engine import EscalationEngine
from notifiers.escalation_service import CheckpointFile, run_escalation
from streams.contract.signal import InvalidSignal, Signal


@dataclass(slots=True)
class ConsumerReport:
    """What a consumer did: outcomes by status (``opened``, ``recorded``, ``upgraded``,
    ``inhibited``, ``duplicate``, ``rejected``, ``unrouted``) and redeliveries dropped."""

    outcomes: Counter[str] = field(default_factory=Counter)
    dropped: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"received": sum(self.outcomes.values()), "dropped": self.dropped,
                "outcomes": dict(sorted(self.outcomes.items()))}


async def consume_signals(
    signals: AsyncIterator[Signal | InvalidSignal],
    engine: EscalationEngine,
    dispatcher: Dispatcher,
    *,
    stop: asyncio.Event | None = None,
    tick_every: float = 60.0,
    poll_every: float = 1.0,
    checkpoint_file: CheckpointFile | None = None,
) -> ConsumerReport:
    """Receive every signal from ``signals`` while timers and delivery run alongside.

    Parameters
    ----------
    signals
        Signals in topic order, each as read at the boundary (a rejection is logged).
    engine, dispatcher
        Sharing one escalation log; the dispatcher is closed on return.
    stop
        Set it to stop early (e.g. on SIGTERM); it is set on return either way.
    tick_every, poll_every
        Seconds between timer checks at most, and between looks for new notifications.
    checkpoint_file
        Where to write the log's signed head at each verification (none by default).
    """
    stop = stop if stop is not None else asyncio.Event()
    report = ConsumerReport()
    service = asyncio.create_task(run_escalation(engine, dispatcher, stop,
                                                 tick_every=tick_every, poll_every=poll_every,
                                                 checkpoint_file=checkpoint_file))
    try:
        async for signal in _until(signals, stop, service):
            if isinstance(signal, Signal) and signal.signal_id in engine.book.seen_signals:
                report.dropped += 1
                continue
            report.outcomes[engine.receive(signal).status] += 1
        if not stop.is_set() and not service.done():
            # The source ended: deliver what it asked for before returning.
            engine.tick()
            await dispatcher.dispatch_pending()
    finally:
        stop.set()
        # A timer or delivery that failed (the log refusing a write) ends the loop above and
        # is raised here, so the caller's retry covers it as it covers a failed receive.
        await service
    return report


async def _until(signals: AsyncIterator[Signal | InvalidSignal], stop: asyncio.Event,
                 service: asyncio.Task[Any]) -> AsyncIterator[Signal | InvalidSignal]:
    """``signals`` until it ends, ``stop`` is set or ``service`` ends (even while waiting for
    the next one)."""
    stopping = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set() and not service.done():
            following = asyncio.ensure_future(anext(signals))
            await asyncio.wait({following, stopping, service},
                               return_when=asyncio.FIRST_COMPLETED)
            if not following.done():
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await following
                return
            try:
                signal = following.result()
            except StopAsyncIteration:
                return
            yield signal
    finally:
        stopping.cancel()
