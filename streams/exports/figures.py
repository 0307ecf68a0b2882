"""Published figures: per metric × entity × reporting period, ``n``, observed, expected, O/E
and the funnel position, every count through :mod:`streams.exports.suppression`.

Each (metric, period) is one table: a national row and a row per provider, clinician or
device. The tables' additive relations are given to secondary suppression: the national
count is the sum of each entity type's cells (plus cases with no such entity), and a
provider's count holds those of the clinicians who worked only there. ``n`` and ``observed``
are suppressed as separate tables. What is derived follows what it is derived from:

- ``expected`` is published (2 decimals) only where ``n`` is: it describes the same
  patients;
- O/E is the *published* observed over expected, and is withheld with either;
- the funnel position (binary outcome and device metrics) places that published O/E
  against the exact Poisson 95% and 99.8% limits at the expected count
  (:func:`signals.funnel.funnel_limits`, as ``notifiers.funnel_position`` does).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from pydantic import BaseModel, ConfigDict

from signals.funnel import funnel_limits
from streams.exports.suppression import Group, SuppressionRule, published_ratio, suppress_table
from streams.exports.tallies import CellKey, Tallies

NATIONAL = ("national", "all")
"""entity_type and entity_id of a table's national row."""
FunnelPosition = Literal["above_99.8", "above_95", "within_95", "below_95", "below_99.8"]
FUNNEL_KINDS = frozenset({"binary_outcome", "device_exposure"})


class PublishedFigure(BaseModel):
    """One published row. ``None`` is a suppressed (or withheld derived) value."""

    model_config = ConfigDict(frozen=True)
    registry: str
    metric: str
    metric_kind: str
    entity_type: str
    entity_id: str
    period: str
    n: int | None
    observed: int | None
    expected: float | None
    ratio: float | None
    """Observed over expected (for participation: submitted over expected cases)."""
    funnel_position: FunnelPosition | None = None
    suppressed: bool
    """Whether anything in the row was suppressed or withheld."""


COLUMNS = tuple(PublishedFigure.model_fields)
"""The columns of the CSV file, in order."""


def funnel_category(observed: float, expected: float) -> FunnelPosition | None:
    """Where O/E sits against the exact Poisson limits at ``expected``.

    >>> funnel_category(12, 4.2), funnel_category(9, 4.2), funnel_category(2, 12.5)
    ('above_95', 'within_95', 'below_99.8')
    """
    if expected <= 0:
        return None
    limits = funnel_limits([expected], levels=(0.95, 0.998))
    ratio = observed / expected
    lo95, hi95 = (float(x[0]) for x in limits.band(0.95))
    lo998, hi998 = (float(x[0]) for x in limits.band(0.998))
    if ratio > hi998:
        return "above_99.8"
    if ratio > hi95:
        return "above_95"
    if ratio < lo998:
        return "below_99.8"
    if ratio < lo95:
        return "below_95"
    return "within_95"


def published_figures(tallies: Tallies, registry: str,
                      rule: SuppressionRule) -> list[PublishedFigure]:
    """Every (metric, entity, period) row and each table's national row, suppressed.

    >>> from streams.exports.tallies import Tally
    >>> t = Tallies("all", kinds={"death_30d": "binary_outcome"})
    >>> t.entities = {("death_30d", "provider", "RXF", "all"): Tally(120, 14, 10.5),
    ...               ("death_30d", "provider", "RYJ", "all"): Tally(80, 3, 6.1),
    ...               ("death_30d", "provider", "RTH", "all"): Tally(95, 9, 8.2)}
    >>> t.national = {("death_30d", "all"): Tally(295, 26, 24.8)}
    >>> for row in published_figures(t, "ncap", SuppressionRule()):
    ...     print(row.entity_id, row.n, row.observed, row.expected, row.ratio)
    all 295 25 24.8 1.008
    RTH 95 None 8.2 None
    RXF 120 15 10.5 1.429
    RYJ 80 None 6.1 None
    """
    tables: dict[tuple[str, str], list[CellKey]] = defaultdict(list)
    for key in tallies.entities:
        tables[key[0], key[3]].append(key)
    for metric, period in tallies.national:
        tables.setdefault((metric, period), [])
    rows: list[PublishedFigure] = []
    for (metric, period), keys in sorted(tables.items()):
        rows.extend(_table(tallies, registry, metric, period, sorted(keys), rule))
    return rows


def _groups(tallies: Tallies, metric: str, period: str, keys: list[CellKey]
            ) -> list[Group[CellKey]]:
    national: CellKey = (metric, *NATIONAL, period)
    by_type: dict[str, list[CellKey]] = defaultdict(list)
    for key in keys:
        by_type[key[1]].append(key)
    groups = [Group(national, tuple(cells)) for cells in by_type.values()]
    nested: dict[str, list[CellKey]] = defaultdict(list)
    for key in by_type.get("clinician", ()):
        providers = tallies.clinician_providers.get((metric, key[2]), set())
        if len(providers) == 1:
            (provider,) = providers
            if (metric, "provider", provider, period) in tallies.entities:
                nested[provider].append(key)
    groups += [Group((metric, "provider", provider, period), tuple(cells))
               for provider, cells in sorted(nested.items())]
    return groups


def _table(tallies: Tallies, registry: str, metric: str, period: str, keys: list[CellKey],
           rule: SuppressionRule) -> list[PublishedFigure]:
    national: CellKey = (metric, *NATIONAL, period)
    cells = {national: tallies.national[metric, period],
             **{key: tallies.entities[key] for key in keys}}
    groups = _groups(tallies, metric, period, keys)
    n = suppress_table({k: c.n for k, c in cells.items()}, groups, rule)
    observed = suppress_table({k: c.observed for k, c in cells.items()}, groups, rule)
    kind = tallies.kinds.get(metric, "")
    rows = []
    for key, tally in cells.items():
        expected = (round(tally.expected, 2)
                    if n[key] is not None and tally.expected is not None else None)
        ratio = published_ratio(observed[key], expected)
        position = None
        if (ratio is not None and expected and kind in FUNNEL_KINDS
                and key[1] != NATIONAL[0] and observed[key] is not None):
            position = funnel_category(observed[key] or 0, expected)
        rows.append(PublishedFigure(
            registry=registry, metric=metric, metric_kind=kind, entity_type=key[1],
            entity_id=key[2], period=period, n=n[key], observed=observed[key],
            expected=expected, ratio=ratio, funnel_position=position,
            suppressed=n[key] is None or observed[key] is None or
            (tally.expected is not None and expected is None),
        ))
    return rows
