"""How fast signals go through escalation: engine decisions, outbox delivery, restart.

    PYTHONPATH=. python bench/escalation.py [--signals 5000] [--entities 500] [--log URL]

With no ``--log`` the in-memory log is used; ``--log sqlite:///tmp/x.db`` uses the real
backend when ``notifiers.escalation_log`` is present. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from notifiers.channels import build_notifiers
from notifiers.delivery import Dispatcher, RetryPolicy
from notifiers.engine import EscalationEngine
from notifiers.memory_log import MemoryEscalationLog
from notifiers.recipients import embedded_recipients
from notifiers.rules import RulesHolder, default_rules_path


def signals(count: int, entities: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    out = []
    for i in range(count):
        kind = rng.choices(["provider", "clinician", "device"], [0.6, 0.3, 0.1])[0]
        entity = f"{kind[0].upper()}{rng.randrange(entities):04d}"
        level = rng.choices(["alert", "alarm"], [0.8, 0.2])[0]
        direction = rng.choices(["worse", "better"], [0.7, 0.3])[0]
        at = start + timedelta(hours=i * 2)
        out.append({
            "signal_id": hashlib.sha256(f"{i}".encode()).hexdigest()[:20],
            "registry": "bench", "metric": "death_30d", "monitor": "ra_cusum_or2",
            "monitor_kind": "ra_cusum", "entity_type": kind, "entity_id": entity,
            "provider": f"R{rng.randrange(100):02d}", "direction": direction, "level": level,
            "statistic": 4.6, "threshold": 4.5, "n": i, "event_id": f"e{i}",
            "episode_id": None, "occurred_at": at.isoformat(), "observed": 9, "expected": 4.2,
        })
    return out


def open_log(url: str | None):  # type: ignore[no-untyped-def]
    if url is None:
        return MemoryEscalationLog()
    from notifiers.escalation_log import open_log as backend  # type: ignore[import-not-found]

    return backend(url)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--signals", type=int, default=5000)
    parser.add_argument("--entities", type=int, default=500)
    parser.add_argument("--log", default=None)
    args = parser.parse_args()
    batch = signals(args.signals, args.entities)
    log = open_log(args.log)
    rules = RulesHolder(default_rules_path())
    engine = EscalationEngine(log, rules)

    began = time.perf_counter()
    outcomes: dict[str, int] = {}
    for signal in batch:
        at = datetime.fromisoformat(signal["occurred_at"])
        engine.tick(at)
        status = engine.receive(signal, at=at).status
        outcomes[status] = outcomes.get(status, 0) + 1
    engine.tick(datetime.fromisoformat(batch[-1]["occurred_at"]) + timedelta(days=400))
    seconds = time.perf_counter() - began
    entries = sum(1 for _ in log.entries())
    print(f"engine: {len(batch)} signals in {seconds:.2f} s = {len(batch) / seconds:,.0f} "
          f"signals/s (with a tick before each); {entries} log entries; {outcomes}")

    with tempfile.TemporaryDirectory() as folder:
        recipients = embedded_recipients(folder)
        dispatcher = Dispatcher(log, build_notifiers(recipients), recipients,
                                retry=RetryPolicy(first_delay=0.01, deadline=5),
                                concurrency=8)
        began = time.perf_counter()
        report = asyncio.run(dispatcher.dispatch_pending())
        seconds = time.perf_counter() - began
        print(f"outbox: {report.sent} notifications delivered in {seconds:.2f} s = "
              f"{report.sent / seconds:,.0f}/s (two files each); dead letters "
              f"{report.dead_lettered}")

    began = time.perf_counter()
    restarted = EscalationEngine(log, rules)
    seconds = time.perf_counter() - began
    total = sum(1 for _ in log.entries())
    print(f"restart: rebuilt {len(restarted.book.cases)} cases from {total} entries in "
          f"{seconds:.2f} s = {total / seconds:,.0f} entries/s")
    began = time.perf_counter()
    verified = log.verify()
    print(f"verify: chain of {verified.entries} entries ok={verified.ok} in "
          f"{time.perf_counter() - began:.2f} s")
    log.close()


if __name__ == "__main__":
    main()
