"""Property-based tests of the whole ingest path (issue 11): parse, pipeline, dead letter and
``vigil produce``'s key extraction, on the replay path and in the worker's stage functions.

Hostile lines (deep nesting, huge and non-finite numbers, huge strings, odd unicode,
extreme dates, wrong types, arbitrary bytes, valid events with one field made hostile) are
interleaved with a clean stream that raises signals. Whatever arrives: nothing but
``InvalidEvent`` is raised, every dead letter is small, valid JSON and free of the NHS
number planted in the line, and the signals and monitors equal those of a run over only the
lines that were accepted, so a rejection leaves no trace in state.
"""

from __future__ import annotations

import json
import random
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.contract.events import InvalidEvent, parse_event
from streams.contract.pseudonym import Pseudonymiser
from streams.contract.rejections import rejection_record
from streams.kafka.producer import event_keys
from streams.pipeline.config import VigilConfig, parse_config
from streams.pipeline.core import Pipeline, PipelineState
from streams.pipeline.order import EventKey, event_key
from streams.synthetic import nhs_number
from tests.support.configs import EXAMPLE as CONFIG_EXAMPLE
from tests.support.events import outcome, procedure
from tests.support.stage_runs import worker_run

KEY = Pseudonymiser(b"h" * 32)
NHS = nhs_number(random.Random(3))
PROPERTIES = settings(deadline=None, suppress_health_check=list(HealthCheck),
                      derandomize=True)


@cache
def config() -> VigilConfig:
    return parse_config(CONFIG_EXAMPLE)


@cache
def clean_lines() -> tuple[bytes, ...]:
    """Two providers, late outcomes for some episodes, enough deaths at RXF to signal."""
    rng = random.Random(5)
    lines = []
    for i in range(120):
        ods = "RXF" if i % 3 else "RGT"
        died = rng.random() < (0.35 if ods == "RXF" else 0.05)
        if i % 4 == 0:
            lines.append(procedure(f"e{i}", ods=ods, parsonnet=rng.randint(0, 40), day=i))
            lines.append(outcome(f"o{i}", f"ep-e{i}", died, day=i + 30))
        else:
            lines.append(procedure(f"e{i}", ods=ods, parsonnet=rng.randint(0, 40), died=died,
                                   day=i))
    return tuple(json.dumps(line).encode() for line in lines)


# -- hostile shapes ----------------------------------------------------------------------

ODD_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
HUGE_INT = st.integers(min_value=2, max_value=4000).map(lambda n: int("9" * n))
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), HUGE_INT, st.integers(),
    st.sampled_from([10**18, -(10**18), 1e308, -1e308, 5e-324, 1_000_001]))
LEAVES = st.one_of(st.none(), st.booleans(), NUMBERS, ODD_TEXT,
                   st.sampled_from(["yes", "off", "1", "", "9999-12-31T23:59:59-01:00",
                                    NHS, f"{NHS[:3]}.{NHS[3:6]}.{NHS[6:]}"]))
JSON = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(ODD_TEXT, inner, max_size=4)), max_leaves=12)
FIELDS = ["event_id", "event_type", "registry", "occurred_at", "episode_id", "provider",
          "clinician", "patient", "devices", "risk_factors", "outcomes", "schema_version",
          "submitted", "expected", "period"]
DATES = st.sampled_from([
    "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "1899-12-31T23:59:59Z",
    "2020-02-30T00:00:00Z", "2020-01-01T00:00:00", "2020-01-01", "", 1_700_000_000,
    "2020-01-01T00:00:00+25:00", "+10000-01-01T00:00:00Z"])


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


@st.composite
def mutated_event(draw: st.DrawFn) -> bytes:
    """A valid event with one field (or a nested one) made hostile."""
    base = draw(st.sampled_from(clean_lines()))
    event = json.loads(base)
    event["event_id"] = "h-" + draw(st.text(max_size=8))  # never a duplicate of a clean id
    event["episode_id"] = "hep-" + draw(st.text(max_size=8))
    name = draw(st.sampled_from(FIELDS))
    kind = draw(st.integers(0, 5))
    if kind == 0:
        event[name] = draw(JSON)
    elif kind == 1:
        event["risk_factors"] = {"parsonnet": draw(NUMBERS)}
    elif kind == 2:
        event["occurred_at"] = draw(DATES)
    elif kind == 3:
        event["outcomes"] = {"death_30d": draw(LEAVES)}
    elif kind == 4:
        event["devices"] = [{"gtin": "05012345678900", "lot": NHS}] * draw(st.integers(2, 40))
    else:
        event[name] = "x" * draw(st.integers(100, 200_000))
    if kind == 1 and isinstance(event["risk_factors"]["parsonnet"], int) and \
            abs(event["risk_factors"]["parsonnet"]) <= 1_000_000:
        event["registry"] = "other"  # a plausible risk factor: keep the line rejected
    return _dumps(event)


@st.composite
def deep(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(100, 20_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    inner = opener * depth + "1" + closer * depth
    where = draw(st.sampled_from(["", "event_id", "risk_factors", "outcomes"]))
    if not where:
        return inner.encode()
    return ('{"event_id": "' + NHS + '", "' + where + '": ' + inner + "}").encode()


HOSTILE = st.one_of(
    mutated_event(), deep(), st.binary(max_size=200), JSON.map(_dumps),
    ODD_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"NaN", b"[" * 100_000, b'{"event_id": "\\ud800"}', b"\xff\xfe",
                     b'{"event_type": "' + NHS.encode() + b'"}', b"9" * 5000]),
)


def _is_valid(line: bytes) -> bool:
    try:
        parse_event(line, KEY)
    except InvalidEvent:
        return False
    return True


def canonical_key(line: bytes) -> EventKey:
    event = parse_event(line, KEY)
    return event_key(event.occurred_at, event.event_id, line)


def replay_signals(lines: list[bytes]) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                list[bool]]:
    """The replay path (``Pipeline.process``, as ``vigil replay``), building each rejected
    line's dead letter; returns the signals, the monitors and which lines were accepted."""
    pipeline = Pipeline(config())
    state = PipelineState()
    signals: list[dict[str, Any]] = []
    accepted = []
    for line in lines:
        try:
            signals.extend(pipeline.process(parse_event(line, KEY), state))
        except InvalidEvent as error:
            accepted.append(False)
            record = rejection_record(line, error, KEY)
            encoded = json.dumps(record, ensure_ascii=False).encode()
            assert len(encoded) < 200_000
            assert NHS not in encoded.decode() and NHS not in str(record)
            continue
        accepted.append(True)
    monitors = json.loads(json.dumps(list(pipeline.monitor_records(state))))
    return [s.to_dict() for s in signals], monitors, accepted


def interleave(draw: st.DrawFn, hostile: list[bytes]) -> list[bytes]:
    lines = list(clean_lines())
    for line in hostile:
        lines.insert(draw(st.integers(0, len(lines))), line)
    return lines


@settings(PROPERTIES, max_examples=150)
@given(st.data())
def test_hostile_lines_are_only_rejections_on_the_replay_path(data):
    hostile = data.draw(st.lists(HOSTILE, min_size=1, max_size=12))
    lines = interleave(data.draw, hostile)
    signals, monitors, accepted = replay_signals(lines)
    kept = [line for line, ok in zip(lines, accepted, strict=True) if ok]
    again, monitors_again, _ = replay_signals(kept)
    assert signals == again and monitors == monitors_again
    if not any(_is_valid(line) for line in hostile):
        # Every hostile line rejected: the same signals as the clean stream alone.
        assert kept == list(clean_lines())
        assert signals == replay_signals(list(clean_lines()))[0]
    for _ in event_keys(iter(lines)):  # vigil produce: total too
        pass


@cache
def clean_worker() -> tuple[dict[str, Any], Any]:
    return worker_run(config(), clean_lines(), batch=37)


@settings(PROPERTIES, max_examples=40)
@given(st.data())
def test_hostile_lines_are_only_rejections_in_the_worker_stages(data):
    hostile = [line for line in data.draw(st.lists(HOSTILE, min_size=1, max_size=12))
               if not _is_valid(line)]
    lines = interleave(data.draw, hostile)
    signals, monitors = worker_run(config(), tuple(lines), batch=37)
    assert (signals, monitors) == clean_worker()
    # The worker applies the canonical order; replay of the clean lines in that order.
    replayed, _, _ = replay_signals(sorted(clean_lines(), key=canonical_key))
    assert sorted(signals) == sorted(s["signal_id"] for s in replayed)


@settings(PROPERTIES, max_examples=1500)
@given(HOSTILE)
def test_parse_and_dead_letters_are_total(line):
    try:
        parse_event(line, KEY)
    except InvalidEvent as error:
        assert error.code in {"invalid_json", "invalid_event", "unknown_event_type"}
        assert NHS not in error.reason
        record = rejection_record(line, error, KEY)
        json.dumps(record, ensure_ascii=False).encode()  # always publishable
    list(event_keys(iter([line])))
