"""A look-back pack as files, and as one zip: rendered in memory (no I/O here).

``pack.json`` (summary and episodes), ``episodes.csv``, ``chart.png``,
``response_form.schema.json``, ``response_form.csv``, ``response_form.html`` and
``pack.html`` (standalone: the chart embedded as a data URI). The zip is reproducible: its
entries are in a fixed order with a fixed timestamp, so the same pack gives the same bytes
(and the same SHA-256, which the escalation log records).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from streams.charts.figures import chart_figure, png_bytes
from streams.lookback.pack import EPISODE_FIELDS, LookBackPack
from streams.lookback.response_form import (
    DATA_CHECK,
    OVERALL_QUESTIONS,
    REVIEW_OUTCOME,
    response_csv,
    response_schema,
)

FILE_NAMES = ("pack.json", "episodes.csv", "chart.png", "response_form.schema.json",
              "response_form.csv", "response_form.html", "pack.html")
ZIP_TIME = (2000, 1, 1, 0, 0, 0)


def number(value: Any, digits: int = 3) -> str:
    """A number for people: rounded, ``n/a`` when missing.

    >>> number(4.56789), number(None), number(3, 2)
    ('4.568', 'n/a', '3')
    """
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{round(value, digits):g}"
    return str(value)


def environment(package: str) -> Environment:
    """Jinja2 with autoescaping on for the templates of ``package`` (``templates/``)."""
    env = Environment(loader=PackageLoader(package, "templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True),
                      keep_trailing_newline=True)
    env.globals["num"] = number
    return env


def episodes_csv(pack: LookBackPack) -> str:
    """The episode table as CSV (columns :data:`~streams.lookback.pack.EPISODE_FIELDS`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EPISODE_FIELDS)
    for e in pack.episodes:
        row = e.as_dict()
        writer.writerow([repr(v) if isinstance(v, float) else v for v in
                         (row[f] for f in EPISODE_FIELDS)])
    return out.getvalue()


def chart_png(pack: LookBackPack) -> bytes:
    """The chart by event date, its excursion shaded and its signals marked."""
    s = pack.summary
    marks = [(p.recorded_at, p.statistic, s["level"]) for p in pack.points[-1:]]
    figure = chart_figure(
        pack.points, s["monitor_kind"], s["direction"], excursion_index=pack.excursion_index,
        signal_points=marks,
        title=f"{s['metric']} · {s['entity_type']} {s['entity_id']} · {s['monitor']} "
              f"({s['level']}, {s['direction']})")
    return png_bytes(figure)


def render_files(pack: LookBackPack) -> dict[str, bytes]:
    """Every file of the pack, by name, in :data:`FILE_NAMES` order."""
    env = environment("streams.lookback")
    chart = chart_png(pack)
    context = {"s": pack.summary, "episodes": pack.episodes,
               "chart": base64.b64encode(chart).decode("ascii"),
               "data_check": DATA_CHECK, "review_outcome": REVIEW_OUTCOME,
               "overall": OVERALL_QUESTIONS}
    files: dict[str, str | bytes] = {
        "pack.json": json.dumps(pack.to_json_dict(), indent=2, ensure_ascii=False) + "\n",
        "episodes.csv": episodes_csv(pack),
        "chart.png": chart,
        "response_form.schema.json": json.dumps(response_schema(pack), indent=2) + "\n",
        "response_form.csv": response_csv(pack),
        "response_form.html": env.get_template("response_form.html.j2").render(context),
        "pack.html": env.get_template("pack.html.j2").render(context),
    }
    return {name: value if isinstance(value, bytes) else value.encode("utf-8")
            for name, value in files.items()}


def zip_files(files: dict[str, bytes], folder: str) -> bytes:
    """The files in one zip under ``folder/``, reproducibly.

    >>> data = zip_files({"a.txt": b"x"}, "p")
    >>> data == zip_files({"a.txt": b"x"}, "p"), zipfile.ZipFile(io.BytesIO(data)).namelist()
    (True, ['p/a.txt'])
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(f"{folder}/{name}", ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def pack_zip(pack: LookBackPack) -> bytes:
    """The whole pack as one zip (``<pack_id>/<file>``)."""
    return zip_files(render_files(pack), pack.pack_id)
