"""``vigil report``: the files are written, the PDF opens, the HTML has its sections and event
dates, the figures' colours come from the one palette."""

from __future__ import annotations

import json
import re

from matplotlib.colors import to_hex

from streams.charts import palette
from streams.charts.figures import chart_figure, funnel_figure
from streams.cli.main import main
from tests.streams.test_lookback_pack import CONFIG, synthetic_events
from tests.support.events import write_jsonl


def _report(tmp_path, capsys, *extra):
    events = synthetic_events(n=300)
    events.append({**events[0], "event_id": "other-1", "episode_id": "other-ep-1",
                   "provider": {"ods_code": "RYY"}, "outcomes": {"death_30d": False}})
    events_file = write_jsonl(tmp_path / "events.jsonl", events)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    capsys.readouterr()
    assert main(["report", "--events", str(events_file), "--config", str(config),
                 "--out", str(tmp_path / "out"), *extra]) == 0
    return json.loads(capsys.readouterr().out)


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


def test_entity_and_registry_reports_are_written(tmp_path, capsys):
    printed = _report(tmp_path, capsys, "--entity", "provider:RXF")
    out = tmp_path / "out"
    names = sorted(p.name for p in out.iterdir())
    assert names == ["report-ncap-adult-cardiac.html", "report-ncap-adult-cardiac.pdf",
                     "report-provider-RXF.html", "report-provider-RXF.pdf"]
    assert printed["entities"] == 1
    for stem in ("report-ncap-adult-cardiac", "report-provider-RXF"):
        pdf = (out / f"{stem}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")
        assert _pages(pdf) >= 2
        html = (out / f"{stem}.html").read_text()
        for section in ("signals", "charts", "funnel", "cases", "methods"):
            assert f'<section id="{section}">' in html
        assert "data:image/png;base64," in html and "<script" not in html
        assert "2020-01-" in html  # event-time dates (the synthetic file starts 2020-01-01)
        assert "9434765919" not in html and "nhs_number" not in html
    html = (out / "report-provider-RXF.html").read_text()
    assert "risk model logistic-" in html and "fixed limit as configured" in html
    assert "No escalation log was given" in html
    assert "excursion" in html and "EP0" in html  # the look-back's episode references
    assert "provider RXF: O/E" in html  # the funnel position in words
    entity_pdf = (out / "report-provider-RXF.pdf").read_bytes()
    assert _pages(entity_pdf) >= 1 + 3 + 1  # text, three charts, one funnel


def _colours(figure):
    found = set()
    for axes in figure.axes:
        for line in axes.get_lines():
            for colour in (line.get_color(), line.get_markerfacecolor(),
                           line.get_markeredgecolor()):
                if colour != "none":
                    found.add(to_hex(colour).upper())
        for patch in axes.patches:
            found.add(to_hex(patch.get_facecolor(), keep_alpha=False).upper())
    return found


def test_figure_colours_come_from_the_palette():
    from datetime import UTC, datetime, timedelta

    from signals.funnel import FunnelInput, funnel_snapshot
    from streams.lookback.trace import ChartPoint

    allowed = {c.upper() for c in (*palette.SERIES, *palette.DIRECTION.values(),
                                   *palette.LIMIT.values(), palette.NEUTRAL)}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    points = [ChartPoint(i, start + timedelta(days=i), start + timedelta(days=i), f"e{i}",
                         0.1, i % 2, 0.3, 0.3 * i, 0.3 * i, 2.0, 3.0) for i in range(1, 12)]
    for direction in ("worse", "better"):
        figure = chart_figure(points, "ra_cusum", direction, title="t", excursion_index=3,
                              signal_points=[(points[-1].recorded_at, 3.3, "alarm")])
        assert _colours(figure) <= allowed
    snapshot = funnel_snapshot([FunnelInput("A", 30, 10), FunnelInput("B", 5, 12),
                                FunnelInput("C", 11, 11)])
    assert _colours(funnel_figure(snapshot, title="f", highlight="A")) <= allowed
