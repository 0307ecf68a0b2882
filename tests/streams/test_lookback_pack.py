"""Look-back packs against an independent computation from the raw events: the JSON lines
parsed here, the risk model applied by its formula, Steiner's CUSUM recursion and VLAD
written out by hand, and the excursion read back by the definition."""

from __future__ import annotations

import csv
import io
import json
import math
import random
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from streams.cli.main import main
from streams.lookback.files import FILE_NAMES
from tests.support.cardiac_surgery import events_from_rows
from tests.support.configs import cardiac_demo, death_30d
from tests.support.events import outcome, procedure, read_jsonl, write_jsonl
from tests.support.shared_data import cardiac_surgery_rows

B0, B1 = -3.68, 0.077  # the config's risk model, restated
WORSE = {"kind": "ra_cusum", "name": "worse", "odds_ratio": 2.0, "alert_h": 2.5, "alarm_h": 4.0}
BETTER = {"kind": "ra_cusum", "name": "better", "odds_ratio": 0.5, "alert_h": 2.5,
          "alarm_h": 4.0}
VLAD = {"kind": "vlad", "name": "vlad", "alert_below": -2.0, "alarm_below": -3.0}
CONFIG = death_30d(WORSE, BETTER, VLAD)


def synthetic_events(seed: int = 7, n: int = 400) -> list[dict]:
    """One provider with a bad spell in the middle; a third of outcomes arrive later, as
    outcome events, and a few patients carry an NHS number (which must not reach a pack)."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        parsonnet = rng.choice([0, 3, 8, 12, 20, 35, 50])
        p = 1 / (1 + math.exp(-(B0 + B1 * parsonnet)))
        died = rng.random() < (min(0.95, 3 * p) if 150 <= i < 220 else p * 0.7)
        day = i * 0.5
        extra = {"patient": {"nhs_number": "9434765919", "age": 70}} if i % 50 == 0 else {}
        if i % 3 == 0:
            events.append(procedure(f"p{i:04d}", episode=f"EP{i:04d}", parsonnet=parsonnet,
                                    gmc=None, day=day, **extra))
            events.append(outcome(f"o{i:04d}", f"EP{i:04d}", died, day=day + 7.1))
        else:
            events.append(procedure(f"p{i:04d}", episode=f"EP{i:04d}", parsonnet=parsonnet,
                                    gmc=None, died=died, day=day, **extra))
    rng.shuffle(events)  # the canonical order is the pipeline's job, and the test's
    return events


def by_hand(events: list[dict]) -> list[dict]:
    """Each observation of the provider, in the canonical order: event time, then event_id.
    A procedure with its outcome counts at once; one without waits for its outcome event."""
    ordered = sorted(events, key=lambda e: (datetime.fromisoformat(e["occurred_at"]),
                                            e["event_id"]))
    waiting: dict[str, tuple[float, str]] = {}
    rows = []
    for e in ordered:
        if e["event_type"] == "procedure":
            score = e["risk_factors"]["parsonnet"]
            p = 1 / (1 + math.exp(-(B0 + B1 * score)))
            if "outcomes" in e:
                rows.append({"episode": e["episode_id"], "p": p,
                             "y": int(e["outcomes"]["death_30d"]), "date": e["occurred_at"]})
            else:
                waiting[e["episode_id"]] = (p, e["occurred_at"])
        else:
            p, date = waiting.pop(e["episode_id"])
            rows.append({"episode": e["episode_id"], "p": p,
                         "y": int(e["outcomes"]["death_30d"]), "date": date})
    return rows


def steiner(rows: list[dict], r: float, alert_h: float, alarm_h: float) -> list[dict]:
    """S = max(0, S + W), W = y ln R − ln(1 − p + R p); alert once per excursion, alarm
    resets. Returns every signal with its excursion (observations after S last stood at 0)."""
    s, alerted, start, found = 0.0, False, 0, []
    for t, row in enumerate(rows):
        w = row["y"] * math.log(r) - math.log(1 - row["p"] + r * row["p"])
        s = max(0.0, s + w)
        row.setdefault("w", {})[r] = w
        if s == 0.0:
            alerted, start = False, t + 1
            continue
        if s >= alarm_h:
            found.append({"n": t + 1, "level": "alarm", "s": s, "start": start})
            s, alerted, start = 0.0, False, t + 1
        elif s >= alert_h and not alerted:
            found.append({"n": t + 1, "level": "alert", "s": s, "start": start})
            alerted = True
    return found


def vlad_signals(rows: list[dict], alert: float, alarm: float) -> list[dict]:
    """V = Σ(p − y); a signal on first entering a band; the excursion starts after V last
    stood at its running maximum (V_0 = 0)."""
    v, peak, start, band, found = 0.0, 0.0, 0, 0, []
    for t, row in enumerate(rows):
        v += row["p"] - row["y"]
        new = 2 if v <= alarm else 1 if v <= alert else 0
        if new > band:
            found.append({"n": t + 1, "level": "alarm" if new == 2 else "alert", "s": v,
                          "start": start})
        band = new
        if v >= peak:
            peak, start = v, t + 1
    return found


def replay(tmp_path: Path, events: list[dict], config: str = CONFIG) -> tuple[Path, Path, list]:
    events_file = write_jsonl(tmp_path / "events.jsonl", events)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(config)
    assert main(["replay", str(events_file), "--config", str(config_file),
                 "--out", str(tmp_path / "replay")]) == 0
    return events_file, config_file, read_jsonl(tmp_path / "replay" / "signals.jsonl")


def lookback(tmp_path: Path, events_file: Path, config_file: Path, signal_id: str,
             capsys: pytest.CaptureFixture[str]) -> tuple[dict, list[dict], dict]:
    capsys.readouterr()
    assert main(["lookback", "--events", str(events_file), "--config", str(config_file),
                 "--signal", signal_id, "--out", str(tmp_path / "packs")]) == 0
    printed = json.loads(capsys.readouterr().out)
    archive = zipfile.ZipFile(printed["pack"])
    folder = f"lookback-{signal_id}"
    assert archive.namelist() == [f"{folder}/{name}" for name in FILE_NAMES]
    pack = json.loads(archive.read(f"{folder}/pack.json"))
    episodes = list(csv.DictReader(io.StringIO(archive.read(f"{folder}/episodes.csv")
                                               .decode())))
    return pack, episodes, printed


def check(pack: dict, episodes: list[dict], rows: list[dict], expected: dict,
          contribution) -> None:
    chosen = rows[expected["start"]:expected["n"]]
    assert pack["n"] == expected["n"]
    assert len(episodes) == len(pack["episodes"]) == len(chosen) > 0
    assert pack["excursion"]["start"] == chosen[0]["date"]
    assert pack["excursion"]["signal"] == chosen[-1]["date"]
    total = 0.0
    for row, csv_row, json_row in zip(chosen, episodes, pack["episodes"], strict=True):
        assert csv_row["episode_id"] == json_row["episode_id"] == row["episode"]
        assert csv_row["occurred_at"] == row["date"]
        assert int(csv_row["outcome"]) == row["y"]
        assert float(csv_row["predicted_risk"]) == pytest.approx(row["p"], rel=1e-12)
        assert float(csv_row["contribution"]) == pytest.approx(contribution(row), abs=1e-12)
        total += contribution(row)
    assert pack["statistic"] == pytest.approx(expected["s"], rel=1e-12)
    # The episodes' contributions add up to the statistic: from 0 (CUSUM) or from the peak.
    if pack["monitor_kind"] == "ra_cusum":
        assert total == pytest.approx(expected["s"], rel=1e-9)
        assert float(episodes[-1]["statistic"]) == pytest.approx(expected["s"], rel=1e-12)


def test_cusum_packs_match_a_hand_computation(tmp_path, capsys):
    events = synthetic_events()
    events_file, config_file, signals = replay(tmp_path, events)
    rows = by_hand(events)
    for name, r in (("worse", 2.0), ("better", 0.5)):
        hand = steiner(rows, r, 2.5, 4.0)
        mine = [s for s in signals if s["monitor"] == name]
        assert [(s["n"], s["level"]) for s in mine] == [(h["n"], h["level"]) for h in hand]
    worse = [s for s in signals if s["monitor"] == "worse"]
    assert any(s["level"] == "alarm" for s in worse)
    alarm = next(s for s in worse if s["level"] == "alarm")
    expected = next(h for h in steiner(rows, 2.0, 2.5, 4.0) if h["n"] == alarm["n"])
    assert expected["start"] > 0  # the excursion starts part-way, not at the chart's start
    pack, episodes, printed = lookback(tmp_path, events_file, config_file,
                                       alarm["signal_id"], capsys)
    check(pack, episodes, rows, expected, lambda row: row["w"][2.0])
    assert printed["episodes"] == len(episodes)
    assert (pack["observed"], pack["expected"]) == (alarm["observed"],
                                                    pytest.approx(alarm["expected"]))


def test_a_better_than_expected_pack(tmp_path, capsys):
    events = synthetic_events(seed=11, n=500)
    events_file, config_file, signals = replay(tmp_path, events)
    rows = by_hand(events)
    better = [s for s in signals if s["monitor"] == "better"]
    if not better:
        pytest.fail("the synthetic file should give a better-than-expected signal")
    signal = better[0]
    expected = next(h for h in steiner(rows, 0.5, 2.5, 4.0) if h["n"] == signal["n"])
    steiner(rows, 2.0, 2.5, 4.0)  # fills row["w"][2.0] too
    pack, episodes, _ = lookback(tmp_path, events_file, config_file, signal["signal_id"],
                                 capsys)
    assert pack["direction"] == "better"
    check(pack, episodes, rows, expected, lambda row: row["w"][0.5])


def test_vlad_pack_reads_back_to_the_last_peak(tmp_path, capsys):
    events = synthetic_events()
    events_file, config_file, signals = replay(tmp_path, events)
    rows = by_hand(events)
    hand = vlad_signals(rows, -2.0, -3.0)
    mine = [s for s in signals if s["monitor"] == "vlad"]
    assert [(s["n"], s["level"]) for s in mine] == [(h["n"], h["level"]) for h in hand]
    signal = next(s for s in mine if s["level"] == "alarm")
    expected = next(h for h in hand if h["n"] == signal["n"])
    pack, episodes, _ = lookback(tmp_path, events_file, config_file, signal["signal_id"],
                                 capsys)
    check(pack, episodes, rows, expected, lambda row: row["p"] - row["y"])
    # From the peak to the signal, VLAD fell by the sum of the episodes' p − y.
    peak = sum(r["p"] - r["y"] for r in rows[:expected["start"]])
    total = sum(float(e["contribution"]) for e in episodes)
    assert peak + total == pytest.approx(expected["s"], abs=1e-9)


def test_no_patient_identifier_reaches_a_pack(tmp_path, capsys):
    events = synthetic_events()
    events_file, config_file, signals = replay(tmp_path, events)
    alarm = next(s for s in signals if s["monitor"] == "worse" and s["level"] == "alarm")
    _, _, printed = lookback(tmp_path, events_file, config_file, alarm["signal_id"], capsys)
    archive = zipfile.ZipFile(printed["pack"])
    text = b"".join(archive.read(name) for name in archive.namelist()
                    if not name.endswith(".png")).decode()
    assert "9434765919" not in text
    assert "p:" not in text.replace("http:", "").replace("https:", "")  # no pseudonym
    for field in ("nhs_number", "patient", "age", "sex", "imd", "ethnic"):
        assert f'"{field}"' not in text
    pack = json.loads(archive.read(f"lookback-{alarm['signal_id']}/pack.json"))
    assert set(pack["episodes"][0]) == {"position", "n", "occurred_at", "recorded_at",
                                        "episode_id", "predicted_risk", "outcome",
                                        "contribution", "statistic"}


def test_an_unknown_signal_is_a_usage_error(tmp_path, capsys):
    events_file, config_file, _ = replay(tmp_path, synthetic_events(n=60))
    assert main(["lookback", "--events", str(events_file), "--config", str(config_file),
                 "--signal", "nope", "--out", str(tmp_path / "p")]) == 2
    assert "no signal nope" in capsys.readouterr().err


def test_cardiac_surgery_pack_matches_steiner_by_hand(tmp_path, capsys):
    rows = cardiac_surgery_rows()  # skips, saying why, without ../shared/data
    events = list(events_from_rows(rows, late_outcomes=True))
    b0, b1 = -3.790488, 0.0798444
    config = cardiac_demo({"kind": "ra_cusum", "name": "worse", "odds_ratio": 2.0,
                           "alert_h": 2.5, "alarm_h": 4.0})
    events_file, config_file, signals = replay(tmp_path, events, config)
    hand_rows = [{"episode": f"ep{i}", "date": events[2 * i]["occurred_at"],
                  "y": int(row["status"] == 1 and row["time"] <= 30),
                  "p": 1 / (1 + math.exp(-(b0 + b1 * row["Parsonnet"])))}
                 for i, row in enumerate(rows)]
    # Outcomes come 30 days after their procedures: the chart counts them in outcome order.
    order = sorted(range(len(rows)), key=lambda i: (events[2 * i + 1]["occurred_at"],
                                                    f"o{i}"))
    hand_rows = [hand_rows[i] for i in order]
    hand = steiner(hand_rows, 2.0, 2.5, 4.0)
    provider = [s for s in signals if s["entity_type"] == "provider"]
    assert [(s["n"], s["level"]) for s in provider] == [(h["n"], h["level"]) for h in hand]
    alarm = next(s for s in provider if s["level"] == "alarm")
    expected = next(h for h in hand if h["n"] == alarm["n"])
    pack, episodes, _ = lookback(tmp_path, events_file, config_file, alarm["signal_id"],
                                 capsys)
    check(pack, episodes, hand_rows, expected, lambda row: row["w"][2.0])
