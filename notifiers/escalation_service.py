"""The running shape of escalation: tick the engine's timers and deliver, until stopped.

The stream consumer calls :meth:`EscalationEngine.receive` for each signal and the HTTP API
calls :meth:`EscalationEngine.act`; this loop does the rest. It ticks at the next timer
(or every ``tick_every`` seconds, whichever is sooner) and leaves delivery to the
dispatcher's own loop, so a slow channel never delays a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib

from notifiers import metrics
from notifiers.delivery import Dispatcher
from notifiers.engine import EscalationEngine


def verify_chain_metric(engine: EscalationEngine) -> bool:
    """Walk the log's hash chain and publish the result (``vigil_audit_chain_ok``), so an
    alert fires when a stored entry has been tampered with."""
    result = engine.log.verify()
    metrics.AUDIT_CHAIN_OK.set(1 if result.ok else 0)
    metrics.AUDIT_CHAIN_ENTRIES.set(result.entries)
    return result.ok


async def run_escalation(engine: EscalationEngine, dispatcher: Dispatcher,
                         stop: asyncio.Event, *, tick_every: float = 60.0,
                         poll_every: float = 1.0, verify_every: float = 300.0) -> None:
    """Tick and deliver until ``stop`` is set, then close the dispatcher; verify the log's
    chain at start and every ``verify_every`` seconds."""
    delivering = asyncio.create_task(dispatcher.run(stop, poll_every))
    loop = asyncio.get_running_loop()
    next_verify = loop.time()
    try:
        while not stop.is_set():
            if loop.time() >= next_verify:
                verify_chain_metric(engine)
                next_verify = loop.time() + verify_every
            engine.tick()
            wait = tick_every
            upcoming = engine.next_timer()
            if upcoming is not None:
                wait = max(0.0, min(wait, (upcoming - engine.clock.now()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
    finally:
        stop.set()
        await delivering
        await dispatcher.close()
