"""How fast escalation runs: log appends, engine decisions, delivery, restart, replay.

    PYTHONPATH=. python bench/escalation.py [--signals 3000] [--entities 300]
        [--backends memory,sqlite,postgresql] [--postgres URL] [--appends 500]

Sections, each on every backend asked for (SQLite on a temporary file, PostgreSQL in a
temporary schema that is dropped afterwards; PostgreSQL is left out when unreachable):

* log appends per second, one per transaction and batched (``bench/escalation_log.py``);
* the engine: signals per second with a tick before each (as in replay), outbox delivery,
  restart (rebuilding cases from the log) and verification;
* replay escalation: signals per second through :func:`escalate_replay` (engine, simulated
  time and outbox delivery) on a SQLite log, as ``vigil replay --escalate`` runs it; and the
  bundled sample replayed with and without ``--escalate``, to show the replay itself is not
  slowed.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import escalation_log as append_bench  # bench/escalation_log.py, beside this file

from notifiers.adapters.channels import build_notifiers
from notifiers.delivery import Dispatcher, RetryPolicy
from notifiers.engine import EscalationEngine
from notifiers.log.escalation_log import open_log
from notifiers.recipients import embedded_recipients
from notifiers.replay_escalation import escalate_replay
from notifiers.rules import RulesHolder, default_rules_path
from streams.contract.signal import Signal


def signals(count: int, entities: int, seed: int = 7) -> list[Signal]:
    rng = random.Random(seed)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    out = []
    for i in range(count):
        kind = rng.choices(["provider", "clinician", "device"], [0.6, 0.3, 0.1])[0]
        entity = f"{kind[0].upper()}{rng.randrange(entities):04d}"
        level = rng.choices(["alert", "alarm"], [0.8, 0.2])[0]
        direction = rng.choices(["worse", "better"], [0.7, 0.3])[0]
        at = start + timedelta(hours=i * 2)
        out.append(Signal.parse({
            "signal_id": hashlib.sha256(f"{i}".encode()).hexdigest()[:20],
            "registry": "bench", "metric": "death_30d", "monitor": "ra_cusum_or2",
            "monitor_kind": "ra_cusum", "entity_type": kind, "entity_id": entity,
            "provider": f"R{rng.randrange(100):02d}", "direction": direction, "level": level,
            "statistic": 4.6, "threshold": 4.5, "n": i, "event_id": f"e{i}",
            "episode_id": None, "occurred_at": at.isoformat(), "observed": 9, "expected": 4.2,
        }))
    return out


@contextlib.contextmanager
def log_url(backend: str, folder: Path, postgres: str) -> Iterator[str]:
    """A fresh log location on ``backend``."""
    if backend == "memory":
        yield "memory://"
    elif backend == "sqlite":
        yield f"sqlite:///{folder / f'{uuid.uuid4().hex[:8]}.db'}"
    else:
        import psycopg

        schema = f"vigil_bench_{uuid.uuid4().hex[:12]}"
        try:
            yield f"{postgres}?schema={schema}"
        finally:
            with psycopg.connect(postgres, autocommit=True) as admin:
                admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def engine_bench(backend: str, url: str, batch: list[Signal]) -> None:
    log = open_log(url)
    rules = RulesHolder(default_rules_path())
    engine = EscalationEngine(log, rules)
    began = time.perf_counter()
    outcomes: dict[str, int] = {}
    for signal in batch:
        at = signal.occurred_at
        engine.tick(at)
        status = engine.receive(signal, at=at).status
        outcomes[status] = outcomes.get(status, 0) + 1
    engine.tick(batch[-1].occurred_at + timedelta(days=400))
    seconds = time.perf_counter() - began
    entries = sum(1 for _ in log.entries())
    print(f"{backend:<10} engine   {len(batch) / seconds:>9,.0f} signals/s  ({len(batch)} "
          f"signals, a tick before each, in {seconds:.2f} s; {entries} entries; {outcomes})")

    with tempfile.TemporaryDirectory() as folder:
        recipients = embedded_recipients(folder)
        dispatcher = Dispatcher(log, build_notifiers(recipients), recipients,
                                retry=RetryPolicy(first_delay=0.01, deadline=5), concurrency=8)
        began = time.perf_counter()
        report = asyncio.run(dispatcher.dispatch_pending())
        seconds = time.perf_counter() - began
        print(f"{backend:<10} outbox   {report.sent / seconds:>9,.0f} notifications/s  "
              f"({report.sent} delivered, two files and two log entries each; "
              f"dead letters {report.dead_lettered})")

    began = time.perf_counter()
    restarted = EscalationEngine(log, rules)
    seconds = time.perf_counter() - began
    total = sum(1 for _ in log.entries())
    print(f"{backend:<10} restart  {total / seconds:>9,.0f} entries/s  (rebuilt "
          f"{len(restarted.book.cases)} cases from {total} entries in {seconds:.2f} s)")
    began = time.perf_counter()
    verified = log.verify()
    seconds = time.perf_counter() - began
    print(f"{backend:<10} verify   {verified.entries / seconds:>9,.0f} entries/s  "
          f"(ok={verified.ok})")
    log.close()


def replay_bench(batch: list[Signal], folder: Path) -> None:
    url = f"sqlite:///{folder / 'replay.db'}"
    log = open_log(url)
    try:
        done = escalate_replay(batch, default_rules_path(), log, folder / "outbox")
    finally:
        log.close()
    print(f"replay escalation (SQLite log): {done.signals / done.seconds:,.0f} signals/s  "
          f"({done.signals} signals in {done.seconds:.2f} s, engine and outbox delivery; "
          f"{done.counts['cases_opened']} cases, {done.counts['notifications_written']} "
          f"notifications, {done.log_entries} entries)")

    from streams.cli.main import main

    for escalate in (False, True):
        out = folder / f"sample-{escalate}"
        argv = ["replay", "--out", str(out)]
        if escalate:
            argv += ["--escalate", str(default_rules_path())]
        began = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()) as captured, \
                contextlib.redirect_stderr(io.StringIO()):
            main(argv)
        wall = time.perf_counter() - began
        report = json.loads(captured.getvalue().splitlines()[-1])
        line = (f"vigil replay sample{' --escalate' if escalate else '':<11} "
                f"replay {report['events_per_second']:>7,} events/s, {wall:.2f} s in all")
        if escalate:
            esc = report["escalation"]
            line += (f"; escalation {esc['signals']} signals in {esc['seconds']} s = "
                     f"{esc['signals_per_second']:,} signals/s")
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=3000)
    parser.add_argument("--entities", type=int, default=300)
    parser.add_argument("--backends", default="memory,sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--appends", type=int, default=500,
                        help="entries for the one-per-transaction append figure "
                             "(ten times as many batched)")
    args = parser.parse_args()
    backends = args.backends.split(",")
    if "postgresql" in backends:
        try:
            import psycopg

            psycopg.connect(args.postgres, connect_timeout=3).close()
        except Exception as exc:  # the bench still reports the others without a server
            print(f"postgresql left out: not reachable ({' '.join(str(exc).split())})")
            backends.remove("postgresql")
    batch = signals(args.signals, args.entities)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("-- log appends")
        for backend in backends:
            if backend != "memory":
                with log_url(backend, folder, args.postgres) as url:
                    append_bench.bench(backend, url, args.appends, 10 * args.appends, 100)
        print("-- engine")
        for backend in backends:
            with log_url(backend, folder, args.postgres) as url:
                engine_bench(backend, url, batch)
        print("-- replay")
        replay_bench(batch, folder)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
