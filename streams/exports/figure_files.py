"""Published figures as files: CSV (one row per figure, suppressed values empty) and JSON
(the rows with the suppression rule they went through, so a reader knows what an empty
cell means).

>>> import io
>>> from streams.exports.figures import PublishedFigure
>>> row = PublishedFigure(registry="r", metric="m", metric_kind="binary_outcome",
...                       entity_type="provider", entity_id="RXF", period="2026/27", n=120,
...                       observed=None, expected=10.5, ratio=None, suppressed=True)
>>> out = io.StringIO()
>>> write_csv([row], out)
>>> print(out.getvalue().splitlines()[1])
r,m,binary_outcome,provider,RXF,2026/27,120,,10.5,,,true
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from typing import IO, Any

from pydantic import BaseModel

from streams.exports.figures import COLUMNS
from streams.exports.suppression import SuppressionRule

SCHEMA = "vigil.published_figures/1"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_csv(rows: Sequence[BaseModel], out: IO[str],
              columns: Sequence[str] = COLUMNS) -> None:
    """The header (by default :data:`~streams.exports.figures.COLUMNS`) and one line per
    row; a suppressed value is an empty cell."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        record = row.model_dump()
        writer.writerow([_cell(record[column]) for column in columns])


def figures_document(rows: Sequence[BaseModel], rule: SuppressionRule,
                     **about: Any) -> dict[str, Any]:
    """The JSON document: schema, suppression rule, what else ``about`` says, the rows."""
    return {
        "schema": SCHEMA,
        "suppression": {
            **rule.model_dump(),
            "note": "counts from lowest_suppressed to threshold are null, other counts are "
                    "rounded to the nearest rounding_base, and further cells are null where "
                    "a published total would give a suppressed one back",
        },
        **about,
        "figures": [row.model_dump(mode="json") for row in rows],
    }


def write_json(rows: Sequence[BaseModel], rule: SuppressionRule, out: IO[str],
               **about: Any) -> None:
    json.dump(figures_document(rows, rule, **about), out, indent=2)
    out.write("\n")
