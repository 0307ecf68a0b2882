"""Bad lines are rejected with a precise reason; valid lines around them still count."""

from __future__ import annotations

import json

import pytest

from streams.cli.main import main
from tests.support.configs import EXAMPLE, SAMPLE
from tests.support.events import outcome, procedure, read_jsonl, write_jsonl

NHS_VALID = "9434765919"


@pytest.fixture()
def run(tmp_path):
    config = SAMPLE

    def run(lines):
        events = write_jsonl(tmp_path / "events.jsonl", lines)
        out = tmp_path / "out"
        assert main(["replay", str(events), "--config", str(config), "--out", str(out)]) == 0
        return out

    return run


BAD_LINES = [
    ('{"event_id": "broken", "event_type": ', "invalid_json", "not valid JSON"),
    ("[1, 2]", "invalid_event", "Input should be an object"),
    (json.dumps({**procedure("t1"), "risk_factors": {"parsonnet": "high"}}),
     "invalid_risk_factor", "risk_factors.parsonnet must be a number"),
    (json.dumps({**procedure("t2"), "occurred_at": "yesterday"}),
     "invalid_event", "occurred_at: Input should be a valid datetime"),
    (json.dumps({**procedure("t3"), "occurred_at": "2020-01-01T10:00:00"}),
     "invalid_event", "occurred_at: Input should have timezone info"),
    (json.dumps(procedure("n1", patient={"nhs_number": "9434765918"})),
     "invalid_event", "patient.nhs_number: NHS number fails the Modulus 11 check"),
    (json.dumps(procedure("n2", patient={"nhs_number": "94347659"})),
     "invalid_event", "patient.nhs_number: NHS number must be 10 digits"),
    (json.dumps(procedure("g1", devices=[{"gtin": "05012345678901"}])),
     "invalid_event", "devices[0].gtin: GTIN fails the GS1 check digit"),
    (json.dumps(procedure("c1", gmc="123456")),
     "invalid_event", "clinician.gmc_number: String should match pattern"),
    (json.dumps(procedure("o1", ods="rxf")),
     "invalid_event", "provider.ods_code: String should match pattern"),
    (json.dumps({**procedure("u1"), "event_type": "admission"}),
     "unknown_event_type", "unknown event_type; expected one of"),
    (json.dumps(procedure("ok1", died=True)), "duplicate_event_id",
     "event_id 'ok1' was already seen"),
    (json.dumps(outcome("x1", "no-such-episode", True)), "unknown_episode",
     "outcome for episode 'no-such-episode'"),
    (json.dumps(procedure("r1", registry="other")), "wrong_registry",
     "event is for registry 'other'"),
    (json.dumps({k: v for k, v in procedure("m1").items() if k != "risk_factors"}),
     "missing_risk_factor", "risk_factors.parsonnet is required"),
]


def test_each_bad_line_rejected_with_reason_and_valid_lines_processed(run):
    valid = [procedure("ok1", died=True, patient={"nhs_number": NHS_VALID}),
             procedure("ok2", episode="late"), outcome("ok3", "late", False)]
    lines = [json.dumps(valid[0])]
    for bad, _, _ in BAD_LINES:
        lines.append(bad)
    lines += [json.dumps(valid[1]), json.dumps(valid[2])]
    out = run(lines)
    rejected = read_jsonl(out / "rejected.jsonl")
    assert [r["line"] for r in rejected] == list(range(2, 2 + len(BAD_LINES)))
    for record, (_, code, reason) in zip(rejected, BAD_LINES, strict=True):
        assert record["reason_code"] == code
        assert reason in record["reason"], record["reason"]
        assert record["raw"]
    assert rejected[0]["event_id"] is None and rejected[2]["event_id"] == "t1"
    monitors = read_jsonl(out / "monitors.jsonl")
    provider_worse = next(m for m in monitors if m["entity_type"] == "provider"
                          and m["monitor"] == "ra_cusum_or2")
    assert provider_worse["n"] == 2 and provider_worse["observed"] == 1


def test_rejected_event_id_can_be_resent_corrected(run):
    bad = {**procedure("fix1", died=False), "occurred_at": "nope"}
    out = run([json.dumps(bad), json.dumps(procedure("fix1", died=False))])
    assert len(read_jsonl(out / "rejected.jsonl")) == 1
    assert read_jsonl(out / "monitors.jsonl")[0]["n"] == 1


def test_unusable_config_exits_2_naming_file_and_path(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text(EXAMPLE.replace("alarm_h: 4.5}", "alarm_h: -1}", 1))
    events = write_jsonl(tmp_path / "e.jsonl", [procedure("a", died=False)])
    assert main(["replay", str(events), "--config", str(config), "--out",
                 str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{config}: metrics[0].monitors[0].alarm_h: Input should be greater than 0" in err


def test_missing_events_file_exits_2(tmp_path, capsys):
    config = SAMPLE
    assert main(["replay", str(tmp_path / "none.jsonl"), "--config", str(config)]) == 2
    assert "cannot read" in capsys.readouterr().err
