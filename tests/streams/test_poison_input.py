"""One test per poison, blinding and leak case of issue 11 that concerns events: each is a
rejection with a reason code now, and each comment says what the code before did."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from streams.contract.events import (
    EventTimeWindow,
    InvalidEvent,
    parse_event,
    window_from_environment,
)
from streams.contract.pseudonym import Pseudonymiser
from streams.contract.rejections import RAW_LIMIT, rejection_record
from streams.kafka.producer import event_keys
from streams.pipeline.config import parse_config
from streams.pipeline.core import Pipeline, PipelineState
from streams.pipeline.replay import replay
from streams.worker.ingest_stage import IngestStage, dead_letter
from streams.worker.records import Record
from tests.support.configs import EXAMPLE as CONFIG_EXAMPLE
from tests.support.events import procedure

KEY = Pseudonymiser(b"p" * 32)
NHS = "9434765919"
DEEP = b'{"event_id": "deep", "x": ' + b"[" * 1500 + b"]" * 1500 + b"}"


def rejects(line: str | bytes, window: EventTimeWindow | None = None) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(line, KEY, window)
    return caught.value


def with_risk(value: str) -> str:
    line = json.dumps(procedure("r1", died=True))
    return line.replace('"parsonnet": 10', f'"parsonnet": {value}')


# -- silent blinding ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_risk_factors_are_rejected(value):
    # Before: accepted; NaN made the provider's and clinician's CUSUMs NaN for good, and
    # Infinity / 1e999 read as risk 1.0.
    error = rejects(with_risk(value))
    assert error.code == "invalid_event"
    assert error.reason == "risk_factors.parsonnet: must be a finite number"


def test_a_nan_risk_factor_does_not_blind_the_provider_chart():
    # Before: after this line the provider's CUSUM statistic was NaN and never signalled.
    pipeline = Pipeline(parse_config(CONFIG_EXAMPLE))
    state = PipelineState()
    with pytest.raises(InvalidEvent):
        pipeline.process(parse_event(with_risk("NaN"), KEY), state)
    for i in range(40):
        pipeline.process(parse_event(json.dumps(procedure(f"d{i}", died=True)), KEY), state)
    statistics = [r["statistic"] for r in pipeline.monitor_records(state)]
    assert statistics and all(s == s for s in statistics)  # no NaN


@pytest.mark.parametrize("digits", [30, 400])
def test_huge_integer_risk_factor_is_rejected_not_an_overflow(digits):
    # Before: accepted by the contract, then OverflowError in the risk model: an exception
    # that escaped the replay loop and the worker's stage (a crash loop).
    error = rejects(with_risk("9" * digits))
    assert error.reason == "risk_factors.parsonnet: must be within ±1000000"


@pytest.mark.parametrize("value", ['"yes"', '"off"', "1", '"true"', "0"])
def test_outcomes_are_strictly_true_or_false(value):
    # Before: "yes", "off", 1 were coerced to booleans.
    line = json.dumps(procedure("b1", died=True)).replace('"death_30d": true',
                                                          f'"death_30d": {value}')
    assert rejects(line).reason == "outcomes.death_30d: Input should be a valid boolean"


def test_occurred_at_as_a_unix_number_is_rejected():
    # Before: 1700000000 was read as 2023-11-14T22:13:20Z.
    line = json.dumps({**procedure("t1"), "occurred_at": 1700000000})
    assert rejects(line).reason == "occurred_at: Input should be a valid datetime"


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00",
                                "1899-12-31T23:00:00+00:00", "2026-06-03T00:00:00+00:00"])
def test_implausible_event_times_are_rejected(at):
    # Before: accepted; year 9999 and year 1 with an offset raised OverflowError in
    # escalation (deadline arithmetic in UTC).
    window = EventTimeWindow(now=datetime(2026, 6, 1, tzinfo=UTC))
    error = rejects(json.dumps({**procedure("t1"), "occurred_at": at}), window)
    assert error.reason == "occurred_at: outside the plausible window of event times"


def test_the_window_is_a_parameter_and_a_setting():
    # Before: there was no window.
    line = json.dumps({**procedure("t1"), "occurred_at": "2026-06-01T12:00:00+00:00"})
    parse_event(line, KEY, EventTimeWindow(now=datetime(2026, 6, 1, tzinfo=UTC)))
    later = EventTimeWindow(now=datetime(2026, 5, 1, tzinfo=UTC), ahead=timedelta(days=60))
    parse_event(line, KEY, later)
    window = window_from_environment({"VIGIL_EVENT_TIME_EARLIEST": "2000-01-01",
                                      "VIGIL_EVENT_TIME_NOW": "2026-06-01T00:00:00Z"})
    assert window.earliest == datetime(2000, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="VIGIL_EVENT_TIME_NOW"):
        window_from_environment({"VIGIL_EVENT_TIME_NOW": "tomorrow"})


def test_a_gtin_listed_twice_rejects_the_revision():
    # Before: one revision listing a GTIN 1,000 times counted 1,000 revisions (and one
    # record raised an MHRA-route alarm). "96385074" is "00000096385074" normalised.
    revision = {"event_id": "v1", "event_type": "revision", "registry": "r",
                "occurred_at": "2026-01-05T09:30:00+00:00", "episode_id": "ep1",
                "provider": {"ods_code": "RXF"},
                "devices": [{"gtin": "96385074"}, {"gtin": "00000096385074"}]}
    assert rejects(json.dumps(revision)).reason == \
        "devices: the same GTIN is listed more than once"


def test_device_lists_are_bounded():
    # Before: unbounded.
    devices = [{"gtin": "05012345678900"}] * 1000
    error = rejects(json.dumps(procedure("d1", devices=devices)))
    assert error.reason == "devices: Tuple should have at most 16 items after validation, not 1000"


# -- poison: crash loops -----------------------------------------------------------------


def test_deep_nesting_is_a_rejection_everywhere(tmp_path):
    # Before: parse rejected it, then the dead letter's event-id extraction (json.loads)
    # raised RecursionError: the worker's stage, vigil replay and vigil produce crashed.
    assert rejects(DEEP).code == "invalid_json"
    letter = dead_letter(Record(0, 7, DEEP), rejects(DEEP), KEY)
    assert letter["event_id"] is None and letter["source"] == [0, 7]
    pipeline = Pipeline(parse_config(CONFIG_EXAMPLE))
    summary = replay([DEEP, json.dumps(procedure("ok", died=True)).encode()], pipeline,
                     tmp_path, KEY)
    assert (summary.accepted, dict(summary.rejected)) == (1, {"invalid_json": 1})
    batch = IngestStage(KEY, 1, 1.0).run([Record(0, 0, DEEP)])
    assert dict(batch.rejected) == {"invalid_json": 1} and len(batch.dead_letters) == 1
    assert list(event_keys(iter([DEEP]))) == [(None, DEEP)]


def test_a_dead_letter_fits_in_a_broker_message():
    # Before: a 200 kB line of control characters became a 1.2 MB dead letter (each byte
    # escaped as \u00XX), beyond the broker's 1 MB limit: MessageSizeTooLargeError.
    raw = b'{"event_id": "big", "x": "' + b"\x01" * 200_000 + b'"}'
    batch = IngestStage(KEY, 1, 1.0).run([Record(0, 0, raw)])
    ((_, value),) = batch.dead_letters
    assert len(value) < 200_000
    letter = json.loads(value)
    assert letter["raw_truncated"] is True and letter["raw_length"] == len(raw)
    assert len(letter["raw"]) == RAW_LIMIT


def test_produce_key_extraction_is_total():
    # Before: RecursionError on deep nesting, UnicodeEncodeError on a lone surrogate.
    lines = [DEEP, b'{"provider": {"ods_code": "\\ud800"}}', b'{"episode_id": "EP-' +
             NHS.encode() + b'"}', b'{"provider": {"ods_code": "' + b"R" * 1000 + b'"}}']
    keys = [key for key, _ in event_keys(iter(lines))]
    assert keys[0] is None and keys[1] is None and keys[3] is None
    assert keys[2] is not None and NHS.encode() not in keys[2]


# -- leaks -------------------------------------------------------------------------------


def test_an_unknown_event_type_is_not_echoed():
    # Before: "unknown event_type '9434765919'; expected one of …".
    error = rejects(json.dumps({**procedure("u1"), "event_type": NHS}))
    assert error.code == "unknown_event_type" and NHS not in error.reason


def test_a_dict_key_is_not_echoed_in_a_reason():
    # Before: "risk_factors.9434765919.bool: Input should be …" in the reason, which goes
    # to rejected.jsonl and the logs unredacted.
    error = rejects(json.dumps({**procedure("k1"), "risk_factors": {NHS: [1]}}))
    assert NHS not in error.reason and "risk_factors.<key>" in error.reason


@pytest.mark.parametrize("written", [NHS, "943 476 5919", "943.476.5919", "943-476-5919",
                                     "９４３４７６５９１９"])
def test_an_nhs_number_in_an_identifier_is_pseudonymised(written):
    # Before: event_id and episode_id were kept verbatim, into state and signals.
    line = json.dumps(procedure(f"ev-{written}", episode=f"EP/{written}/1",
                                devices=[{"gtin": "05012345678900", "lot": written}]),
                      ensure_ascii=False)
    event = parse_event(line, KEY)
    pseudonym = KEY.pseudonym(NHS)
    assert event.event_id == f"ev-{pseudonym}"
    assert event.episode_id == f"EP/{pseudonym}/1"
    assert event.devices[0].lot == pseudonym


@pytest.mark.parametrize("written", ["\\u0039434765919", "623.994.8179", "623-994-8179",
                                     "623 994 8179"])
def test_a_broken_line_is_redacted_on_its_decoded_text(written):
    # Before: the \u-escaped and dotted forms were kept verbatim in rejected.jsonl.
    line = ('{"event_id": "x", "episode_id": "' + written + '", "x": [').encode()
    record = rejection_record(line, InvalidEvent("invalid_json", "not valid JSON"), KEY)
    assert "[redacted]" in record["raw"]
    assert not any(d in record["raw"] for d in ("9434765919", "6239948179", "994"))


def test_the_event_id_of_a_rejected_line_is_screened():
    # Before: the dead letter's event_id and the log line held the raw event_id.
    line = json.dumps(procedure(f"ev-{NHS}", gmc="12")).encode()
    record = rejection_record(line, rejects(line), KEY)
    assert record["event_id"] == f"ev-{KEY.pseudonym(NHS)}"
    assert NHS not in json.dumps(record)
