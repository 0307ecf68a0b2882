"""Streaming throughput on the embedded broker: (a) a minimal faust agent updating one table
key per event, (b) a bare aiokafka consumer that decodes and counts, (c) the Vigil worker,
(d) ``vigil replay`` of the same events (in process, no broker).

Prints events/s for each and the ratios (c)/(d) (goal ≥ 0.25), (c)/(a) (goal ≥ 3) and
(c)/(b); then p50/p99
latency from an event's produce time (its Kafka timestamp) to the publication of the signal
it raised (the signal's Kafka timestamp; for an episode completed by a later outcome
event, from the outcome's produce time) with events produced at a steady
``--latency-rate`` a second (``vigil produce --rate``); then memory per monitor, as the
deep ``sys.getsizeof`` of the monitors the worker held (its table's changelog, loaded as
the worker loads it), with the worker's RSS for context.

    .venv/bin/python bench/stream.py [--events 200000] [--latency-seconds 60]

Rates count from the first event consumed (process start-up and group join excluded) to
the last: (a) by the agent's own count of processed events (plain faust commits lag far
behind its processing: it moved its committed offsets at a few hundred events a second
here), (c) to the moment all three stages have *committed* every offset, a stricter end
(stages 2 and 3 commit no offset past what they hold for the watermark, so this includes
the wait for it: ``VIGIL_ALLOWED_LATENESS`` of event time, then the idle flush).
Every phase has a timeout and prints what it got when it runs out.

Each hop (events → episodes → observations → signals) waits for a fetch: faust hard-codes 1.5 s,
the worker asks for ``VIGIL_FETCH_MAX_WAIT_MS`` (100 ms by default).
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.bundled_samples import sample_paths  # noqa: E402
from streams.kafka.embedded_broker import EmbeddedBroker, free_port  # noqa: E402
from streams.synthetic import (  # noqa: E402
    SYNTHETIC_EVENT_TIMES,
    SyntheticRegistry,
    synthetic_events,
)

# The synthetic feed runs ahead of today: widen the event-time window for it.
for _name, _value in SYNTHETIC_EVENT_TIMES.items():
    os.environ.setdefault(_name, _value)

MINIMAL_AGENT = textwrap.dedent('''
    import json, sys, time, faust
    bootstrap, group, topic, port, total, report, partitions = sys.argv[1:8]
    total = int(total)
    # The table's changelog must have the source topic's partitions (faust refuses to run
    # the agent otherwise: with faust's default of 8 on a 4-partition topic it never started).
    app = faust.App(group, broker="kafka://" + bootstrap, store="memory://",
                    topic_partitions=int(partitions),
                    web_port=int(port), broker_session_timeout=6,
                    broker_heartbeat_interval=1, table_standby_replicas=0,
                    value_serializer="raw", key_serializer="raw", autodiscover=False)
    source = app.topic(topic, value_serializer="raw")
    counts = app.Table("counts", default=int)
    seen = [0, None]
    @app.agent(source)
    async def count(stream):
        async for value in stream:
            if seen[1] is None:
                seen[1] = time.time()
            try:
                event = json.loads(value)
            except ValueError:
                event = {}
            counts[event.get("event_type", "?") if isinstance(event, dict) else "?"] += 1
            seen[0] += 1
            if seen[0] % 5000 == 0:
                with open(report + ".progress", "w") as out:
                    out.write(str(seen[0]))
            if seen[0] == total:
                with open(report, "w") as out:
                    json.dump({"first": seen[1], "last": time.time(), "n": total}, out)
    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    app.main()
''')


async def _ends(consumer: Any, tps: list[Any]) -> dict[Any, int]:
    """End offsets from fetch high watermarks (the embedded broker's ListOffsets answers
    one batch short)."""
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, 0)
    ends: dict[Any, int] = {}
    deadline = time.monotonic() + 10
    while len(ends) < len(tps) and time.monotonic() < deadline:
        await consumer.getmany(timeout_ms=200, max_records=1)
        for tp in tps:
            if consumer.highwater(tp) is not None:
                ends[tp] = consumer.highwater(tp)
    return ends


async def _committed(bootstrap: str, group: str, topics: list[str]) -> tuple[int, int]:
    """(committed offsets summed, end offsets summed) over ``topics``."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(t, p) for t in topics
               for p in consumer.partitions_for_topic(t) or ()]
        done = sum([(await consumer.committed(tp)) or 0 for tp in tps])
        ends = await _ends(consumer, tps)
        return done, sum(ends.values()) if len(ends) == len(tps) else 1 << 62
    finally:
        await consumer.stop()


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=out,
                                start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _time_worker(bootstrap: str, group: str, topics: list[str], process: Any,
                 timeout: float) -> tuple[float | None, int, int]:
    """Seconds from the first commit seen to every offset of ``topics`` committed, with the
    events committed at the first sighting, or None when ``timeout`` ran out."""
    deadline = time.monotonic() + timeout
    first = None
    done = end = 0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            print(f"  the process exited with {process.returncode}")
            return None, done, end
        done, end = asyncio.run(_committed(bootstrap, group, topics))
        if first is None and done > 0:
            first = (time.perf_counter(), done)
        if done >= end:
            t0, d0 = first or (time.perf_counter(), 0)
            return max(time.perf_counter() - t0, 1e-9), d0, end
        time.sleep(0.5)
    print(f"  timed out after {timeout:.0f} s with {done} of {end} offsets committed")
    return None, done, end


async def _bare(bootstrap: str, topic: str, total: int, timeout: float) -> float:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    count = 0
    started = time.perf_counter()
    try:
        while count < total and time.perf_counter() - started < timeout:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10000)
            for records in batch.values():
                for record in records:
                    try:  # noqa: SIM105 (suppress() would slow the baseline loop)
                        json.loads(record.value)
                    except ValueError:
                        pass
                    count += 1
    finally:
        await consumer.stop()
    if count < total:
        print(f"  timed out with {count} of {total} events read")
    return count / (time.perf_counter() - started)


def _replay_rate(events: Path, config: Path) -> float:
    """``vigil replay``'s events/s on the file, as its summary reports it."""
    sys.path.insert(0, str(ROOT))
    from streams.contract.pseudonym import Pseudonymiser
    from streams.pipeline.config import load_config
    from streams.pipeline.core import Pipeline
    from streams.pipeline.replay import replay

    with tempfile.TemporaryDirectory() as out:
        summary = replay(events.open("rb"), Pipeline(load_config(config)), Path(out),
                         Pseudonymiser(b"bench-key-0123456789"))
    return summary.lines / summary.seconds


def _rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def deep_size(value: Any, seen: set[int] | None = None) -> int:
    """``sys.getsizeof`` of ``value`` and everything it holds, each object counted once;
    enum members (one object each, shared by every monitor) are not the monitor's."""
    seen = set() if seen is None else seen
    if id(value) in seen or isinstance(value, enum.Enum):
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in value.items())
    elif isinstance(value, (list, tuple, set, frozenset)):
        size += sum(deep_size(v, seen) for v in value)
    elif hasattr(value, "__dict__"):
        size += deep_size(vars(value), seen)
    if hasattr(type(value), "__slots__"):
        for name in getattr(type(value), "__slots__", ()):
            if hasattr(value, name):
                size += deep_size(getattr(value, name), seen)
    return size


def _memory(bootstrap: str, group: str, config: Path, partitions: int) -> None:
    sys.path.insert(0, str(ROOT))
    from streams.pipeline.config import load_config
    from streams.pipeline.core import Pipeline
    from streams.worker.entity_stage import monitor_state
    from tests.support.topics import last_values

    pipeline = Pipeline(load_config(config))
    table = last_values(bootstrap, f"{group}-monitors-changelog")
    tracemalloc.start()
    state = monitor_state(pipeline, table.items(), partitions)
    allocated, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    monitors = sum(1 for _ in pipeline.monitor_records(state))
    size = sum(deep_size(m) for m in state.entities.values())
    stored = sum(len(json.dumps(v)) for v in table.values() if v is not None)
    print(f"memory: {len(state.entities):,} entities holding {monitors:,} monitors; "
          f"deep sys.getsizeof {size / max(monitors, 1):,.0f} B per monitor in memory "
          f"(tracemalloc: {allocated / max(monitors, 1):,.0f} B allocated per monitor "
          f"loaded), {stored / max(monitors, 1):,.0f} B per monitor as stored (JSON, with "
          "the value before the last batch and the last key applied); goal <= 1 KB")


async def _latencies(bootstrap: str, events_topic: str, signals_topic: str
                     ) -> list[float]:
    """Signal publication time minus its source event's produce time, in seconds."""
    from aiokafka import AIOKafkaConsumer

    async def read(topic: str) -> list[Any]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        out: list[Any] = []
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=1500, max_records=10000)
                if not batch:
                    return out
                for records in batch.values():
                    out.extend(records)
        finally:
            await consumer.stop()

    produced = {}
    for record in await read(events_topic):
        try:
            produced[json.loads(record.value)["event_id"]] = record.timestamp
        except (ValueError, KeyError, TypeError):
            continue
    stage1 = []
    # A signal names the episode's procedure event; an outcome that completed the episode
    # later is what triggered it: its time is the observation's source timestamp.
    triggered: dict[tuple[Any, ...], int] = {}
    for record in await read(signals_topic.replace("signals", "obs")):
        bundle = json.loads(record.value)  # a list of observations (one, before bundles)
        for observation in bundle if isinstance(bundle, list) else [bundle]:
            if observation.get("ts") is not None:
                stage1.append((record.timestamp - observation["ts"]) / 1000)
                triggered[(observation["event_id"], observation["metric"],
                           *observation["entity"])] = observation["ts"]
    if stage1:
        print(f"  stage 1 alone, produce → observation published ({len(stage1):,}): "
              f"p50 {_percentile(stage1, 0.5) * 1000:,.0f} ms, "
              f"p99 {_percentile(stage1, 0.99) * 1000:,.0f} ms")
    out, first = [], min(produced.values(), default=0)
    for record in await read(signals_topic):
        signal = json.loads(record.value)
        source = triggered.get((signal.get("event_id"), signal.get("metric"),
                                signal.get("entity_type"), signal.get("entity_id")),
                               produced.get(signal.get("event_id")))
        if source is not None:
            out.append(((record.timestamp - source) / 1000, (source - first) / 1000))
    if out:
        slowest = ", ".join(f"{lat * 1000:,.0f} ms at {at:.1f} s" for lat, at in
                            sorted(out, reverse=True)[:3])
        print(f"  slowest signals (latency, produced this long after the first event): "
              f"{slowest}")
    return [lat for lat, _ in out]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _write_events(path: Path, events: int, seed: int) -> int:
    spec = SyntheticRegistry(procedures=int(events / 1.3), providers=150,
                             clinicians_per_provider=8, seed=seed)
    with path.open("w") as out:
        for line in synthetic_events(spec):
            out.write(line + "\n")
    return sum(1 for _ in path.open("rb"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--latency-rate", type=float, default=1000.0)
    parser.add_argument("--latency-seconds", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=600.0, help="per phase, seconds")
    parser.add_argument("--latency-only", action="store_true",
                        help="skip the throughput runs (a), (b) and (c)")
    args = parser.parse_args()
    _, config = sample_paths()
    with tempfile.TemporaryDirectory() as tmp_name, EmbeddedBroker() as broker:
        tmp = Path(tmp_name)
        bootstrap = broker.bootstrap_servers
        events = tmp / "events.jsonl"
        lines = _write_events(events, args.events, seed=1)
        env = dict(os.environ, PYTHONPATH=str(ROOT), VIGIL_BOOTSTRAP_SERVERS=bootstrap,
                   VIGIL_BROKER_QUIRKS="tansu",
                   VIGIL_HMAC_KEY="bench-5b2e9f7c41d8a036e7c9b1f4a2d6c8e0", VIGIL_APP_ID="bench",
                   VIGIL_EVENTS_TOPIC="bench.events", VIGIL_EPISODES_TOPIC="bench.episodes",
                   VIGIL_OBSERVATIONS_TOPIC="bench.obs", VIGIL_IDLE_TIMEOUT="2",
                   VIGIL_SIGNALS_TOPIC="bench.signals",
                   VIGIL_DEAD_LETTER_TOPIC="bench.dead", VIGIL_PARTITIONS=str(args.partitions),
                   VIGIL_SESSION_TIMEOUT="6", VIGIL_HEARTBEAT_INTERVAL="1",
                   VIGIL_LOG_LEVEL="ERROR", VIGIL_WEB_PORT=str(free_port()))
        if args.latency_only:
            _latency(args, env, config, tmp, bootstrap)
            return
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "streams.cli.main", "produce", str(events)],
                       env=env, check=True, stdout=subprocess.DEVNULL, timeout=args.timeout)
        print(f"produced {lines:,} events in {time.perf_counter() - started:.1f} s")

        rate_d = _replay_rate(events, config)
        print(f"(d) vigil replay of the same events, in process: {rate_d:,.0f} events/s")

        rate_b = asyncio.run(_bare(bootstrap, "bench.events", lines, args.timeout))
        print(f"(b) bare aiokafka consumer, JSON decode: {rate_b:,.0f} events/s")

        script, report = tmp / "minimal.py", tmp / "minimal.json"
        script.write_text(MINIMAL_AGENT)
        agent = _start([sys.executable, str(script), bootstrap, "minimal", "bench.events",
                        str(free_port()), str(lines), str(report), str(args.partitions)],
                       env, tmp / "a.log")
        rate_a = None
        deadline = time.monotonic() + args.timeout
        try:
            while time.monotonic() < deadline and agent.poll() is None:
                if report.exists() and report.stat().st_size:
                    done = json.loads(report.read_text())
                    rate_a = done["n"] / max(done["last"] - done["first"], 1e-9)
                    break
                time.sleep(0.5)
        finally:
            _stop(agent)
        if rate_a is None:
            progress = Path(str(report) + ".progress")
            got = progress.read_text() if progress.exists() else "0"
            print(f"(a) minimal faust agent: processed {got} of {lines:,} events within "
                  f"{args.timeout:.0f} s; no rate")
        else:
            print(f"(a) minimal faust agent, one table update per event: {rate_a:,.0f} "
                  f"events/s")

        worker = _start([sys.executable, "-m", "streams.cli.main", "run", "--config",
                         str(config)], env, tmp / "c.log")
        try:
            stage1, d0, _ = _time_worker(bootstrap, "bench", ["bench.events"], worker,
                                         args.timeout)
            both, _, obs = _time_worker(bootstrap, "bench", ["bench.events", "bench.episodes",
                                                             "bench.obs"],
                                        worker, args.timeout)
            rss = _rss_kib(worker.pid)
        finally:
            _stop(worker)
        rate_c = rate_c1 = None
        if stage1 is not None:
            rate_c1 = (lines - d0) / stage1
            print(f"(c) Vigil worker, stage 1 (events committed): {rate_c1:,.0f} events/s")
        if stage1 is not None and both is not None:
            rate_c = (lines - d0) / (stage1 + both)
            print(f"(c) Vigil worker, all three stages (every event and the {obs - lines:,} "
                  f"bundles between the stages committed): {rate_c:,.0f} events/s; worker "
                  f"RSS {(rss or 0) / 1024:,.0f} MiB")
        if rate_c is not None:
            ratio_a = f"{rate_c / rate_a:.2f}" if rate_a else "n/a"
            print(f"(c)/(d) = {rate_c / rate_d:.3f} (goal >= 0.25)   (c)/(a) = {ratio_a} "
                  f"(goal >= 3)   (c)/(b) = {rate_c / rate_b:.3f}")
        _memory(bootstrap, "bench", config, args.partitions)

        _latency(args, env, config, tmp, bootstrap)

def _latency(args: argparse.Namespace, env: dict[str, str], config: Path, tmp: Path,
             bootstrap: str) -> None:
    """A fresh app and topics, events at a steady rate once the worker is ready."""
    lat_events = tmp / "latency.jsonl"
    _write_events(lat_events, int(args.latency_rate * args.latency_seconds), seed=2)
    port = free_port()
    lat_env = dict(env, VIGIL_APP_ID="lat", VIGIL_EVENTS_TOPIC="lat.events",
                   VIGIL_EPISODES_TOPIC="lat.episodes", VIGIL_OBSERVATIONS_TOPIC="lat.obs",
                   VIGIL_SIGNALS_TOPIC="lat.signals",
                   VIGIL_DEAD_LETTER_TOPIC="lat.dead", VIGIL_WEB_PORT=str(port))
    worker = _start([sys.executable, "-m", "streams.cli.main", "run", "--config",
                     str(config)], lat_env, tmp / "lat.log")
    try:
        _wait_ready(port, worker)  # joined and recovered before the first event
        subprocess.run([sys.executable, "-m", "streams.cli.main", "produce", str(lat_events),
                        "--rate", str(args.latency_rate)], env=lat_env, check=True,
                       stdout=subprocess.DEVNULL, timeout=args.timeout)
        _time_worker(bootstrap, "lat", ["lat.events", "lat.episodes", "lat.obs"], worker,
                     args.timeout)
    finally:
        _stop(worker)
    latencies = asyncio.run(_latencies(bootstrap, "lat.events", "lat.signals"))
    if latencies:
        print(f"latency at {args.latency_rate:,.0f} events/s for "
              f"{args.latency_seconds:.0f} s, produce → signal published "
              f"({len(latencies)} signals): p50 {_percentile(latencies, 0.5) * 1000:,.0f} "
              f"ms, p99 {_percentile(latencies, 0.99) * 1000:,.0f} ms, max "
              f"{max(latencies) * 1000:,.0f} ms")
    else:
        print("latency: no signals published")


def _wait_ready(port: int, worker: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    print(f"worker not ready within {timeout:.0f} s; measuring anyway")


if __name__ == "__main__":
    main()
