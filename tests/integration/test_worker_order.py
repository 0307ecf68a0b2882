"""Issue 12's acceptance: the stream is a function of the data. Whatever keys the producers
use and whenever the outcomes arrive, the worker gives ``vigil replay``'s signals and
monitors; what arrives behind the released watermark is applied once, counted and flagged
``late`` rather than dead-lettered or lost.

Every test runs the every-kind config and registry (``tests/support/every_kind.py``): every
monitor and metric kind, 3,485 events over about 19 months of event time, 670 of them
outcomes dated 30 days after their procedures, in event-time order (so replay's canonical
order is the file's). The events go in through producers of the test's own
(``tests/support/producers.py``) with the keys each test is about. Completion is the
committed offsets of every input topic (events, episodes, observations) at their ends,
which a worker reaches only once what it holds is released; each test sets
``VIGIL_IDLE_TIMEOUT`` so that the end of its stream is released within seconds.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka.partitioner import murmur2

from streams.kafka.embedded_broker import EmbeddedBroker
from streams.kafka.producer import event_keys
from streams.settings import VigilSettings
from tests.support.events import write_jsonl
from tests.support.every_kind import every_kind_metrics, write_every_kind
from tests.support.producers import (
    Feed,
    Feeding,
    by_episode,
    by_provider,
    create_events_topic,
    disorder,
    event_time,
    is_outcome,
    keyed,
    lines_of,
    produce_feeds,
)
from tests.support.topics import committed, committed_partitions, read_topic, wait_done
from tests.support.worker_vs_replay import Signals, replay_results, worker_results
from tests.support.workers import WorkerProcess, metric_total, wait_ready, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("plain_logging")]

DAY = 86_400
TEN_YEARS = 10 * 365 * DAY
"""An allowed lateness above any gap in these 19 months: nothing can arrive late."""
PARTITIONS = 8
LATE_METRIC = "vigil_late_observations_total"
ASSIGNED_METRIC = "vigil_assigned_partitions"
OUTCOME_METRICS = {m["name"] for m in every_kind_metrics() if m["kind"] == "binary_outcome"}
"""The metrics an outcome event completes (the others never wait for one)."""


@dataclass
class Data:
    """The every-kind events and config, and replay's answer on them."""

    events: Path
    config: Path
    signals: Signals
    monitors: list[dict[str, Any]]
    rejected: Counter[str]

    def lines(self) -> list[bytes]:
        return lines_of(self.events)

    def span(self) -> float:
        times = [event_time(line) for line in self.lines()]
        return (max(times) - min(times)).total_seconds()


@pytest.fixture
def data(tmp_path: Path) -> Data:
    events, config = write_every_kind(tmp_path)
    signals, monitors, summary = replay_results(events, tmp_path / "replay", config)
    assert len(signals) > 500 and not summary.rejected
    return Data(events, config, signals, monitors, summary.rejected)


def _split(data: Data) -> tuple[list[bytes], list[bytes]]:
    """(every event but the outcomes, the outcomes), each in the file's order."""
    lines = data.lines()
    return [x for x in lines if not is_outcome(x)], [x for x in lines if is_outcome(x)]


def _monitor_key(record: dict[str, Any]) -> tuple[str, str, str, str]:
    return record["metric"], record["entity_type"], record["entity_id"], record["monitor"]


def _differences(signals: Signals, expected: Signals, monitors: list[dict[str, Any]],
                 expected_monitors: list[dict[str, Any]]) -> dict[str, int]:
    """How the worker's signals and monitors differ from replay's, as counts."""
    mine = {_monitor_key(m): m for m in monitors}
    theirs = {_monitor_key(m): m for m in expected_monitors}
    return {
        "signals missing": len(expected.keys() - signals.keys()),
        "signals extra": len(signals.keys() - expected.keys()),
        "signals different": sum(signals[k] != expected[k]
                                 for k in signals.keys() & expected.keys()),
        "signals flagged late": sum(s.get("late") is True for s in signals.values()),
        "monitors missing": len(theirs.keys() - mine.keys()),
        "monitors extra": len(mine.keys() - theirs.keys()),
        "monitors different": sum(mine[k] != theirs[k] for k in mine.keys() & theirs.keys()),
    }


def _copy_of(raw: str) -> tuple[str, str]:
    """Which copy a rejected event was: its id and provider. (Replay's rejection holds the
    line as read; the worker's, the event as its stage 1 forwarded it, re-serialised.)"""
    event = json.loads(raw)
    return event["event_id"], event["provider"]["ods_code"]


def _dead_letters(broker: EmbeddedBroker, env: dict[str, str]) -> list[dict[str, Any]]:
    return [value for _, value in read_topic(broker.bootstrap_servers,
                                             env["VIGIL_DEAD_LETTER_TOPIC"])]


def _assert_replays_answer(broker: EmbeddedBroker, env: dict[str, str], data: Data,
                           keep: Path | None = None) -> tuple[Signals, list[dict[str, Any]]]:
    """The worker's dead letters, signals and monitors are replay's; returns the latter.
    With ``keep``, the worker's signals and monitors are written there first (JSON), to
    compare with replay's after a failure."""
    dead = Counter(d["reason_code"] for d in _dead_letters(broker, env))
    signals, monitors, published = worker_results(broker, env, data.config)
    if keep is not None:
        (keep / "worker-signals.json").write_text(json.dumps(signals))
        (keep / "worker-monitors.json").write_text(json.dumps(monitors))
    differences = _differences(signals, data.signals, monitors, data.monitors)
    print(f"dead letters {dict(dead)} (replay rejected {dict(data.rejected)}); "
          f"{len(data.signals)} signals in replay, {len(signals)} from the worker "
          f"({published} published); {len(data.monitors)} monitors; {differences}")
    assert dead == data.rejected
    assert differences == dict.fromkeys(differences, 0)
    assert signals == data.signals
    assert monitors == data.monitors
    return signals, monitors


def _stop(workers: list[WorkerProcess]) -> list[int]:
    """SIGTERM every worker still running (kill -9 one that does not stop); exit codes."""
    codes = []
    for worker in workers:
        if worker.process.poll() is not None:
            codes.append(worker.process.returncode)
            continue
        try:
            codes.append(worker.terminate())
        except subprocess.TimeoutExpired:
            worker.kill()
            codes.append(-9)
    return codes


def _late_counts(workers: list[WorkerProcess]) -> list[float | None]:
    return [metric_total(w, LATE_METRIC) for w in workers]


def test_two_producers_with_their_own_keys_at_once(broker: EmbeddedBroker, tmp_path: Path,
                                                   data: Data) -> None:
    """One producer sends everything but the outcomes keyed by provider, another the
    outcomes keyed by episode id, at the same time and paced by event time (the 19 months
    in about 30 s), into two workers on 8 partitions: replay's answer.

    An outcome then mostly lands on another partition than its procedure. The allowed
    lateness, 120 days, is above the producers' skew (measured below: how far behind the
    latest event time on its partition an event arrived) and far below the stream's span,
    so the watermark releases observations while the stream runs."""
    rest, outcomes = _split(data)
    feeds = [keyed(rest, by_provider), keyed(outcomes, by_episode)]
    lateness = 120 * DAY
    env = worker_env(broker, partitions=PARTITIONS, VIGIL_ALLOWED_LATENESS=str(lateness),
                     VIGIL_IDLE_TIMEOUT="5")
    create_events_topic(env)
    workers = [WorkerProcess(env, data.config, tmp_path / f"w{i}.log") for i in (1, 2)]
    try:
        wait_ready(workers)
        sent = produce_feeds(env, feeds, speed=data.span() / 30)
        wait_done(broker, env)
        late = _late_counts(workers)
    finally:
        codes = _stop(workers)
    assert codes == [0, 0]
    skew = disorder(feeds, sent)
    procedure_partition = {json.loads(line)["episode_id"]: place
                           for (_, line), (place, _) in zip(feeds[0], sent[0], strict=True)
                           if json.loads(line)["event_type"] == "procedure"}
    apart = sum(procedure_partition[json.loads(line)["episode_id"]] != place
                for (_, line), (place, _) in zip(feeds[1], sent[1], strict=True))
    print(f"skew {skew / DAY:.1f} days of event time (lateness {lateness / DAY:.0f}); "
          f"{apart} of {len(outcomes)} outcomes on another partition than their procedure; "
          f"late observations counted {late}")
    assert skew < lateness, "the producers drifted further apart than the allowed lateness"
    assert apart > len(outcomes) / 2
    _assert_replays_answer(broker, env, data)


def test_outcomes_of_no_key_after_the_rest_within_lateness(broker: EmbeddedBroker,
                                                           tmp_path: Path, data: Data) -> None:
    """Everything but the outcomes keyed by provider, then at once a second producer with
    the outcomes and no key (a partition at random each): with an allowed lateness above
    the gap (each outcome comes up to 19 months of event time after later events on its
    partition) and a 2 s idle timeout, replay's answer."""
    rest, outcomes = _split(data)
    env = worker_env(broker, partitions=PARTITIONS, VIGIL_ALLOWED_LATENESS=str(TEN_YEARS),
                     VIGIL_IDLE_TIMEOUT="2")
    create_events_topic(env)
    worker = WorkerProcess(env, data.config, tmp_path / "worker.log")
    try:
        worker.wait_ready()
        produce_feeds(env, [keyed(rest, by_provider)])
        produce_feeds(env, [keyed(outcomes, lambda _: None)])  # within the idle timeout
        wait_done(broker, env)
    finally:
        codes = _stop([worker])
    assert codes == [0]
    _assert_replays_answer(broker, env, data)


def _default_lateness() -> float:
    """``VIGIL_ALLOWED_LATENESS``'s default, in seconds."""
    field = VigilSettings.model_fields.get("allowed_lateness")
    assert field is not None, "the settings have no allowed_lateness (VIGIL_ALLOWED_LATENESS)"
    value = field.default
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def test_outcomes_of_no_key_behind_the_watermark_are_late_not_lost(
        broker: EmbeddedBroker, tmp_path: Path, data: Data) -> None:
    """As above with the default allowed lateness, the outcomes sent only once the worker
    has released everything else: no event dead-lettered, every outcome applied once (each
    monitor's ``n`` is replay's), what no outcome feeds exactly replay's, and the signals
    of the observations that arrived behind the watermark flagged ``late`` (those only).

    Which observations must be late: those completed by an outcome dated before every
    provider's last other event less the lateness, since the watermark had passed that
    when the outcomes were sent."""
    rest, outcomes = _split(data)
    env = worker_env(broker, partitions=PARTITIONS, VIGIL_IDLE_TIMEOUT="2",
                     VIGIL_ALLOWED_LATENESS=str(_default_lateness()))
    create_events_topic(env)
    worker = WorkerProcess(env, data.config, tmp_path / "worker.log")
    try:
        worker.wait_ready()
        produce_feeds(env, [keyed(rest, by_provider)])
        wait_done(broker, env)  # released: every partition idle
        produce_feeds(env, [keyed(outcomes, lambda _: None)])
        wait_done(broker, env)
        late_counted = metric_total(worker, LATE_METRIC)
    finally:
        codes = _stop([worker])
    assert codes == [0]
    dead = Counter(d["reason_code"] for d in _dead_letters(broker, env))
    signals, monitors, _ = worker_results(broker, env, data.config)
    _assert_late_not_lost(data, dead, signals, monitors, late_counted)


def _assert_late_not_lost(data: Data, dead: Counter[str], signals: Signals,
                          monitors: list[dict[str, Any]], late_counted: float | None) -> None:
    """What the worker made of the outcomes sent after everything else was released."""
    rest, outcomes = _split(data)
    counts = {_monitor_key(m): m["n"] for m in monitors}
    expected_counts = {_monitor_key(m): m["n"] for m in data.monitors}
    differences = _differences(signals, data.signals, monitors, data.monitors)
    print(f"dead letters {dict(dead)}; {sum(counts.values())} observations counted by the "
          f"monitors, {sum(expected_counts.values())} in replay; {differences}; "
          f"late observations counted {late_counted}")
    assert dead == Counter()
    assert counts == expected_counts

    def untouched(found: Signals | list[dict[str, Any]]) -> list[Any]:
        values = found.values() if isinstance(found, dict) else found
        return sorted(json.dumps(x, sort_keys=True) for x in values
                      if x["metric"] not in OUTCOME_METRICS)

    assert untouched(signals) == untouched(data.signals)
    assert untouched(monitors) == untouched(data.monitors)

    last: dict[str, datetime] = {}
    for line in rest:
        last[json.loads(line)["provider"]["ods_code"]] = event_time(line)
    behind = min(last.values()) - timedelta(seconds=_default_lateness())
    completed = {json.loads(line)["episode_id"] for line in outcomes}
    must_be_late = {json.loads(line)["episode_id"] for line in outcomes
                    if event_time(line) < behind}
    flagged = [s for s in signals.values() if s.get("late") is True]
    assert all(isinstance(s.get("late", False), bool) for s in signals.values())
    assert flagged, "no signal flagged late"
    assert all(s["metric"] in OUTCOME_METRICS and s["episode_id"] in completed
               for s in flagged), "a signal flagged late that no outcome completed"
    unflagged = [s for s in signals.values() if s["metric"] in OUTCOME_METRICS
                 and s["episode_id"] in must_be_late and s.get("late") is not True]
    print(f"{len(must_be_late)} of {len(outcomes)} outcomes must arrive late; "
          f"{len(flagged)} signals flagged late, {len(unflagged)} of theirs not")
    assert unflagged == []
    assert late_counted is not None and late_counted >= len(must_be_late)


def test_kill_9_mid_stream(broker: EmbeddedBroker, tmp_path: Path, data: Data) -> None:
    """Two workers on 8 partitions, every event keyed by its episode (a submission by its
    provider) and paced by event time over about 60 s; one worker is killed with kill -9
    once both have committed events and observations have been released (the monitors
    changelog has records), and restarted once the other has taken over every partition:
    replay's answer, nothing dead-lettered. So every partition changes hands, and at the
    restart's rebalance the survivor keeps some (faust revokes all of them and assigns
    them again), which once lost records: faust delivered one it had fetched before the
    rebalance first, and the worker took it as where the partition started.

    The allowed lateness, 250 days, is above how far apart the two workers' partitions can
    drift while one is down (a ~15 s restart is ~150 days of this stream's event time),
    and the idle timeout, 30 s, above the restart, so that neither the stall nor its
    catching up can make anything late."""
    feed = keyed(data.lines(), by_episode)
    env = worker_env(broker, partitions=PARTITIONS, VIGIL_ALLOWED_LATENESS=str(250 * DAY),
                     VIGIL_IDLE_TIMEOUT="30")
    group, bootstrap = env["VIGIL_APP_ID"], broker.bootstrap_servers
    changelog = f"{group}-monitors-changelog"
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    create_events_topic(env)
    workers = [WorkerProcess(env, data.config, log) for log in logs]
    feeding = Feeding(bootstrap, env["VIGIL_EVENTS_TOPIC"], PARTITIONS, [feed],
                      speed=data.span() / 60)
    try:
        wait_ready(workers)
        feeding.start()
        deadline = time.monotonic() + 120
        while True:
            events = committed_partitions(bootstrap, group, env["VIGIL_EVENTS_TOPIC"])
            released = committed(bootstrap, group, [changelog])[2]
            if len(events) == PARTITIONS and min(events.values()) > 0 and released > 0:
                break
            assert time.monotonic() < deadline, f"no progress to kill after: {events}"
            time.sleep(0.5)  # poll interval
        # The test's subject: a kill at a random moment, not a wait for readiness.
        time.sleep(random.Random(12).uniform(0.5, 3.0))
        assert feeding.is_alive(), "the producer finished before the kill"
        done = committed_partitions(bootstrap, group, env["VIGIL_EVENTS_TOPIC"])
        print(f"kill -9 with {sum(done.values())} of {len(feed)} events committed")
        workers[0].kill()
        deadline = time.monotonic() + 60
        while metric_total(workers[1], ASSIGNED_METRIC, env["VIGIL_EVENTS_TOPIC"]
                           ) != PARTITIONS:
            assert time.monotonic() < deadline, "the survivor did not take over"
            time.sleep(0.5)  # poll interval
        workers[0] = WorkerProcess(env, data.config, logs[0])
        feeding.result()
        wait_done(broker, env)
    finally:
        codes = _stop(workers)
        if feeding.ident is not None:
            feeding.join(60)
    assert codes == [0, 0]
    _assert_replays_answer(broker, env, data, keep=tmp_path)


def _partition(key: str) -> int:
    """The partition the producers' default partitioner gives ``key``."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % PARTITIONS


def _duplicates(data: Data) -> tuple[list[bytes], list[tuple[bytes, bytes]]]:
    """The events with four procedures copied under another provider (one keyed to another
    partition), each copy just after its original: (lines, [(original, copy)]). Two of them
    carry their outcome, two wait for an outcome event."""
    lines = data.lines()
    providers = sorted({by_provider(json.loads(x)) or "" for x in lines} - {""})
    chosen: dict[bool, list[int]] = {True: [], False: []}
    for index, line in enumerate(lines[1000:], start=1000):
        event = json.loads(line)
        if event["event_type"] == "procedure" and len(chosen["outcomes" in event]) < 2:
            chosen["outcomes" in event].append(index)
    pairs, out = [], []
    copies = {i for picked in chosen.values() for i in picked}
    for index, line in enumerate(lines):
        out.append(line)
        if index in copies:
            event = json.loads(line)
            ods = event["provider"]["ods_code"]
            other = next(p for p in providers if _partition(p) != _partition(ods))
            copy = json.dumps({**event, "provider": {"ods_code": other}}).encode()
            out.append(copy)
            pairs.append((line, copy))
    return out, pairs


def test_one_event_id_under_two_providers(broker: EmbeddedBroker, tmp_path: Path,
                                          data: Data) -> None:
    """Four procedures sent twice, the copy under another provider whose key goes to
    another partition (``vigil produce``'s keys: provider, an outcome its episode's last
    provider): the worker keeps the one replay keeps (the first in canonical order, the
    digest of the line breaking the tie of time and id) and dead-letters the other as a
    duplicate. Run twice with fresh app ids, the copies sent before the originals the
    second time: the same answer both times."""
    lines, pairs = _duplicates(data)
    events = write_jsonl(tmp_path / "duplicated.jsonl", [x.decode() for x in lines])
    signals, monitors, summary = replay_results(events, tmp_path / "replay-duplicated",
                                                data.config)
    rejected_raw = {_copy_of(json.loads(x)["raw"]) for x in
                    (tmp_path / "replay-duplicated" / "rejected.jsonl").read_text().splitlines()}
    assert summary.rejected == Counter(duplicate_event_id=4)
    expected = Data(events, data.config, signals, monitors, summary.rejected)
    swapped_order = {original: copy for original, copy in pairs} | {
        copy: original for original, copy in pairs}
    swapped = [swapped_order.get(x, x) for x in lines]
    answers = []
    for run, order in enumerate((lines, swapped), start=1):
        feed: Feed = list(event_keys(iter(order)))
        env = worker_env(broker, partitions=PARTITIONS, VIGIL_ALLOWED_LATENESS=str(TEN_YEARS),
                         VIGIL_IDLE_TIMEOUT="2")
        create_events_topic(env)
        worker = WorkerProcess(env, data.config, tmp_path / f"worker{run}.log")
        try:
            worker.wait_ready()
            [sent] = produce_feeds(env, [feed])
            wait_done(broker, env)
        finally:
            codes = _stop([worker])
        assert codes == [0]
        where = {line: partition for (_, line), (partition, _) in zip(feed, sent, strict=True)}
        assert all(where[a] != where[b] for a, b in pairs), "a copy shares its partition"
        dead = {_copy_of(d["raw"]) for d in _dead_letters(broker, env)}
        print(f"run {run}: {len(dead)} dead letters, {len(dead & rejected_raw)} of them "
              "the copies replay rejected")
        answers.append(_assert_replays_answer(broker, env, expected))
        assert dead == rejected_raw
    assert answers[0] == answers[1]
    # Replay's answer is the file's order's no more than the worker's is the arrival's.
    swapped_file = write_jsonl(tmp_path / "swapped.jsonl", [x.decode() for x in swapped])
    again, again_monitors, _ = replay_results(swapped_file, tmp_path / "replay-swapped",
                                              data.config)
    assert (again, again_monitors) == (signals, monitors)
