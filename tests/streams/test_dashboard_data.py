"""The dashboard's pure views: cases and their filters, timelines, verification status,
chart history and charts, funnel plots."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifiers.engine import EscalationEngine
from notifiers.log.escalation_log import open_log
from notifiers.rules import RulesHolder, default_rules_path
from streams.contract.signal import Signal
from streams.dashboard.chart_history import ChartHistory
from streams.dashboard.data import (
    case_counts,
    case_rows,
    chart_view,
    entity_index,
    funnel_view,
    timeline,
    verification,
)
from streams.dashboard.read_model import ReadModel

CASES = [
    {"case_id": "a", "level": "alert", "direction": "worse", "entity_type": "provider",
     "entity_id": "R1A", "metric": "death_30d", "stage": "s", "status": "open",
     "deadline": "2026-02-01T00:00:00Z", "opened_at": "2026-01-01T00:00:00Z", "signals": 1,
     "policy": "p", "extra": "dropped"},
    {"case_id": "b", "level": "alarm", "direction": "better", "entity_type": "clinician",
     "entity_id": "7000201", "metric": "death_30d", "stage": None, "status": "monitoring",
     "deadline": None, "opened_at": "2026-01-02T00:00:00Z", "signals": 2, "policy": "q"},
    {"case_id": "c", "level": "alarm", "direction": "worse", "entity_type": "device",
     "entity_id": "05060000000030", "metric": "valve_revision", "stage": "x",
     "status": "closed", "deadline": None, "opened_at": "2026-01-03T00:00:00Z",
     "signals": 1, "policy": "r"},
]


def test_case_rows_filters_and_orders() -> None:
    assert [r["case_id"] for r in case_rows(CASES)] == ["c", "b", "a"]  # alarms first
    assert [r["case_id"] for r in case_rows(CASES, status="active")] == ["b", "a"]
    assert [r["case_id"] for r in case_rows(CASES, direction="worse")] == ["c", "a"]
    assert [r["case_id"] for r in case_rows(CASES, metric="valve_revision")] == ["c"]
    assert [r["case_id"] for r in case_rows(CASES, q="7000")] == ["b"]
    assert [r["case_id"] for r in case_rows(CASES, level="alert", entity_type="provider")
            ] == ["a"]
    assert "extra" not in case_rows(CASES)[0]
    with pytest.raises(ValueError, match="unknown filter"):
        case_rows(CASES, colour="red")


def test_case_counts_count_what_is_not_closed() -> None:
    assert case_counts(CASES) == {"alarm": 1, "alert": 1}


def test_timeline_and_verification_from_a_real_log() -> None:
    log = open_log("memory://")
    engine = EscalationEngine(log, RulesHolder(default_rules_path()))
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    engine.receive(Signal.parse({
        "signal_id": "s1", "registry": "r", "metric": "death_30d", "monitor": "ra_cusum_or2",
        "monitor_kind": "ra_cusum", "entity_type": "provider", "entity_id": "R1C",
        "provider": "R1C", "direction": "worse", "level": "alarm", "statistic": 4.7,
        "threshold": 4.5, "n": 120, "event_id": "e1", "episode_id": "ep1",
        "occurred_at": at.isoformat(), "observed": 20, "expected": 11.0}), at=at)
    (case,) = engine.cases()
    entries = [{"seq": e.seq, "at": e.at.isoformat(), "kind": e.kind, "payload": e.payload,
                "hash": e.hash} for e in engine.history(case.case_id)]
    items = timeline(entries)
    opened = next(item for item in items if item["kind"] == "case_opened")
    assert opened["summary"].startswith("case opened: alarm worse"), opened
    assert all(len(item["hash"]) == 12 and item["summary"] for item in items)
    assert verification(log.verify().to_dict())["status"] == "intact"
    broken = verification({"ok": False, "entries": 3, "first_bad_seq": 2})
    assert broken["status"] == "broken" and "first_bad_seq" in broken["detail"]


def _records(n: int, statistic: float, observed: int, expected: float) -> list[dict]:
    return [{"monitor": "ra_cusum_or2", "monitor_kind": "ra_cusum", "direction": "worse",
             "statistic": statistic, "n": n, "observed": observed, "expected": expected,
             "state": {"alert_h": 3.5, "alarm_h": 4.5}},
            {"monitor": "ra_cusum_or0.5", "monitor_kind": "ra_cusum", "direction": "better",
             "statistic": 0.0, "n": n, "observed": observed, "expected": expected,
             "state": {"alert_h": 3.5, "alarm_h": 4.5}}]


def test_chart_history_is_a_bounded_ring_with_signal_peaks() -> None:
    history = ChartHistory(maxlen=4)
    for n in range(1, 4):
        history.record("death_30d", "provider", "R1A", _records(n, n * 1.0, n, n * 0.5))
    signal = Signal(
        metric="death_30d", entity_type="provider", entity_id="R1A", monitor="ra_cusum_or2",
        level="alarm", direction="worse", n=5, statistic=4.8, threshold=4.5, signal_id="x",
        registry="r", monitor_kind="ra_cusum", provider="R1A", event_id="e5",
        episode_id="ep5", occurred_at="2026-03-02T09:00:00+00:00", observed=None,
        expected=None)
    history.record_many([(("death_30d", "provider", "R1A"), _records(5, 0.0, 5, 2.5))],
                        [signal])
    series = history.series("death_30d", "provider", "R1A")
    assert series is not None
    # four states kept (maxlen) and the peak, which is kept with the signals
    assert [p[0] for p in series["points"]] == [1, 2, 3, 5, 5]
    view = chart_view(series)
    cusum = view["monitors"][0]
    assert (cusum["alert"], cusum["alarm"]) == (3.5, 4.5)
    # the peak (dated by the signal's event time, in London), then the restart
    assert cusum["points"][-2:] == [[5, 4.8, "2026-03-02T09:00:00"], [5, 0.0, None]]
    assert cusum["signals"][0]["level"] == "alarm"
    assert view["vlad"][-1] == [5, -2.5, None]  # Σ(p − y) = expected − observed
    assert view["observed"][-1] == [5, 5, None] and view["expected"][-1] == [5, 2.5, None]
    assert history.series("death_30d", "provider", "nope") is None
    assert entity_index(history.entities()) == [
        {"metric": "death_30d", "entity_type": "provider", "entity_id": "R1A"}]


def test_funnel_view_marks_outliers_on_both_sides() -> None:
    records = [{"metric": "m", "entity_type": "provider", "entity_id": e, "observed": o,
                "expected": 20.0} for e, o in (("HIGH", 45), ("MID", 21), ("LOW", 4))]
    records.append({"metric": "m", "entity_type": "clinician", "entity_id": "X",
                    "observed": 99, "expected": 1.0})
    view = funnel_view(records, "m", "provider")
    marks = {p["entity_id"]: (p["level"], p["direction"]) for p in view["points"]}
    assert marks == {"HIGH": ("alarm", "worse"), "MID": (None, None),
                     "LOW": ("alarm", "better")}
    alert, alarm = view["limits"]
    assert (alert["level"], alarm["level"]) == (0.95, 0.998)
    assert all(lo < 1 < hi for lo, hi in zip(alarm["lower"][5:], alarm["upper"][5:],
                                                strict=True))
    # participation: fewer submitted than expected is the bad side
    low = funnel_view(records, "m", "provider", higher_is_worse=False)
    assert {p["entity_id"]: p["direction"] for p in low["points"]}["LOW"] == "worse"
    assert funnel_view([], "m", "provider")["points"] == []


def test_read_model_folds_a_batch_from_the_changelog_once_its_mark_covers_it() -> None:
    import json
    from pathlib import Path

    from streams.pipeline.config import load_config
    from streams.pipeline.core import Pipeline
    from streams.worker.entity_stage import EntityStage
    from streams.worker.records import Record

    pipeline = Pipeline(load_config(Path(__file__).resolve().parents[2] / "streams" /
                                    "samples" / "ncap.yaml"))
    history = ChartHistory()
    stage = EntityStage(pipeline, 1)
    model = ReadModel(pipeline, history, "c", "s")
    records = [Record(0, i, json.dumps({"i": [{
        "metric": "death_30d", "entity": ["provider", "R1A"], "values": [1, 0.05],
        "q": "0", "s": i, "k": [i, f"e{i}", "t", 0], "ts": None, "event_id": f"e{i}",
        "episode_id": None, "occurred_at": "2026-01-01T00:00:00+00:00", "provider": "R1A"}],
        "m": ["0", i + 1, False, [i, 0]]}).encode()) for i in range(8)]
    out = stage.run(records, {})
    assert out.applied == 8 and out.signals  # eight deaths at 5% risk: an alarm
    # The batch's changelog records as the worker writes them: entities, then the mark.
    writes = out.writes[0]
    entity = {k: v for k, v in writes.items() if not k.startswith("w:")}
    for key, value in entity.items():
        model.fold_changelog(0, json.dumps(key).encode(), json.dumps(value).encode())
    assert history.series("death_30d", "provider", "R1A") is None  # held: no mark yet
    mark = {k: v for k, v in writes.items() if k.startswith("w:")}
    for key, value in mark.items():
        model.fold_changelog(0, json.dumps(key).encode(), json.dumps(value).encode())
    for _, value, _, _ in out.signals:
        model.fold_signal(value)
    view = chart_view(history.series("death_30d", "provider", "R1A"))
    assert view["observed"][-1][:2] == [8, 8]
    assert view["observed"][-1][2].startswith("1970-01-01")  # the last observation's time
    assert any(p[1] >= 4.5 for p in view["monitors"][0]["points"])
    assert view["monitors"][0]["excursions"]  # the signal's excursion is marked
    assert model.records("death_30d", "provider")[0]["observed"] == 8


def test_ptir_chart_draws_the_njr_levels_as_limits() -> None:
    from streams.charts.palette import DASH, LIMIT
    from streams.charts.vega import chart_specs

    history = ChartHistory()
    state = {"level1_ratio": 2.0, "level2_ratio_many": 1.5, "level2_ratio_few": 2.0,
             "min_primaries": 100}
    for n, lower in ((120, 1.1), (140, 1.6)):
        history.record("implant_failure", "device", "05060000000030", [
            {"monitor": "ptir_level", "monitor_kind": "ptir", "direction": "worse",
             "statistic": lower, "n": n, "observed": 9, "expected": 4.0, "state": state}],
            at=f"2026-0{n // 70}-01T00:00:00")
    view = chart_view(history.series("implant_failure", "device", "05060000000030"))
    (spec,) = [c["spec"] for c in chart_specs(view) if c["kind"] == "ptir"]
    rules = [layer for layer in spec["layer"] if layer["mark"]["type"] == "rule"]
    assert [(r["encoding"]["y"]["datum"], r["mark"]["strokeDash"], r["mark"]["color"])
            for r in rules] == [(1.5, DASH["alert"], LIMIT["alert"]),
                                (2.0, DASH["alarm"], LIMIT["alarm"])]
    assert all(r["data"] == {"values": [{}]} for r in rules)  # drawn: a row to draw from
    assert "PTIR" in spec["title"]["text"]
    assert view["monitors"][0]["excursions"] == []  # not a CUSUM: no excursion shading
