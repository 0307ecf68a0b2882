"""Replay throughput and memory on 1,000,000 synthetic events.

Prints replay events/s, the ratio to a bare ``json.loads`` loop over the same file (goal
≥ 0.25) and the replay process's peak memory (goal < 1 GB).

    .venv/bin/python bench/replay.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from streams.bundled_samples import sample_paths
from streams.synthetic import SYNTHETIC_EVENT_TIMES, SyntheticRegistry, synthetic_events

# The synthetic feed runs ahead of today: widen the event-time window for it.
for _name, _value in SYNTHETIC_EVENT_TIMES.items():
    os.environ.setdefault(_name, _value)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "events.jsonl"
        started = time.perf_counter()
        spec = SyntheticRegistry(procedures=int(args.events / 1.3), providers=150,
                                 clinicians_per_provider=8, seed=1)
        with events.open("w") as out:
            for line in synthetic_events(spec):
                out.write(line + "\n")
        with events.open("rb") as handle:
            lines = sum(1 for _ in handle)
        print(f"generated {lines} events ({events.stat().st_size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        with events.open("rb") as handle:
            for line in handle:
                try:  # noqa: SIM105 (suppress() would slow the baseline loop)
                    json.loads(line)
                except ValueError:
                    pass
        json_seconds = time.perf_counter() - started

        _, config = sample_paths()
        command = [sys.executable, "-m", "streams.cli.main", "--log-level", "ERROR", "replay",
                   str(events), "--config", str(config), "--out", str(Path(tmp) / "out")]
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        replay_seconds = time.perf_counter() - started
        assert status == 0, "replay failed"
        summary = json.loads(child.stdout.read().decode().splitlines()[-1])

    json_rate = lines / json_seconds
    replay_rate = lines / replay_seconds
    print(f"json.loads loop:  {json_rate:,.0f} events/s")
    print(f"vigil replay:     {replay_rate:,.0f} events/s (whole process, incl. start-up; "
          f"in-loop {summary['events_per_second']:,} events/s)")
    print(f"ratio replay/json.loads: {replay_rate / json_rate:.3f} (goal >= 0.25)")
    print(f"peak memory (max RSS) of replay: {usage.ru_maxrss / 1024:.0f} MB (goal < 1024 MB)")
    print(f"signals: {summary['signals']}, rejected: {summary['rejected']}, "
          f"monitors: {summary['monitors']}")


if __name__ == "__main__":
    main()
