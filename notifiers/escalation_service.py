"""The running shape of escalation: tick the engine's timers and deliver, until stopped.

The stream consumer calls :meth:`EscalationEngine.receive` for each signal and the HTTP API
calls :meth:`EscalationEngine.act`; this loop does the rest. It ticks at the next timer
(or every ``tick_every`` seconds, whichever is sooner) and leaves delivery to the
dispatcher's own loop, so a slow channel never delays a deadline.

Each verification also publishes the log's head (seq and hash), as RFC 6962 logs publish
signed tree heads, so a witness outside the database can hold it: the gauge
``vigil_audit_head_seq``, an ``escalation_log_head`` log line, and with
``VIGIL_AUDIT_CHECKPOINT_FILE`` a checkpoint signed with ``VIGIL_AUDIT_CHECKPOINT_KEY``
(:mod:`notifiers.log.anchor`). Any head so published can later be given to
``vigil audit verify --expect-head``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from notifiers import metrics
from notifiers.delivery import Dispatcher
from notifiers.engine import EscalationEngine
from notifiers.log.anchor import checkpoint, head_of, write_checkpoint

log = logging.getLogger("vigil.audit")


@dataclass(frozen=True, slots=True)
class CheckpointFile:
    """Where the escalation service writes its signed head, and the HMAC key it signs with."""

    path: Path
    key: bytes


def verify_chain_metric(engine: EscalationEngine,
                        checkpoint_file: CheckpointFile | None = None) -> bool:
    """Walk the log's hash chain and publish the result (``vigil_audit_chain_ok``), so an
    alert fires when a stored entry has been tampered with; publish the head (gauge, log
    line, optional signed checkpoint) so a later truncation or rewrite shows too."""
    result = engine.log.verify()
    metrics.AUDIT_CHAIN_OK.set(1 if result.ok else 0)
    metrics.AUDIT_CHAIN_ENTRIES.set(result.entries)
    head = head_of(result)
    metrics.AUDIT_HEAD_SEQ.set(head.seq)
    log.info("escalation_log_head seq=%d hash=%s ok=%s", head.seq, head.hash, result.ok)
    if checkpoint_file is not None:
        try:
            write_checkpoint(checkpoint_file.path,
                             checkpoint(head, datetime.now(UTC), checkpoint_file.key))
        except OSError as error:  # a witness file is never worth stopping escalation
            log.error("audit checkpoint not written to %s: %s", checkpoint_file.path, error)
    return result.ok


async def run_escalation(engine: EscalationEngine, dispatcher: Dispatcher,
                         stop: asyncio.Event, *, tick_every: float = 60.0,
                         poll_every: float = 1.0, verify_every: float = 300.0,
                         checkpoint_file: CheckpointFile | None = None) -> None:
    """Tick and deliver until ``stop`` is set, then close the dispatcher; verify the log's
    chain and publish its head at start and every ``verify_every`` seconds."""
    delivering = asyncio.create_task(dispatcher.run(stop, poll_every))
    loop = asyncio.get_running_loop()
    next_verify = loop.time()
    try:
        while not stop.is_set():
            if loop.time() >= next_verify:
                verify_chain_metric(engine, checkpoint_file)
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
