"""The worker's results beside ``vigil replay``'s on the same events and config: what the
integration tests compare to show that the streaming worker computes what replay does.

Both sides use the bundled sample config and the tests' HMAC key, so signal ids and
pseudonymised entity ids agree between them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streams.bundled_samples import sample_paths
from streams.contract.pseudonym import Pseudonymiser
from streams.kafka.embedded_broker import EmbeddedBroker
from streams.pipeline.config import load_config
from streams.pipeline.core import Pipeline
from streams.pipeline.replay import replay
from streams.synthetic import SyntheticRegistry, synthetic_events
from streams.worker.entity_stage import monitor_state
from tests.support.topics import last_values, read_topic, wait_done
from tests.support.workers import HMAC_KEY, WorkerProcess, vigil

CONFIG = sample_paths()[1]
"""The bundled sample config (``streams/samples/ncap.yaml``) both sides run."""

Signals = dict[str, dict[str, Any]]
"""Signals by ``signal_id``."""


def synthetic_file(path: Path, procedures: int, seed: int = 3) -> Path:
    """Write a seeded synthetic registry (12 providers, one with odds 2.5) to ``path``."""
    # No invalid lines here: the synthetic duplicates reuse ids across providers, which
    # the worker can only catch within a provider's partition (see README).
    spec = SyntheticRegistry(procedures=procedures, providers=12, seed=seed,
                             invalid_fraction=0.0, provider_odds={"R1B": 2.5})
    with path.open("w") as out:
        for line in synthetic_events(spec):
            out.write(line + "\n")
    return path


def replay_results(events: Path, out: Path, config: Path = CONFIG
                   ) -> tuple[Signals, list[dict[str, Any]], Any]:
    """Replay ``events`` into ``out``: (signals by id, monitor records, replay summary)."""
    pipeline = Pipeline(load_config(config))
    with events.open("rb") as lines:
        summary = replay(lines, pipeline, out, Pseudonymiser(HMAC_KEY.encode()))
    signals = {s["signal_id"]: s for s in
               (json.loads(x) for x in (out / "signals.jsonl").read_text().splitlines())}
    monitors = [json.loads(x) for x in (out / "monitors.jsonl").read_text().splitlines()]
    return signals, monitors, summary


def worker_results(broker: EmbeddedBroker, env: dict[str, str], config: Path = CONFIG
                   ) -> tuple[Signals, list[dict[str, Any]], int]:
    """(signals by id, monitor records from the monitors changelog, signals published with
    duplicates); a signal published twice must be published identically."""
    published = read_topic(broker.bootstrap_servers, env["VIGIL_SIGNALS_TOPIC"])
    signals: Signals = {}
    for _, signal in published:
        assert signals.setdefault(signal["signal_id"], signal) == signal
    pipeline = Pipeline(load_config(config))
    table = last_values(broker.bootstrap_servers, f"{env['VIGIL_APP_ID']}-monitors-changelog")
    monitors = list(pipeline.monitor_records(monitor_state(
        pipeline, table.items(), int(env.get("VIGIL_PARTITIONS", "8")))))
    return signals, monitors, len(published)


def produce(env: dict[str, str], events: Path) -> None:
    """``vigil produce`` the whole file to the events topic of ``env``."""
    result = vigil("produce", str(events), env=env)
    assert result.returncode == 0, result.stderr


def run_through(broker: EmbeddedBroker, env: dict[str, str], events: Path, log: Path,
                config: Path = CONFIG, worker_env: dict[str, str] | None = None) -> None:
    """Produce ``events``, run one worker on ``config`` (with ``worker_env`` in place of
    ``env`` if given) until every input partition is committed, then stop it with SIGTERM:
    it must not have exited on its own, and must stop with 0."""
    produce(env, events)
    worker = WorkerProcess(worker_env or env, config, log)
    try:
        wait_done(broker, env)
        assert worker.process.poll() is None, "the worker exited"
    finally:
        assert worker.terminate() == 0
