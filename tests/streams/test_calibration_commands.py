"""``vigil arl`` / ``vigil calibrate`` and ``target_arl0`` in a config, on the real
cardiac-surgery Phase I patient mix (cran/vlad test-racusum_crit_mc.R: h = 1.8592)."""

from __future__ import annotations

import json
import math

import pytest

from streams.cli.main import main
from tests.support.cardiac_surgery import events_from_rows, risk
from tests.support.configs import BETTER, CARDIAC_DEMO, cardiac_demo
from tests.support.events import read_jsonl, write_jsonl
from tests.support.shared_data import cardiac_surgery_rows


@pytest.fixture(scope="module")
def rows():
    return cardiac_surgery_rows()


@pytest.fixture()
def risks_file(rows, tmp_path):
    phase1 = [r for r in rows if r["date"] < 730]
    path = tmp_path / "risks.txt"
    path.write_text("\n".join(str(risk(r["Parsonnet"])) for r in phase1))
    return path


def last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_calibrate_for_arl0_370(risks_file, capsys):
    assert main(["calibrate", "--odds-ratio", "2", "--arl0", "370",
                 "--risks", str(risks_file)]) == 0
    result = last_json(capsys)
    assert result["h"] == pytest.approx(1.8592, abs=0.005)
    assert result["arl0"] == pytest.approx(370, rel=1e-3)


def test_calibrate_from_a_baseline_period_of_events(rows, tmp_path, capsys):
    events = write_jsonl(tmp_path / "e.jsonl", events_from_rows(rows, late_outcomes=False))
    config = tmp_path / "c.yaml"
    config.write_text(CARDIAC_DEMO)
    assert main(["calibrate", "--odds-ratio", "2", "--arl0", "370", "--events", str(events),
                 "--config", str(config), "--metric", "death_30d",
                 "--until", "2021-12-31"]) == 0  # day 730 after 2020-01-01
    result = last_json(capsys)
    assert result["patients_in_mix"] == 1766
    assert result["h"] == pytest.approx(1.8592, abs=0.005)


def test_arl_markov_and_simulation_agree(risks_file, capsys):
    assert main(["arl", "--h", "3", "--odds-ratio", "2", "--risks", str(risks_file)]) == 0
    markov = last_json(capsys)["arl"]
    assert main(["arl", "--h", "3", "--odds-ratio", "2", "--risks", str(risks_file),
                 "--method", "simulation", "--runs", "4000"]) == 0
    assert last_json(capsys)["arl"] == pytest.approx(markov, rel=0.05)


def test_calibrate_false_signal_probability_exact_reference(tmp_path, capsys):
    # cran/cusum test_cusum_limit_exact.R: alpha 0.05 within 10 patients, p 0.1, OR 2
    assert main(["calibrate", "--chart", "bernoulli", "--p0", "0.1", "--odds-ratio", "2",
                 "--false-signal-prob", "0.05", "--horizon", "10", "--exact"]) == 0
    assert last_json(capsys)["h"] == pytest.approx(1.41227, abs=1e-5)


def test_poisson_calibration(capsys):
    assert main(["calibrate", "--chart", "poisson", "--rate-ratio", "2",
                 "--benchmark-rate", "0.015", "--exposure", "10", "--arl0", "100"]) == 0
    result = last_json(capsys)
    assert result["arl0"] == pytest.approx(100, rel=1e-3) and result["h"] > 0


def test_usage_errors_exit_2(capsys):
    assert main(["calibrate", "--odds-ratio", "2", "--arl0", "370"]) == 2
    assert "give --risks FILE" in capsys.readouterr().err
    assert main(["calibrate", "--odds-ratio", "2", "--risks", "x"]) == 2


def test_target_arl0_in_config_is_calibrated_and_recorded(rows, risks_file, tmp_path):
    config = tmp_path / "c.yaml"
    calibrated = {"kind": "ra_cusum", "name": "worse", "odds_ratio": 2.0, "alert_h": 1.0,
                  "target_arl0": 370}
    config.write_text(cardiac_demo(calibrated, BETTER, baseline={"risks": risks_file.name}))
    events = write_jsonl(tmp_path / "e.jsonl", events_from_rows(rows, late_outcomes=False))
    out = tmp_path / "out"
    assert main(["replay", str(events), "--config", str(config), "--out", str(out)]) == 0
    worse = [m for m in read_jsonl(out / "monitors.jsonl") if m["monitor"] == "worse"]
    assert worse and all(m["calibration"]["method"] == "markov" for m in worse)
    assert worse[0]["calibration"]["h"] == pytest.approx(1.8592, abs=0.005)
    assert worse[0]["state"]["alarm_h"] == worse[0]["calibration"]["h"]
    thresholds = {s["threshold"] for s in read_jsonl(out / "signals.jsonl")
                  if s["monitor"] == "worse" and s["level"] == "alarm"}
    assert thresholds == {worse[0]["calibration"]["h"]}


def test_calibrate_says_when_a_lattice_target_is_not_attainable(capsys):
    # Issue 13: r = 2, λ0·E = 1.5·ln 2 per step. The limit the smoothed chain put at ARL0 500
    # (5.1981) really gives 431.8; the nearest safe attainable limit gives 617.9.
    assert main(["calibrate", "--chart", "poisson", "--rate-ratio", "2",
                 "--benchmark-rate", repr(1.5 * math.log(2)), "--arl0", "500"]) == 0
    result = last_json(capsys)
    assert result["method"] == "lattice" and result["attained"] is False
    assert result["arl0"] == pytest.approx(617.85, abs=0.01)
    assert result["target_arl0"] == 500
    assert "not attainable exactly" in result["note"] and "617.853" in result["note"]


def test_calibrate_reports_the_target_beside_an_attained_value(risks_file, capsys):
    assert main(["calibrate", "--odds-ratio", "2", "--arl0", "370",
                 "--risks", str(risks_file)]) == 0
    result = last_json(capsys)
    assert result["attained"] is True and result["method"] == "markov" and "note" not in result


def test_calibrate_with_a_guarantee_allows_for_the_estimated_model(rows, tmp_path, capsys):
    # spcadjust 1.1 on the same Phase I (statistics.md): 2.1752 against a plug-in 1.9044.
    events = write_jsonl(tmp_path / "e.jsonl", events_from_rows(rows, late_outcomes=False))
    config = tmp_path / "c.yaml"
    config.write_text(CARDIAC_DEMO)
    assert main(["calibrate", "--odds-ratio", "2", "--arl0", "370", "--events", str(events),
                 "--config", str(config), "--metric", "death_30d", "--until", "2021-12-31",
                 "--guarantee", "0.9", "--nrep", "200", "--seed", "1", "--grid", "500"]) == 0
    result = last_json(capsys)
    assert result["method"] == "bootstrap" and result["patients_in_baseline"] == 1766
    assert result["plug_in_h"] == pytest.approx(1.8888, abs=2e-4)
    assert abs(result["h"] - 2.1752) < 2 * result["monte_carlo_standard_error"]


def test_a_guarantee_needs_the_baseline_outcomes(risks_file, capsys):
    assert main(["calibrate", "--odds-ratio", "2", "--arl0", "370", "--risks", str(risks_file),
                 "--guarantee", "0.9"]) == 2
    assert "needs the baseline's outcomes" in capsys.readouterr().err
