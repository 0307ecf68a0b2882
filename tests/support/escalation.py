"""Builders shared by the escalation tests: signals, engines on a ManualClock, log queries."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from notifiers.clock import ManualClock
from notifiers.engine import EscalationEngine
from notifiers.log.escalation_log import EscalationLog
from notifiers.rules import Rules, RulesHolder, default_rules_path, load_rules
from streams.contract.signal import Signal

NewLog = Callable[[], EscalationLog]
"""The ``new_log`` fixture (``tests/conftest.py``): a fresh log on the backend under test."""


def at(text: str) -> datetime:
    """``"2026-12-24 10:00"`` as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def record(level: str = "alert", *, entity_id: str = "RXF", entity_type: str = "provider",
           direction: str = "worse", metric: str = "death_30d", n: int = 120,
           **extra: Any) -> dict[str, Any]:
    """A signal record as ``vigil replay`` writes it, with a deterministic id."""
    data: dict[str, Any] = {
        "registry": "ncap-adult-cardiac", "metric": metric, "monitor": "ra_cusum_or2",
        "monitor_kind": "ra_cusum", "entity_type": entity_type, "entity_id": entity_id,
        "provider": entity_id if entity_type == "provider" else "RXF",
        "direction": direction, "level": level,
        "statistic": 4.61 if level == "alarm" else 3.62,
        "threshold": 4.5 if level == "alarm" else 3.5, "n": n,
        "event_id": f"ev-{n}", "episode_id": f"ep-{n}",
        "occurred_at": "2026-12-01T09:00:00Z", "observed": 9, "expected": 4.2,
        "risk_model_version": "logistic-1",
    }
    data.update(extra)
    basis = "|".join(str(data[k]) for k in ("metric", "entity_type", "entity_id", "level", "n"))
    data.setdefault("signal_id", hashlib.sha256(basis.encode()).hexdigest()[:20])
    return data


def signal(level: str = "alert", **fields: Any) -> Signal:
    """:func:`record` parsed, as the escalation side receives it."""
    return Signal.parse(record(level, **fields))


def engine(log: EscalationLog, start: str = "2026-12-01 09:00",
           rules: Rules | RulesHolder | None = None) -> tuple[EscalationEngine, ManualClock]:
    """An engine with the default rules (or ``rules``) on ``log``, its clock at ``start``."""
    clock = ManualClock(at(start))
    holder = rules if rules is not None else RulesHolder(default_rules_path())
    return EscalationEngine(log, holder, clock=clock), clock


def default_rules() -> Rules:
    return load_rules(default_rules_path())


def kinds(entries: Any) -> list[str]:
    return [e.kind for e in entries]


def requested(log: Any, **filters: Any) -> list[dict[str, Any]]:
    """Payloads of notification requests, optionally filtered by payload fields."""
    return [e.payload for e in log.entries(kind="notification_requested")
            if all(e.payload.get(k) == v for k, v in filters.items())]


ANALYST = "Registry Analyst"
"""Who passes alarms through screening in the tests (never the one who signs off)."""


def screened_alarm(eng: EscalationEngine, *, when: datetime | None = None,
                   **fields: Any) -> str:
    """An alarm received and confirmed at screening (so its preliminary notice has gone to
    the provider), as the tests of the later HQIP stages start from; the case id."""
    case_id = eng.receive(signal("alarm", **fields), at=when).case_ids[0]
    eng.act(case_id, "confirm", by=ANALYST, at=when)
    return case_id
