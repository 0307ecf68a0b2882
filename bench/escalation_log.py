"""Appends per second on each escalation-log backend, one per transaction and batched.

    PYTHONPATH=. python bench/escalation_log.py [--single 1000] [--batched 20000] [--batch 100]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]

SQLite runs on a temporary file (WAL, synchronous=FULL as in production); PostgreSQL in a
temporary schema that is dropped afterwards. Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from notifiers.log.escalation_log import EscalationLog, open_log

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def _payload(i: int) -> dict[str, object]:
    return {"monitor": "ra_cusum", "level": "alarm", "statistic": 4.2 + i / 1000,
            "threshold": 4.0, "observed": i % 17, "expected": 3.25}


def bench(name: str, url: str, single: int, batched: int, batch: int) -> None:
    with closing(open_log(url)) as log:
        rate = _timed(single, lambda: _singles(log, single))
        _report(name, "append (1 per transaction)", rate, f"{single} entries")
        rate = _timed(batched, lambda: _batches(log, batched, batch))
        _report(name, f"append_many ({batch} per transaction)", rate, f"{batched} entries")
        results = []
        rate = _timed(single + batched, lambda: results.append(log.verify()))
        _report(name, "verify", rate, f"ok={results[0].ok}, {results[0].entries} entries")


def _report(backend: str, what: str, rate: float, detail: str) -> None:
    print(f"{backend:<10} {what:<34} {rate:>9,.0f} /s  ({detail})")


def _singles(log: EscalationLog, n: int) -> None:
    for i in range(n):
        log.append("signal", _payload(i), at=T0 + timedelta(seconds=i), entity_id="RXF")


def _batches(log: EscalationLog, n: int, size: int) -> None:
    for start in range(0, n, size):
        log.append_many([("signal", _payload(i), T0 + timedelta(seconds=i), f"C{i % 50}", "RXF")
                         for i in range(start, min(n, start + size))])


def _timed(n: int, work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=1000)
    parser.add_argument("--batched", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        bench("sqlite", url, args.single, args.batched, args.batch)

    try:
        import psycopg

        admin = psycopg.connect(args.postgres, autocommit=True, connect_timeout=3)
    except Exception as exc:  # the bench still reports SQLite without a server
        print(f"postgresql skipped: not reachable ({' '.join(str(exc).split())})")
        return
    schema = f"vigil_bench_{uuid.uuid4().hex[:12]}"
    try:
        bench("postgresql", f"{args.postgres}?schema={schema}", args.single, args.batched,
              args.batch)
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()


if __name__ == "__main__":
    main()
