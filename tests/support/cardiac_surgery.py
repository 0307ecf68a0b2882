"""The real cardiac-surgery data (spcadjust; Steiner 2000 lineage) as contract events, with
its Phase I risk-model fit and the chart limits the tests use (config:
:data:`tests.support.configs.CARDIAC_DEMO`; rows: :mod:`tests.support.shared_data`).

>>> [e["event_type"] for e in events_from_rows(
...     [{"status": 1, "time": 12, "surgeon": 2, "Parsonnet": 19, "date": 5}], True)]
['procedure', 'outcome']
>>> round(risk(19), 4)
0.0933
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

from tests.support.events import outcome, procedure

B0, B1 = -3.790488, 0.0798444
"""The Phase I fit, logit p = B0 + B1 * Parsonnet (shared/data/README.md)."""

ALERT_H, ALARM_H = 2.5, 4.0
"""The chart's alert and alarm limits."""

REGISTRY = "cardiac-demo"


def risk(parsonnet: float) -> float:
    """The Phase I model's predicted probability of death within 30 days."""
    return 1 / (1 + math.exp(-(B0 + B1 * parsonnet)))


def surgeon_gmc(surgeon: int) -> str:
    """A GMC-shaped clinician code for the dataset's surgeon number."""
    return f"{7100000 + surgeon}"


def died_within_30_days(row: dict[str, int]) -> bool:
    return row["status"] == 1 and row["time"] <= 30


def events_from_rows(rows: Iterable[dict[str, int]],
                     late_outcomes: bool) -> Iterator[dict[str, Any]]:
    """One procedure per row at provider ``RCS``; the outcome inline, or as a separate
    outcome event 30 days later when ``late_outcomes``."""
    for i, row in enumerate(rows):
        died = died_within_30_days(row)
        kwargs = dict(episode=f"ep{i}", ods="RCS", gmc=surgeon_gmc(row["surgeon"]),
                      parsonnet=row["Parsonnet"], day=row["date"], registry=REGISTRY)
        if late_outcomes:
            yield procedure(f"p{i}", **kwargs)
            yield outcome(f"o{i}", f"ep{i}", died, day=row["date"] + 30, registry=REGISTRY)
        else:
            yield procedure(f"p{i}", died=died, **kwargs)
