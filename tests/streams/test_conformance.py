"""Conformance of every registered monitor kind and metric kind, in the spirit of river's
``check_estimator``: each is built from its example config, run through ``Pipeline`` on the
replay path and through the worker's stage functions, its state round-tripped mid-stream,
and the whole checked for determinism. A kind added to ``streams.pipeline.registry`` is
checked here without anyone listing it.

``test_a_broken_monitor_kind_fails_conformance`` runs this suite on a copy of the packages
whose ``bernoulli_cusum`` takes a bare ``y`` (as it did before the Monitor protocol, when
every observation raised ``TypeError`` in the worker) and shows that it fails.
"""

from __future__ import annotations

import copy
import json
import math
import random
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from signals.crossing import Crossing, Direction, Level
from signals.monitor import Monitor
from signals.monitor_config import BuildContext
from signals.observations import Exposure, ImplantTally, MonthlyOutcome, Outcome, Submission
from streams.contract.signal import Signal
from streams.pipeline.config import VigilConfig, parse_config
from streams.pipeline.core import Pipeline, PipelineState
from streams.pipeline.registry.metrics import METRICS
from streams.pipeline.registry.monitors import MONITORS
from streams.synthetic import synthetic_events
from tests.support.every_kind import FEEDS_EVERY_KIND, every_kind_yaml
from tests.support.stage_runs import KEY, records_of, worker_run

REPO = Path(__file__).resolve().parents[2]


# -- what is checked ---------------------------------------------------------------------


def metric_for(monitor_kind: str) -> dict[str, Any]:
    """The example metric config of a metric kind that accepts ``monitor_kind``, with that
    monitor kind's example as its only monitor."""
    for spec in METRICS.values():
        if monitor_kind in spec.monitor_kinds:
            metric = copy.deepcopy(spec.example)
            metric["monitors"] = [copy.deepcopy(MONITORS[monitor_kind].example)]
            return metric
    raise AssertionError(f"no metric kind accepts monitor kind {monitor_kind!r}")


def config_of(metric: dict[str, Any]) -> VigilConfig:
    text = yaml.safe_dump({"registry": "ncap-adult-cardiac", "metrics": [metric]})
    return parse_config(text, f"<{metric['kind']}>")


@cache
def events() -> tuple[bytes, ...]:
    """A synthetic registry that feeds every metric kind (``tests.support.every_kind``)."""
    return tuple(line.encode() for line in synthetic_events(FEEDS_EVERY_KIND))


def replay_run(config: VigilConfig, lines: tuple[bytes, ...],
               state: PipelineState | None = None
               ) -> tuple[list[dict[str, Any]], PipelineState]:
    """The replay path: ``Pipeline.process`` on each valid event, in order."""
    from streams.contract.events import InvalidEvent, parse_event

    pipeline = Pipeline(config)
    state = state or PipelineState()
    signals: list[dict[str, Any]] = []
    for line in lines:
        try:
            event = parse_event(line, KEY)
            signals.extend(_plain(s) for s in pipeline.process(event, state))
        except InvalidEvent:
            continue
    return signals, state


def _plain(signal: Signal) -> dict[str, Any]:
    """A signal as the JSON the pipeline publishes."""
    return json.loads(signal.to_json())


def round_trip(config: VigilConfig, state: PipelineState) -> PipelineState:
    """Every entity's state through JSON and back."""
    pipeline = Pipeline(config)
    again = PipelineState(set(state.seen_event_ids), dict(state.pending))
    for key, entity in state.entities.items():
        data = json.loads(json.dumps(pipeline.dump_entity(key, entity)))
        again.entities[key] = pipeline.load_entity(key, data)
        assert pipeline.dump_entity(key, again.entities[key]) == data, key
    return again


def check_pipeline(config: VigilConfig, monitor: str | None = None) -> None:
    """Replay, worker stages, state round trip and determinism for one config."""
    lines = events()
    signals, state = replay_run(config, lines)
    if monitor is not None:
        assert any(s["monitor"] == monitor for s in signals), \
            f"the example config of {monitor} raised no signal on the synthetic registry"
    assert signals, "no signal at all"
    records = records_of(config, state)
    # Determinism: a second run from scratch gives the same signals and monitors.
    again, again_state = replay_run(config, lines)
    assert again == signals
    assert records_of(config, again_state) == records
    # The worker's stage functions give replay's answer.
    by_id, worker_records = worker_run(config, lines)
    assert by_id == {s["signal_id"]: s for s in signals}
    assert worker_records == records
    # State written out mid-stream and read back continues exactly.
    half = len(lines) // 2
    first, mid = replay_run(config, lines[:half])
    rest, end = replay_run(config, lines[half:], round_trip(config, mid))
    assert first + rest == signals
    assert records_of(config, end) == records


def _rate(i: int) -> float:
    """In control, then worse: every chart has something to find."""
    return 0.1 if i < 2000 else 0.4


OBSERVATIONS: dict[type, Any] = {
    Outcome: lambda rng, i: Outcome(int(rng.random() < _rate(i)), 0.1),
    MonthlyOutcome: lambda rng, i: MonthlyOutcome(int(rng.random() < _rate(i)), 0.1,
                                                  f"{2020 + i // 1200:04d}-"
                                                  f"{1 + (i // 100) % 12:02d}"),
    Exposure: lambda rng, i: Exposure(int(rng.random() < _rate(i)), rng.uniform(0.0, 2.0)),
    ImplantTally: lambda rng, i: ImplantTally(i // 10, i * 0.5, i),
    Submission: lambda rng, i: Submission(f"P{i // 3}", rng.uniform(0, 100), 100.0),
}


def check_monitor(kind: str) -> None:
    """The Monitor protocol on the class itself: built from its example, typed crossings,
    read-outs, and a state that round-trips through JSON to the same future."""
    entry = MONITORS[kind]
    config = entry.config.model_validate(entry.example)
    assert config.kind == kind and config.name
    monitor = config.build(BuildContext(benchmark_rate=0.05))
    assert type(monitor) is entry.monitor
    assert isinstance(monitor, Monitor)
    family = entry.observation_type
    assert family in OBSERVATIONS, f"{kind}: unknown observation family {family}"
    rng = random.Random(11)
    feed = [OBSERVATIONS[family](rng, i) for i in range(3000)]
    first = [monitor.update(o) for o in feed[:1500]]
    state = json.loads(json.dumps(monitor.to_state()))
    twin = entry.monitor.from_state(state)
    assert twin == monitor and twin.to_state() == state
    second = [monitor.update(o) for o in feed[1500:]]
    assert [twin.update(o) for o in feed[1500:]] == second
    assert twin.to_state() == monitor.to_state()
    crossings = [c for c in first + second if c is not None]
    assert crossings, f"{kind}: no crossing in 3000 observations of its example config"
    for crossing in crossings:
        assert isinstance(crossing, Crossing)
        assert isinstance(crossing.level, Level)
        assert isinstance(crossing.direction, Direction)
        assert math.isfinite(crossing.statistic) and math.isfinite(crossing.threshold)
        if not entry.monitor.two_sided:
            assert crossing.direction is monitor.direction
    assert isinstance(monitor.n, int) and monitor.n > 0
    for read_out in ("observed", "expected", "statistic"):
        value = getattr(monitor, read_out)
        assert value is None or isinstance(value, (int, float)), read_out


# -- the suite over the registries -------------------------------------------------------


@pytest.mark.parametrize("kind", list(MONITORS))
def test_monitor_kind_meets_the_monitor_protocol(kind: str) -> None:
    check_monitor(kind)


@pytest.mark.parametrize("kind", list(MONITORS))
def test_monitor_kind_runs_through_replay_and_the_worker_stages(kind: str) -> None:
    metric = metric_for(kind)
    config = config_of(metric)
    check_pipeline(config, config.metrics[0].monitors[0].name)


@pytest.mark.parametrize("kind", list(METRICS))
def test_metric_kind_runs_through_replay_and_the_worker_stages(kind: str) -> None:
    check_pipeline(config_of(copy.deepcopy(METRICS[kind].example)))


@pytest.mark.parametrize("kind", list(METRICS))
def test_metric_kind_refuses_monitors_it_cannot_feed(kind: str) -> None:
    spec = METRICS[kind]
    for other in MONITORS:
        if other in spec.monitor_kinds or "monitors" not in spec.example:
            continue
        metric = copy.deepcopy(spec.example)
        metric["monitors"] = [MONITORS[other].example]
        with pytest.raises(ValueError, match="unknown kind"):
            config_of(metric)


def test_every_documented_monitor_kind_in_one_config_replays() -> None:
    """A config naming every registered monitor kind and metric kind replays cleanly."""
    config = parse_config(every_kind_yaml())
    signals, _ = replay_run(config, events())
    kinds = {s["monitor_kind"] for s in signals}
    assert set(MONITORS) <= kinds, set(MONITORS) - kinds


def _copy_packages(to: Path) -> None:
    for package in ("signals", "streams", "notifiers", "tests"):
        shutil.copytree(REPO / package, to / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(REPO / "pyproject.toml", to / "pyproject.toml")


def _run_conformance(root: Path, kind: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o",
         "addopts=", "tests/streams/test_conformance.py", "-k", kind,
         "--deselect", "tests/streams/test_conformance.py::"
         "test_a_broken_monitor_kind_fails_conformance"],
        cwd=root, capture_output=True, text=True, timeout=600,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "HOME": str(root)},
    )


def test_a_broken_monitor_kind_fails_conformance(tmp_path: Path) -> None:
    """The suite catches a monitor whose ``update`` does not take its observation: a copy
    with today's-before-the-fix ``BernoulliCusum.update(y)`` fails, the real one passes."""
    broken = tmp_path / "broken"
    _copy_packages(broken)
    module = broken / "signals" / "bernoulli_cusum.py"
    text = module.read_text()
    fixed = ("    def update(self, observation: Outcome) -> Crossing | None:\n")
    assert fixed in text
    module.write_text(text.replace(fixed, "    def update(self, y: int) -> Crossing | None:\n")
                      .replace("        y = observation.y\n", ""))
    result = _run_conformance(broken, "bernoulli_cusum")
    assert result.returncode == 1, result.stdout[-2000:]
    assert "TypeError" in result.stdout, result.stdout[-2000:]
    assert "passed" not in result.stdout.splitlines()[-1], result.stdout[-500:]


def test_the_readme_monitor_table_is_the_registry() -> None:
    """The README's table of configurable monitor kinds names exactly the registered kinds,
    each with the metric kinds that accept it."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Monitors", 1)[1].split("\n###", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines()
            if line.startswith("| `")]
    documented = {kind.strip().strip("`"): {m.strip() for m in used.split(",")}
                  for kind, used in rows}
    registered = {kind: {m for m, spec in METRICS.items() if kind in spec.monitor_kinds}
                  for kind in MONITORS}
    assert documented == registered
