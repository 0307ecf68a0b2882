"""Bounded retry of a batch's writes to Kafka (the worker's own infrastructure).

A record that trips a bug is quarantined (``streams.worker.quarantine``); a failure to
publish a batch's outputs or write its state is not the record's fault but the cluster's
(a broker away, a leader election, a full disk), and is retried with exponential backoff.
Re-running the writes is safe: the stages' outputs are deterministic and de-duplicated
downstream (observations by their source, signals by their id) and table writes are
idempotent. After ``attempts`` failures the worker gives up with one critical log line and
exits with :data:`EXIT_INFRASTRUCTURE`, before committing: its partitions move to another
worker, or a restart picks the batch up again, instead of the worker spinning on it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from streams.worker import metrics

log = structlog.get_logger("vigil.worker")

EXIT_INFRASTRUCTURE = 75
"""The worker's exit status when Kafka kept refusing its writes (``EX_TEMPFAIL``: try again
later), apart from 70 (``EX_SOFTWARE``) for a bug under ``VIGIL_ON_INTERNAL_ERROR=stop``."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """``attempts`` tries, waiting ``first_delay · 2^(n-1)`` seconds (at most ``max_delay``)
    after the n-th failure.

    >>> [Backoff(first_delay=0.5, max_delay=3).delay(n) for n in (1, 2, 3, 4)]
    [0.5, 1.0, 2.0, 3.0]
    """

    attempts: int = 6
    first_delay: float = 0.5
    max_delay: float = 15.0

    def delay(self, failure: int) -> float:
        return float(min(self.max_delay, self.first_delay * 2 ** (failure - 1)))


def _exit(code: int) -> None:
    sys.stderr.flush()
    # Like kill -9, not SystemExit: faust must not commit the batch on the way out.
    os._exit(code)


async def write_durably(stage: str, write: Callable[[], Awaitable[None]],
                        backoff: Backoff = Backoff(),
                        exit: Callable[[int], None] = _exit) -> bool:
    """Run ``write`` until it succeeds (True), at most ``backoff.attempts`` times; then log
    ``worker_infrastructure_failed`` and call ``exit`` (False if it returns, in tests)."""
    for failure in range(1, backoff.attempts + 1):
        try:
            await write()
            return True
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if failure == backoff.attempts:
                log.critical("worker_infrastructure_failed", stage=stage, attempts=failure,
                             error_type=type(error).__name__, error=str(error)[:200],
                             exit_code=EXIT_INFRASTRUCTURE,
                             hint="Kafka refused the batch's writes; nothing was committed")
                exit(EXIT_INFRASTRUCTURE)
                return False
            wait = backoff.delay(failure)
            metrics.INFRASTRUCTURE_RETRIES.labels(stage).inc()
            log.error("stage_write_failed", stage=stage, attempt=failure, retry_in=wait,
                      error_type=type(error).__name__, error=str(error)[:200])
            await asyncio.sleep(wait)
    return False
