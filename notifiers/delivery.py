"""Delivery: from notifications requested in the log to messages sent, exactly once each.

The engine only *requests* notifications (``notification_requested`` entries); the
:class:`Dispatcher` reads them from the log, resolves each recipient role to its targets
(channel + address), and sends each (notification key, channel, address) once:

* **Idempotent.** A delivery whose ``notification_sent`` or ``dead_letter`` is in the log is
  never attempted again; the set is rebuilt from the log on start, so a restart or a second
  ``dispatch_pending`` sends nothing twice. The key also travels with the message
  (webhook ``Idempotency-Key``, email ``Message-ID``) for receivers to dedupe a retry whose
  response was lost.
* **Isolated.** Every delivery is its own asyncio task; each address on each channel has
  its own concurrency limit (its own queue) and every attempt its own timeout, so a slow,
  hung or failing address never holds up another, on its channel or elsewhere.
* **Retried** with exponential backoff (or the receiver's ``Retry-After``) until a deadline,
  then **dead-lettered**: a ``dead_letter`` entry and a counter for the operator.
* **Gated.** A notification to CQC or the MHRA is refused (``notification_blocked``) unless
  the log holds a sign-off of that case's stage before the request, whatever the engine did.

Every attempt is logged (``notification_attempt``) with its outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from notifiers.adapters.base import Attachment, DeliveryResult, Notification, Notifier
from notifiers.clock import Clock, SystemClock
from notifiers.log.escalation_log import EscalationLog, LogEntry
from notifiers.log.kinds import LogKind
from notifiers.metrics import (
    NOTIFICATIONS_BLOCKED,
    NOTIFICATIONS_DEAD_LETTERED,
    NOTIFICATIONS_FAILED,
    NOTIFICATIONS_SENT,
)
from notifiers.pack_source import PackSource
from notifiers.recipients import RecipientsConfig
from notifiers.rules import REGULATORS


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff ``first_delay · factor^(attempt-1)`` capped at ``max_delay``; give up once the
    next attempt would start later than ``deadline`` seconds after the first."""

    first_delay: float = 2.0
    factor: float = 2.0
    max_delay: float = 600.0
    deadline: float = 24 * 3600.0
    attempt_timeout: float = 30.0

    def delay(self, attempt: int) -> float:
        """
        >>> [RetryPolicy(first_delay=1, max_delay=5).delay(a) for a in (1, 2, 3, 4)]
        [1.0, 2.0, 4.0, 5.0]
        """
        return float(min(self.max_delay, self.first_delay * self.factor ** (attempt - 1)))


@dataclass(frozen=True, slots=True)
class Delivery:
    """One requested notification for one target."""

    message: Notification
    channel: str
    request_seq: int

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.message.key, self.channel, self.message.address)


@dataclass(slots=True)
class DispatchReport:
    """What one :meth:`Dispatcher.dispatch_pending` call finished with."""

    sent: int = 0
    dead_lettered: int = 0
    blocked: int = 0
    started: int = 0


@dataclass(slots=True)
class _Seen:
    pending: dict[tuple[str, str, str], Delivery] = field(default_factory=dict)
    done: set[tuple[str, str, str]] = field(default_factory=set)
    signoffs: set[tuple[str, str, str]] = field(default_factory=set)
    blocked: set[str] = field(default_factory=set)


class Dispatcher:
    """Sends what the log asks for through the configured notifiers.

    Parameters
    ----------
    log
        The escalation log: read for requests, written with every attempt and result.
    notifiers
        Channel name → notifier (see :func:`notifiers.adapters.channels.build_notifiers`).
    recipients
        Role → targets.
    retry
        Backoff, attempt timeout and delivery deadline (seconds).
    concurrency
        At most this many attempts in flight to one address of one channel.
    packs
        Where the look-back packs the engine recorded come from, to attach them.
    """

    def __init__(self, log: EscalationLog, notifiers: Mapping[str, Notifier],
                 recipients: RecipientsConfig, *, retry: RetryPolicy | None = None,
                 clock: Clock | None = None, concurrency: int = 4,
                 packs: PackSource | None = None) -> None:
        self.log, self.notifiers, self.recipients = log, dict(notifiers), recipients
        self.packs = packs
        self.retry = retry or RetryPolicy()
        self.clock = clock or SystemClock()
        self.concurrency = concurrency
        self._seen = _Seen()
        self._scanned = 0
        self._inflight: dict[tuple[str, str, str], asyncio.Task[str]] = {}
        self._limits: dict[tuple[str, str], asyncio.Semaphore] = {}

    # -- reading the log ---------------------------------------------------------------

    def _scan(self) -> int:
        """Fold new log entries into the pending, done, sign-off and blocked sets; returns
        the number of regulator notifications newly blocked. A request for a role with no
        configured target is dead-lettered at once rather than silently dropped."""
        seen, blocked_now = self._seen, []
        for entry in self.log.entries(since_seq=self._scanned):
            self._scanned = entry.seq
            p = entry.payload
            if entry.kind == "notification_requested":
                blocked_now.extend(self._requested(entry))
            elif entry.kind in ("notification_sent", "dead_letter"):
                ident = (p["key"], p["channel"], p["address"])
                seen.done.add(ident)
                seen.pending.pop(ident, None)
            elif entry.kind == "action" and p.get("action") == "signoff":
                seen.signoffs.add((str(entry.case_id), p["policy"], p["stage"]))
            elif entry.kind == "notification_blocked":
                seen.blocked.add(p["key"])
        for entry, reason in blocked_now:
            if reason == "no_target":
                where = {"key": entry.payload["key"], "channel": "", "address": "",
                         "recipient": entry.payload["recipient"]}
                if (where["key"], "", "") not in seen.done:
                    self._dead(where, entry.case_id, 0, "no_target",
                               f"no target configured for {where['recipient']}")
                continue
            if entry.payload["key"] not in seen.blocked:
                seen.blocked.add(entry.payload["key"])
                NOTIFICATIONS_BLOCKED.labels(entry.payload["recipient"]).inc()
                self._append(LogKind.NOTIFICATION_BLOCKED, {"key": entry.payload["key"],
                             "recipient": entry.payload["recipient"], "reason": reason},
                             entry.case_id)
        return sum(reason != "no_target" for _, reason in blocked_now)

    def _requested(self, entry: LogEntry) -> list[tuple[LogEntry, str]]:
        p = entry.payload
        if p["recipient"] in REGULATORS and (
                (str(entry.case_id), p["policy"], p["stage"]) not in self._seen.signoffs):
            return [(entry, "no sign-off of this stage precedes the request")]
        message = p["message"]
        targets = self.recipients.resolve(p["recipient"], p.get("ods_codes") or (),
                                          p.get("device_ids") or ())
        if not targets:
            return [(entry, "no_target")]
        attachments = self._attachments(entry.case_id, message["body"])
        for target in targets:
            delivery = Delivery(Notification(
                key=p["key"], recipient=p["recipient"], address=target.address,
                subject=message["subject"], text=message["text"], body=message["body"],
                fhir=message.get("fhir"), case_id=entry.case_id, attachments=attachments),
                target.channel, entry.seq)
            if delivery.ident not in self._seen.done:
                self._seen.pending.setdefault(delivery.ident, delivery)
        return []

    def _attachments(self, case_id: str | None, body: Mapping[str, Any]
                     ) -> tuple[Attachment, ...]:
        """The look-back pack the engine recorded, if the source still gives the same bytes
        (a pack that changed since is not sent: the message names the one recorded)."""
        record = body.get("look_back_pack")
        if self.packs is None or case_id is None or not isinstance(record, Mapping) \
                or not record.get("attached"):
            return ()
        try:
            data = self.packs.pack_for(case_id, body.get("signal") or {})
        except Exception:  # the message still goes; the link in it still works
            return ()
        if data is None or hashlib.sha256(data).hexdigest() != record.get("sha256"):
            return ()
        return (Attachment(str(record["filename"]), "application/zip", data),)

    def pending(self) -> list[Delivery]:
        """Deliveries requested and neither sent nor dead-lettered (after a fresh scan)."""
        self._scan()
        return sorted(self._seen.pending.values(), key=lambda d: (d.request_seq, d.ident))

    # -- sending -----------------------------------------------------------------------

    def _append(self, kind: LogKind, payload: dict[str, Any], case_id: str | None) -> None:
        self.log.append(kind, payload, at=self.clock.now(), case_id=case_id)

    async def dispatch_pending(self, *, wait: bool = True) -> DispatchReport:
        """Start every pending delivery; with ``wait`` return when all in flight are done."""
        report = DispatchReport(blocked=self._scan())
        for delivery in self.pending():
            if delivery.ident not in self._inflight:
                task = asyncio.create_task(self._deliver(delivery))
                self._inflight[delivery.ident] = task
                # mypy cannot type a lambda's default argument (it binds this delivery's ident).
                task.add_done_callback(lambda _t, i=delivery.ident: self._inflight.pop(i, None))  # type: ignore[misc]
                report.started += 1
        if wait:
            for outcome in await asyncio.gather(*list(self._inflight.values())):
                if outcome == "sent":
                    report.sent += 1
                elif outcome == "dead_letter":
                    report.dead_lettered += 1
        return report

    async def run(self, stop: asyncio.Event, poll_interval: float = 1.0) -> None:
        """Dispatch until ``stop`` is set, polling the log for new requests."""
        while not stop.is_set():
            await self.dispatch_pending(wait=False)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_interval)

    async def close(self) -> None:
        """Cancel deliveries in flight (they stay pending in the log) and close channels."""
        for task in list(self._inflight.values()):
            task.cancel()
        await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        for notifier in self.notifiers.values():
            closer = getattr(notifier, "close", None)
            if closer is not None:
                await closer()

    async def _attempt(self, notifier: Notifier, delivery: Delivery) -> DeliveryResult:
        # Per address, not per channel: a hung webhook URL (or mail host) fills only its own
        # slots, and every other address on the channel keeps its deliveries moving.
        limit = self._limits.setdefault((delivery.channel, delivery.message.address),
                                        asyncio.Semaphore(self.concurrency))
        async with limit:
            try:
                return await asyncio.wait_for(notifier.send(delivery.message),
                                              self.retry.attempt_timeout)
            except TimeoutError:
                return DeliveryResult.failed("timeout")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a bug in a channel must not stop the others
                return DeliveryResult.failed("exception", detail=f"{type(error).__name__}: "
                                                                 f"{error}")

    async def _deliver(self, delivery: Delivery) -> str:
        message, channel = delivery.message, delivery.channel
        where = {"key": message.key, "channel": channel, "address": message.address,
                 "recipient": message.recipient}
        notifier = self.notifiers.get(channel)
        if notifier is None:
            return self._dead(where, message.case_id, 0, "no_channel",
                              f"no notifier configured for channel {channel!r}")
        loop = asyncio.get_running_loop()
        started, attempt = loop.time(), 0
        while True:
            attempt += 1
            result = await self._attempt(notifier, delivery)
            wait = None
            if not result.ok and result.retryable:
                wait = result.retry_after if result.retry_after is not None \
                    else self.retry.delay(attempt)
            self._append(LogKind.NOTIFICATION_ATTEMPT, {
                **where, "attempt": attempt, "ok": result.ok, "reason": result.reason,
                "detail": result.detail, "retry_in": wait}, message.case_id)
            if result.ok:
                NOTIFICATIONS_SENT.labels(channel).inc()
                self._append(LogKind.NOTIFICATION_SENT, {**where, "attempts": attempt},
                             message.case_id)
                self._seen.done.add(delivery.ident)
                self._seen.pending.pop(delivery.ident, None)
                return "sent"
            NOTIFICATIONS_FAILED.labels(channel, result.reason).inc()
            if wait is None:
                return self._dead(where, message.case_id, attempt, result.reason,
                                  result.detail or "permanent failure")
            if loop.time() + wait - started > self.retry.deadline:
                return self._dead(where, message.case_id, attempt, result.reason,
                                  f"delivery deadline of {self.retry.deadline:g} s passed")
            await asyncio.sleep(wait)

    def _dead(self, where: dict[str, Any], case_id: str | None, attempts: int, reason: str,
              detail: str) -> str:
        NOTIFICATIONS_DEAD_LETTERED.labels(where["channel"], reason).inc()
        self._append(LogKind.DEAD_LETTER, {**where, "attempts": attempts, "reason": reason,
                                     "detail": detail}, case_id)
        self._seen.done.add((where["key"], where["channel"], where["address"]))
        self._seen.pending.pop((where["key"], where["channel"], where["address"]), None)
        return "dead_letter"
