"""The running shape of escalation: tick the engine's timers and deliver, until stopped.

The stream consumer calls :meth:`EscalationEngine.receive` for each signal and the HTTP API
calls :meth:`EscalationEngine.act`; this loop does the rest. It ticks at the next timer
(or every ``tick_every`` seconds, whichever is sooner) and leaves delivery to the
dispatcher's own loop, so a slow channel never delays a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib

from notifiers.delivery import Dispatcher
from notifiers.engine import EscalationEngine


async def run_escalation(engine: EscalationEngine, dispatcher: Dispatcher,
                         stop: asyncio.Event, *, tick_every: float = 60.0,
                         poll_every: float = 1.0) -> None:
    """Tick and deliver until ``stop`` is set, then close the dispatcher."""
    delivering = asyncio.create_task(dispatcher.run(stop, poll_every))
    try:
        while not stop.is_set():
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
