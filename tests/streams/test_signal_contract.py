"""The typed Signal changes nothing on the wire: ``signals.jsonl`` is byte for byte what the
pipeline wrote when a signal was a plain dict (bf75b5a), and every line reads back as a
Signal whose JSON is that line."""

from __future__ import annotations

import hashlib
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from streams.bundled_samples import sample_paths
from streams.cli.main import main
from streams.contract.signal import InvalidSignal, Signal, read_signal
from tests.support.synthetic_registry import write_registry

BEFORE = {
    # sha256 of signals.jsonl from `vigil replay` at bf75b5a, when signals were dicts; the
    # sample's since issue 12, which applies events at one instant in event_id order (the
    # sample has 600 such ties, in file order before; still 47 signals).
    "sample": "c16adbb1c21f57e031fb68edb8f98dd7146aeb1d9f6d560cea7d20d7c187640f",
    "synthetic": "4482c99e7d34f8c1fc7e2b99500828ebc6f24f60eabbde9a05693d3dfa6271ee",
}
COMMON = ("signal_id", "registry", "metric", "monitor", "monitor_kind", "entity_type",
          "entity_id", "provider", "direction", "level", "statistic", "threshold", "n",
          "event_id", "episode_id", "occurred_at", "observed", "expected")
KEYS_BEFORE = {
    (*COMMON, "risk_model_version", "vlad"),  # binary outcomes
    (*COMMON, "details"),                     # participation
}
"""Every key sequence the bf75b5a replays wrote: optional keys absent, never null."""


def _replay(events: Path, config: Path, out: Path) -> list[str]:
    with redirect_stdout(io.StringIO()):
        assert main(["replay", str(events), "--config", str(config), "--out", str(out)]) == 0
    return (out / "signals.jsonl").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    folder = tmp_path_factory.mktemp("signal-contract")
    events, config = write_registry(folder)
    return {"sample": _replay(*sample_paths(), folder / "sample"),
            "synthetic": _replay(events, config, folder / "synthetic")}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_signals_jsonl_is_unchanged_and_round_trips(replays: dict[str, list[str]],
                                                     name: str) -> None:
    lines = replays[name]
    assert lines
    digest = hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()
    assert digest == BEFORE[name]
    for line in lines:
        signal = Signal.parse(line)
        assert signal.to_json() == line
        assert tuple(signal.to_dict()) == tuple(json.loads(line))
        assert tuple(json.loads(line)) in KEYS_BEFORE


def _record() -> dict[str, object]:
    return json.loads(
        '{"signal_id":"s1","registry":"r","metric":"death_30d","monitor":"ra_cusum_or2",'
        '"monitor_kind":"ra_cusum","entity_type":"provider","entity_id":"RXF",'
        '"provider":"RXF","direction":"worse","level":"alarm","statistic":4.61,'
        '"threshold":4.5,"n":120,"event_id":"e1","episode_id":"ep1",'
        '"occurred_at":"2026-05-11T16:18:00+01:00","observed":9,"expected":4.2}')


@pytest.mark.parametrize(("change", "named"), [
    ({"level": "loud"}, "level"),
    ({"direction": "sideways"}, "direction"),
    ({"entity_id": ""}, "entity_id"),
    ({"occurred_at": "2026-05-11T16:18:00"}, "occurred_at"),  # no offset: instant unknown
    ({"n": "many"}, "n"),
    ({"nhs_number": "9434765919"}, "nhs_number"),  # unknown fields are refused
])
def test_a_malformed_record_is_an_invalid_signal_whose_reason_names_no_value(
        change: dict[str, object], named: str) -> None:
    record = {**_record(), **change}
    rejected = read_signal(record)
    assert isinstance(rejected, InvalidSignal)
    assert named in rejected.reason
    assert all(str(value) not in rejected.reason for value in change.values() if value)
    assert rejected.signal_id == "s1"
    with pytest.raises(InvalidSignal):
        Signal.parse(json.dumps(record))


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe", "null"])
def test_what_is_not_a_json_object_is_an_invalid_signal(raw: bytes | str) -> None:
    rejected = read_signal(raw)
    assert isinstance(rejected, InvalidSignal) and rejected.signal_id is None


def test_a_signal_is_frozen_and_keeps_ints_as_ints() -> None:
    signal = Signal.parse(_record())
    with pytest.raises(ValueError):
        signal.n = 121  # type: ignore[misc]
    assert isinstance(signal.observed, int) and isinstance(signal.expected, float)
    assert signal.to_json() == json.dumps(_record(), separators=(",", ":"))
