"""Escalation of a replay: every signal a replay raised, through the engine on simulated time.

``vigil replay EVENTS --escalate RULES`` calls :func:`escalate_replay_outputs` once the replay
has written ``signals.jsonl``: the replay's hot loop is untouched, and costs nothing more when
``--escalate`` is not given. Time is simulated and follows event time: for each signal in
order the engine's clock is set to the signal's ``occurred_at``, due deadlines fire
(:meth:`~notifiers.engine.EscalationEngine.tick`), then the signal is received; at the end the
clock moves on to the last event's time, firing whatever fell due before it. Notifications
are then delivered through the outbox adapter (each role a subfolder), with the dispatcher on
the same simulated clock, so every log entry carries replay time.

The clock never runs backwards: a signal stamped earlier than one already received (a late
outcome, say) is received at the later time, as a live worker would receive it.

Nobody signs anything off during a replay, so a case that reaches a stage needing sign-off
(CQC, MHRA) waits there: the summary counts those cases, and nothing is sent to a regulator.

Replaying the same events into a fresh log gives the same case ids (they derive from the
signal ids, which derive from the data), so two runs can be compared entry by entry.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from notifiers.clock import ManualClock
from notifiers.delivery import Dispatcher, RetryPolicy
from notifiers.escalation import build_escalation, rules_holder
from notifiers.log.chain import parse_rfc3339
from notifiers.log.escalation_log import EscalationLog, open_log
from notifiers.rules import Rules, RulesHolder
from streams.contract.signal import InvalidSignal, Signal, read_signal

OUTBOX_RETRY = RetryPolicy(first_delay=0.05, max_delay=1.0, deadline=10.0, attempt_timeout=10.0)
"""The outbox writes local files: a failure is a full disk, not worth waiting a day for."""

COUNTED = {
    "case_opened": "cases_opened",
    "case_upgraded": "cases_upgraded",
    "inhibit": "inhibited",
    "signal_recorded": "recorded_on_open_cases",
    "signal_absorbed": "absorbed_by_closed_cases",
    "signal_duplicate": "duplicates",
    "signal_rejected": "rejected",
    "notification_requested": "notifications_requested",
    "notification_sent": "notifications_written",
    "dead_letter": "dead_letters",
    "notification_blocked": "notifications_blocked",
    "reminder": "reminders",
    "deadline_fired": "deadlines_fired",
    "case_closed": "cases_closed",
}
"""Log entry kinds counted in the summary, and the name each count goes by."""


@dataclass(slots=True)
class ReplayEscalation:
    """What escalating a replay did (counts of log entries written by this run)."""

    signals: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    awaiting_signoff: int = 0
    in_screening: int = 0
    open_cases: int = 0
    log_entries: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "signals": self.signals,
            **{name: self.counts[name] for name in COUNTED.values()},
            "awaiting_signoff": self.awaiting_signoff,
            "in_screening": self.in_screening,
            "open_cases": self.open_cases,
            "log_entries": self.log_entries,
            "simulated_from": self.first_at.isoformat() if self.first_at else None,
            "simulated_to": self.last_at.isoformat() if self.last_at else None,
            "seconds": round(self.seconds, 3),
            "signals_per_second": round(self.signals / self.seconds) if self.seconds else None,
        }

    def line(self) -> str:
        """One sentence for people."""
        c = self.counts
        return (
            f"escalation: {self.signals} signals: {c['cases_opened']} cases opened, "
            f"{c['cases_upgraded']} upgraded, {c['inhibited']} inhibited, "
            f"{c['recorded_on_open_cases'] + c['absorbed_by_closed_cases']} re-alarms kept "
            f"on their case; {c['notifications_written']} notifications written, "
            f"{self.in_screening} cases in screening, "
            f"{self.awaiting_signoff} cases awaiting sign-off"
        )


def escalate_replay(
    signals: Iterable[Signal | InvalidSignal],
    rules: Rules | RulesHolder | str | Path,
    log: EscalationLog,
    outbox: str | Path,
    *,
    until: datetime | None = None,
) -> ReplayEscalation:
    """Run ``signals`` (in replay order) through escalation on ``log``, delivering to files
    under ``outbox``; the clock ends at ``until`` (default: the last signal's time).

    Parameters
    ----------
    signals
        Signals as read from what ``vigil replay`` writes to ``signals.jsonl``
        (:func:`~streams.contract.signal.read_signal`); a rejection is logged.
    rules
        Escalation rules: a path to YAML, or rules already loaded.
    log
        The escalation log to write (left open).
    outbox
        Folder for the outbox adapter (one subfolder per recipient role).
    until
        The last event time of the replay, so deadlines due after the last signal fire.

    Examples
    --------
    >>> import tempfile
    >>> from notifiers.rules import default_rules_path
    >>> signal = Signal.parse({"signal_id": "s1", "registry": "r", "metric": "death_30d",
    ...           "monitor": "ra_cusum_or2", "monitor_kind": "ra_cusum",
    ...           "entity_type": "provider", "entity_id": "RXF", "provider": "RXF",
    ...           "direction": "worse", "level": "alert", "statistic": 3.6, "threshold": 3.5,
    ...           "n": 80, "event_id": "e1", "episode_id": None, "observed": 9, "expected": 4.2,
    ...           "occurred_at": "2026-05-11T16:18:00+00:00"})
    >>> with tempfile.TemporaryDirectory() as outbox:
    ...     done = escalate_replay([signal], default_rules_path(), open_log("memory://"), outbox)
    ...     written = sorted(p.parent.name for p in Path(outbox).glob("*/*.json"))
    >>> done.counts["cases_opened"], done.counts["notifications_written"], done.awaiting_signoff
    (1, 2, 0)
    >>> written
    ['lead_clinician', 'medical_director']
    """
    began = time.perf_counter()
    holder = rules_holder(rules)
    timed = _timed(signals)
    first = next(timed, None)
    # The engine logs the rules in force when it starts: at the first signal's time.
    clock = ManualClock((first[0] if first else None) or until or datetime.now(UTC))
    head = _head(log)
    wired = build_escalation(log, holder, outbox=outbox, clock=clock, retry=OUTBOX_RETRY)
    engine = wired.engine
    summary = ReplayEscalation(first_at=clock.now())
    for at, signal in itertools.chain([first] if first else [], timed):
        if at is not None and at > clock.now():
            clock.set(at)
        engine.tick(clock.now())
        engine.receive(signal, at=clock.now())
        summary.signals += 1
    if until is not None and until > clock.now():
        clock.set(until)
    engine.tick(clock.now())

    asyncio.run(_deliver(wired.dispatcher))

    for entry in log.entries(since_seq=head):
        summary.log_entries += 1
        if entry.kind in COUNTED:
            summary.counts[COUNTED[entry.kind]] += 1
    engine.refresh()
    summary.awaiting_signoff = len(engine.cases(status="awaiting_signoff"))
    summary.in_screening = sum(1 for c in engine.cases(status="open")
                               if c.stage is not None and c.stage.screening)
    summary.open_cases = len(engine.cases(status="active"))
    summary.last_at = clock.now()
    summary.seconds = time.perf_counter() - began
    return summary


def escalate_replay_outputs(
    out_dir: str | Path,
    rules: str | Path,
    *,
    log_url: str | None = None,
    outbox: str | Path | None = None,
    events: str | Path | None = None,
) -> ReplayEscalation:
    """Escalate the signals a replay wrote to ``out_dir/signals.jsonl``.

    The log defaults to ``sqlite:///OUT_DIR/escalation.db`` and the outbox to
    ``OUT_DIR/outbox``. ``events``, the replayed file, gives the last event time (read from
    its end); without it the clock stops at the last signal.
    """
    out_dir = Path(out_dir)
    url = log_url or f"sqlite:///{out_dir / 'escalation.db'}"
    until = last_event_time(events) if events is not None else None
    with (out_dir / "signals.jsonl").open(encoding="utf-8") as lines:
        log = open_log(url)
        try:
            return escalate_replay((read_signal(line) for line in lines if line.strip()),
                                   rules, log, outbox or out_dir / "outbox", until=until)
        finally:
            log.close()


def last_event_time(path: str | Path, *, tail_bytes: int = 1 << 16) -> datetime | None:
    """The ``occurred_at`` of the last readable event in a JSONL events file, read from its
    end (``None`` when there is none, or the file cannot be read).

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
    ...     _ = f.write('{"occurred_at": "2026-05-12T08:46:00+01:00"}\\n{not json\\n\\n')
    >>> last_event_time(f.name)
    datetime.datetime(2026, 5, 12, 7, 46, tzinfo=datetime.timezone.utc)
    >>> Path(f.name).unlink()
    """
    try:
        with open(path, "rb") as stream:
            size = stream.seek(0, 2)
            stream.seek(max(0, size - tail_bytes))
            tail = stream.read().splitlines()
    except OSError:
        return None
    for line in reversed(tail):
        at = _occurred_at(line)
        if at is not None:
            return at
    return None


def _occurred_at(line: bytes | str) -> datetime | None:
    try:
        return parse_rfc3339(json.loads(line)["occurred_at"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _timed(
    signals: Iterable[Signal | InvalidSignal],
) -> Iterator[tuple[datetime | None, Signal | InvalidSignal]]:
    for signal in signals:
        # A rejected record has no time of its own: it is logged at the clock's time.
        yield (signal.occurred_at.astimezone(UTC) if isinstance(signal, Signal) else None,
               signal)


def _head(log: EscalationLog) -> int:
    """The seq of the log's last entry (0 when empty): one pass, as the engine's own start."""
    last = 0
    for entry in log.entries():
        last = entry.seq
    return last


async def _deliver(dispatcher: Dispatcher) -> None:
    try:
        await dispatcher.dispatch_pending()
    finally:
        await dispatcher.close()
