"""The ICB roll-up: every metric by the **patient's** integrated care board, whatever the
provider, for the variance between ICBs that benchmarking asks for.

The counts come from :func:`streams.exports.tallies.tally_events` (one replay through the
pipeline, by the ``patient.icb_code`` of each procedure's event). Each metric is one table:
a cell per ICB (``unknown`` for patients whose events name none) and the national total,
the sum of them all; ``n`` and observed go through :func:`suppress_table` with that
relation, so a suppressed ICB cannot be recovered from the national total and the other
ICBs. Expected and O/E follow as in :mod:`streams.exports.figures` (published only from
published counts). Device metrics have no expected count by ICB (implant-years accrue per
device); submissions name no patient, so participation metrics are not in the roll-up.

>>> from streams.exports.tallies import Tallies, Tally
>>> t = Tallies("all", kinds={"death_30d": "binary_outcome"})
>>> t.icbs = {("death_30d", "QWE"): Tally(300, 31, 27.5), ("death_30d", "QOP"): Tally(40, 4, 3.9),
...           ("death_30d", "QE1"): Tally(210, 20, 22.0)}
>>> t.icb_national = {"death_30d": Tally(550, 55, 53.4)}
>>> for row in icb_rollup(t, SuppressionRule()):
...     print(row.icb, row.n, row.observed, row.expected, row.ratio)
QE1 210 None 22.0 None
QOP 40 None 3.9 None
QWE 300 30 27.5 1.091
national 550 55 53.4 1.03
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from streams.exports.suppression import Group, SuppressionRule, published_ratio, suppress_table
from streams.exports.tallies import Tallies

NATIONAL_ICB = "national"


class IcbFigure(BaseModel):
    """One (metric, ICB) row of the roll-up; ``None`` is suppressed or withheld."""

    model_config = ConfigDict(frozen=True)
    metric: str
    metric_kind: str
    icb: str
    n: int | None
    observed: int | None
    expected: float | None
    ratio: float | None
    suppressed: bool


ICB_COLUMNS = tuple(IcbFigure.model_fields)


def icb_rollup(tallies: Tallies, rule: SuppressionRule) -> list[IcbFigure]:
    """Every metric's ICB rows and its national row, suppressed (see the module)."""
    rows: list[IcbFigure] = []
    for metric in sorted(tallies.icb_national):
        icbs = sorted(icb for m, icb in tallies.icbs if m == metric)
        cells = {icb: tallies.icbs[metric, icb] for icb in icbs}
        cells[NATIONAL_ICB] = tallies.icb_national[metric]
        groups = [Group(NATIONAL_ICB, tuple(icbs))]
        n = suppress_table({k: c.n for k, c in cells.items()}, groups, rule)
        observed = suppress_table({k: c.observed for k, c in cells.items()}, groups, rule)
        for icb, tally in cells.items():
            expected = (round(tally.expected, 2)
                        if n[icb] is not None and tally.expected is not None else None)
            rows.append(IcbFigure(
                metric=metric, metric_kind=tallies.kinds.get(metric, ""), icb=icb,
                n=n[icb], observed=observed[icb], expected=expected,
                ratio=published_ratio(observed[icb], expected),
                suppressed=n[icb] is None or observed[icb] is None
                or (tally.expected is not None and expected is None),
            ))
    return rows
