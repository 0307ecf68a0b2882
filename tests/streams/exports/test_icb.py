"""The ICB roll-up: the contract carries the patient's ICB (validated, optional), and the
roll-up by ICB is suppressed with the national total so no ICB can be recovered."""

from __future__ import annotations

import json

import pytest

from streams.contract.events import InvalidEvent, parse_event
from streams.contract.pseudonym import Pseudonymiser
from streams.exports.icb import NATIONAL_ICB, icb_rollup
from streams.exports.suppression import SuppressionRule
from streams.exports.tallies import Tallies, Tally

KEY = Pseudonymiser(b"k" * 32)


def procedure(patient: dict) -> bytes:
    return json.dumps({
        "event_id": "e1", "event_type": "procedure", "registry": "r",
        "occurred_at": "2026-01-05T09:30:00+00:00", "episode_id": "ep1",
        "provider": {"ods_code": "RXF"}, "patient": patient,
        "risk_factors": {"parsonnet": 12}, "outcomes": {"death_30d": False}}).encode()


def test_patient_icb_is_optional_and_validated() -> None:
    assert parse_event(procedure({"icb_code": "QWE"}), KEY).patient.icb_code == "QWE"
    assert parse_event(procedure({}), KEY).patient.icb_code is None
    for bad in ("qwe", "RXF", "QWER", "Q1", 7):
        with pytest.raises(InvalidEvent) as caught:
            parse_event(procedure({"icb_code": bad}), KEY)
        assert caught.value.code == "invalid_event"
        assert caught.value.reason.startswith("patient.icb_code:")
        assert str(bad) not in caught.value.reason.replace("^Q[A-Z0-9]{2}$", "")


def test_rollup_covers_every_patient_metric(whole: Tallies) -> None:
    rows = icb_rollup(whole, SuppressionRule())
    kinds = {row.metric_kind for row in rows}
    assert kinds == {"binary_outcome", "device_exposure"}  # submissions name no patient
    for metric in {row.metric for row in rows}:
        icbs = [row for row in rows if row.metric == metric]
        national = next(row for row in icbs if row.icb == NATIONAL_ICB)
        exact = whole.icb_national[metric]
        assert national.n == SuppressionRule().publish(exact.n)
        # no ICB is the only suppressed cell of its metric's table with the national total
        for measure in ("n", "observed"):
            assert sum(getattr(row, measure) is None for row in icbs) != 1


def test_small_icb_cannot_be_recovered_from_the_national_total() -> None:
    t = Tallies("all", kinds={"m": "binary_outcome"})
    t.icbs = {("m", "QWE"): Tally(500, 3, 2.5), ("m", "QOP"): Tally(400, 60, 55.0),
              ("m", "QE1"): Tally(300, 45, 41.0)}
    t.icb_national = {"m": Tally(1200, 108, 98.5)}
    rows = {row.icb: row for row in icb_rollup(t, SuppressionRule())}
    assert rows["QWE"].observed is None and rows["QWE"].ratio is None
    assert rows["QE1"].observed is None  # the next smallest goes too
    assert rows["QOP"].observed == 60 and rows[NATIONAL_ICB].observed == 110
    assert rows["QOP"].ratio == round(60 / 55.0, 3)
