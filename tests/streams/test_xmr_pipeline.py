"""XmR rules on monthly aggregates run as a monitor of a binary-outcome metric; the rule
that fired is named in the signal."""

from __future__ import annotations

from datetime import date

from streams.cli.main import main
from tests.support.configs import XMR_RATE
from tests.support.events import procedure, read_jsonl, write_jsonl


def test_monthly_spike_is_named_outside_limits(tmp_path):
    events = []
    for month in range(14):
        first = (date(2020 + month // 12, month % 12 + 1, 1) - date(2020, 1, 1)).days
        deaths = 12 if month == 12 else 4 + month % 3  # month 13 of 14 is the spike
        for i in range(50):
            events.append(procedure(f"m{month}-{i}", died=i < deaths, day=first + 0.01 * i))
    config = tmp_path / "c.yaml"
    config.write_text(XMR_RATE)
    out = tmp_path / "out"
    path = write_jsonl(tmp_path / "e.jsonl", events)
    assert main(["replay", str(path), "--config", str(config), "--out", str(out)]) == 0
    signals = read_jsonl(out / "signals.jsonl")
    assert [(s["level"], s["direction"], s["details"]["rule"]) for s in signals] == [
        ("alarm", "worse", "outside_limits")]
    assert signals[0]["statistic"] == 12 / 50
    (monitor,) = read_jsonl(out / "monitors.jsonl")
    assert monitor["monitor"] == "xmr_rate" and len(monitor["state"]["months"]) == 14
