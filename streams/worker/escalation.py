"""The worker's escalation side (``vigil run --rules RULES``): the signals topic through
the escalation engine, on the wall clock, into the escalation log.

It reads the signals topic with its own consumer group (``<app_id>-escalation``), so it is
independent of the two stages: it can lag, restart or be scaled on its own, and the stages
never wait for it. Each signal goes to :func:`notifiers.signal_consumer.consume_signals`,
which drops ids already seen, receives the rest, fires deadline timers on the wall clock
and delivers what the engine requested (to the outbox by default, or as the recipients
file says). Offsets are committed only after the signals before them were received, i.e.
appended to the log; a signal received again after a crash is a duplicate the engine
recognises by its id, so nothing is opened or sent twice.

Several workers may share one PostgreSQL log: the log serialises appends and the engine
decides with compare-and-append (see :mod:`notifiers.engine`).

Faults stay on this side. When the log refuses a write (rights revoked, database down, disk
full), the signal being received fails, its batch is not committed, and this side stops its
consumer, waits (exponential backoff, :class:`Backoff`) and starts again from the last
commit: the signals wait on the signals topic and are escalated, once each, when the log
takes writes again. Meanwhile ``vigil_escalation_log_up`` is 0 and ``/readyz`` names the
fault in its body but stays 200: the two stages keep monitoring and readiness is theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from notifiers.adapters.channels import build_notifiers
from notifiers.delivery import Dispatcher
from notifiers.escalation import build_escalation
from notifiers.escalation_service import CheckpointFile
from notifiers.http_api import Principal, make_app
from notifiers.log.escalation_log import open_log
from notifiers.pack_source import PackSource
from notifiers.recipients import RecipientsConfig, embedded_recipients, load_recipients
from notifiers.signal_consumer import ConsumerReport, consume_signals
from streams.contract.signal import InvalidSignal, Signal, read_signal
from streams.settings import VigilSettings
from streams.worker import metrics

log = structlog.get_logger("vigil.escalation")


def recipients_for(settings: VigilSettings) -> RecipientsConfig:
    """The recipients file, or every role to the outbox folder."""
    if settings.recipients is not None:
        return load_recipients(settings.recipients)
    return embedded_recipients(settings.outbox_dir)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Seconds before the n-th restart after a fault: ``first · 2^(n-1)``, at most ``most``.

    >>> [Backoff(first=1, most=5).delay(n) for n in (1, 2, 3, 4)]
    [1.0, 2.0, 4.0, 5.0]
    """

    first: float = 1.0
    most: float = 30.0

    def delay(self, failure: int) -> float:
        return float(min(self.most, self.first * 2 ** (failure - 1)))


class EscalationSide:
    """The engine, dispatcher and signals consumer of one worker.

    Parameters
    ----------
    settings
        Kafka, log, recipients and API settings.
    rules
        The escalation rules file (validated here: a bad file stops the worker's start).
    packs
        Look-back packs for preliminary notices (``VIGIL_LOOKBACK_EVENTS``:
        :func:`streams.lookback.source.configured_pack_source`); ``None``: none attached.
    """

    def __init__(self, settings: VigilSettings, rules: str | Path, *,
                 packs: PackSource | None = None) -> None:
        self.settings = settings
        self.packs = packs
        wired = build_escalation(settings.escalation_log, rules,
                                 recipients=recipients_for(settings), packs=packs)
        self.recipients = wired.recipients
        self.log = wired.log
        self.engine = wired.engine
        self.dispatcher = wired.dispatcher
        self.group = f"{settings.app_id}-escalation"
        self.stop = asyncio.Event()
        self.report: ConsumerReport | None = None
        self.backoff = Backoff()
        self.fault: str | None = None
        """Why the escalation side is retrying (``None`` while it works): the error type
        and the number of failed starts, never the statement or its values."""
        self._failures = 0
        metrics.ESCALATION_LOG_UP.labels(self.group).set(1)

    def api(self) -> Any:
        """The case API (aiohttp) for the configured tokens, or None when there are none."""
        principals = self.settings.api_principals()
        if not principals:
            return None
        tokens = {token: Principal(name, role) for token, (role, name) in principals.items()}
        return make_app(self.engine, tokens)

    def status(self) -> dict[str, Any]:
        """For ``/readyz``'s body: ``escalation_log`` is ``up`` or ``down`` (with why)."""
        if self.fault is None:
            return {"escalation_log": "up"}
        return {"escalation_log": "down", "escalation_fault": self.fault}

    async def run(self) -> None:
        """Consume until cancelled (the worker stopping); a fault (the log refusing a write)
        restarts the consumer from its last commit after a backoff, never the worker."""
        while True:
            try:
                await self._run_once()
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._failures += 1
                wait = self.backoff.delay(self._failures)
                self.fault = f"{type(error).__name__} (failed {self._failures} times)"
                metrics.ESCALATION_LOG_UP.labels(self.group).set(0)
                # The error's text may quote a statement's values: only its type is logged.
                log.error("escalation_failed", error_type=type(error).__name__,
                          failures=self._failures, retry_in=wait,
                          hint="signals wait on the signals topic until the log takes writes")
                await asyncio.sleep(wait)
                self._reopen_if_broken()
                # The previous dispatcher was closed with its channels: a fresh one, which
                # rebuilds what is pending from the log.
                self.dispatcher = Dispatcher(self.log, build_notifiers(self.recipients),
                                             self.recipients, retry=self.dispatcher.retry,
                                             clock=self.dispatcher.clock, packs=self.packs)

    def _reopen_if_broken(self) -> None:
        """A database that went away (restart, failover, a killed session) leaves the log's
        connection broken for good: open a new one for the engine, the dispatcher and the
        case API. When that fails too, the next round tries again."""
        conn = getattr(self.log, "_conn", None)
        if conn is None or not (getattr(conn, "closed", False) or getattr(conn, "broken", False)):
            return
        try:
            fresh = open_log(self.settings.escalation_log)
        except Exception as error:
            log.error("escalation_log_reopen_failed", error_type=type(error).__name__)
            return
        with contextlib.suppress(Exception):
            self.log.close()
        self.log = self.engine.log = fresh
        log.warning("escalation_log_reopened")

    def _recovered(self) -> None:
        """A signal was received: the log takes writes again."""
        if self.fault is not None:
            log.warning("escalation_recovered", failures=self._failures)
        self.fault, self._failures = None, 0
        metrics.ESCALATION_LOG_UP.labels(self.group).set(1)

    async def _run_once(self) -> None:
        self.stop = asyncio.Event()
        consumer = await self._consumer()
        task = asyncio.ensure_future(consume_signals(
            self._signals(consumer), self.engine, self.dispatcher, stop=self.stop,
            checkpoint_file=audit_checkpoint(self.settings)))
        try:
            self.report = await asyncio.shield(task)
        except asyncio.CancelledError:
            self.stop.set()
            with contextlib.suppress(Exception):
                self.report = await task
            raise
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            log.info("escalation_stopped",
                     **(self.report.as_dict() if self.report is not None else {}))

    async def _consumer(self) -> Any:
        from aiokafka import AIOKafkaConsumer

        settings = self.settings
        consumer = AIOKafkaConsumer(
            settings.signals_topic, bootstrap_servers=settings.bootstrap_servers,
            group_id=self.group, enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=int(settings.session_timeout * 1000),
            heartbeat_interval_ms=int(settings.heartbeat_interval * 1000),
            **settings.aiokafka_options())
        await consumer.start()
        return consumer

    async def _signals(self, consumer: Any) -> AsyncIterator[Signal | InvalidSignal]:
        """Signals in topic order, each parsed here once (a malformed value is passed on as
        its rejection, for the engine to log); a batch's offsets are committed when the next
        batch is asked for, i.e. after every signal of it was received."""
        while True:
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            for records in batch.values():
                for record in records:
                    signal = read_signal(record.value or b"")
                    if isinstance(signal, InvalidSignal):
                        log.warning("signal_rejected", partition=record.partition,
                                    offset=record.offset, reason=signal.reason)
                    yield signal
                    # Resumed: the engine received the signal, so the log took its writes.
                    if self.fault is not None:
                        self._recovered()
            if batch:
                try:
                    await consumer.commit()
                except Exception as error:  # a rebalance: the next owner redelivers
                    log.warning("signals_commit_failed", error=repr(error))


def audit_checkpoint(settings: VigilSettings) -> CheckpointFile | None:
    """Where the escalation side writes its signed log head, if configured."""
    if settings.audit_checkpoint_file is None or settings.audit_checkpoint_key is None:
        return None
    return CheckpointFile(settings.audit_checkpoint_file,
                          settings.audit_checkpoint_key.get_secret_value().encode())
