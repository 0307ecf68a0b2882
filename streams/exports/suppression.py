"""Small-number suppression: the one step every published figure goes through.

NHS Digital's rule for sub-national counts: a count from 1 to 7 is suppressed, 0 is
published as 0, and every other count is rounded to the nearest 5. Both bounds and the
rounding base are settings (:class:`SuppressionRule`).

Primary suppression alone is not enough: where a table publishes totals, a suppressed
cell could be recovered by subtracting the published cells of its row or column from the
published total. :func:`suppress_table` adds **secondary suppression**: while any
suppressed cell is still determined by the published figures (a linear combination of
published totals and cells gives it exactly, :func:`recoverable`), the next smallest
published cell of a group holding it is suppressed too, in any dimension (rows, columns,
a national total over regional totals). Rounding already blurs a subtraction by a few
units; the check is made as if every published figure were exact, as NHS practice does.

A rate or ratio is published only from published counts (:func:`published_ratio`): one
derived from a suppressed count is suppressed, and one derived from a rounded count is
computed from the rounded count, since a ratio of the exact count times the published
denominator would give the count back.

>>> rule = SuppressionRule()
>>> [rule.publish(c) for c in (0, 1, 7, 8, 12, 13, 102)]
[0, None, None, 10, 10, 15, 100]
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Annotated, Generic, NamedTuple, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

K = TypeVar("K", bound=Hashable)


class SuppressionRule(BaseModel):
    """Which counts are suppressed and how the rest are rounded.

    Counts from ``lowest_suppressed`` to ``threshold`` (inclusive) are suppressed; a count
    below ``lowest_suppressed`` (0, by default) is published as it is; the rest are rounded
    to the nearest ``rounding_base`` (halves up; ``1`` publishes them exactly).

    >>> SuppressionRule(threshold=10, rounding_base=10).publish(16)
    20
    >>> SuppressionRule(lowest_suppressed=0).publish(0) is None
    True
    >>> try:
    ...     SuppressionRule(lowest_suppressed=9, threshold=7)
    ... except ValueError as error:
    ...     print(error.errors()[0]["msg"])
    Value error, lowest_suppressed must not exceed threshold
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    threshold: Annotated[int, Field(ge=0)] = 7
    lowest_suppressed: Annotated[int, Field(ge=0)] = 1
    rounding_base: Annotated[int, Field(ge=1)] = 5

    @model_validator(mode="after")
    def _ordered(self) -> SuppressionRule:
        if self.lowest_suppressed > self.threshold:
            raise ValueError("lowest_suppressed must not exceed threshold")
        return self

    def suppresses(self, count: int) -> bool:
        """Whether ``count`` is suppressed by the rule alone (primary suppression)."""
        return self.lowest_suppressed <= count <= self.threshold

    def publish(self, count: int) -> int | None:
        """The published form of one count: ``None`` when suppressed, else rounded."""
        if count < 0:
            raise ValueError("a count cannot be negative")
        if self.suppresses(count):
            return None
        if count < self.lowest_suppressed:
            return count
        return self.rounded(count)

    def rounded(self, count: int) -> int:
        """``count`` to the nearest ``rounding_base``, halves up."""
        base = self.rounding_base
        return (count + base // 2) // base * base if base > 1 else count


class Group(NamedTuple, Generic[K]):
    """One additive relation a table publishes: ``total = sum(members) + a constant``.

    The constant (cases counted in the total but in no member, e.g. procedures with no
    clinician) is assumed known to a reader: the conservative assumption."""

    total: K
    members: tuple[K, ...]


def suppress_table(counts: Mapping[K, int], groups: Sequence[Group[K]],
                   rule: SuppressionRule) -> dict[K, int | None]:
    """Publish every cell of ``counts`` (totals included), primary and secondary
    suppression applied: no suppressed cell can be recovered from the published ones.

    A row of four with its total: 3 is suppressed, so the next smallest (9) goes too.

    >>> counts = {"a": 3, "b": 9, "c": 40, "d": 51, "total": 103}
    >>> suppress_table(counts, [Group("total", ("a", "b", "c", "d"))], SuppressionRule())
    {'a': None, 'b': None, 'c': 40, 'd': 50, 'total': 105}

    Two dimensions: suppressing ``b1`` for its row makes its column leak, so ``a1`` goes.

    >>> counts = {"a1": 20, "a2": 30, "b1": 5, "b2": 25, "A": 50, "B": 30, "1": 25,
    ...           "2": 55, "all": 80}
    >>> groups = [Group("A", ("a1", "a2")), Group("B", ("b1", "b2")),
    ...           Group("1", ("a1", "b1")), Group("2", ("a2", "b2")),
    ...           Group("all", ("A", "B")), Group("all", ("1", "2"))]
    >>> published = suppress_table(counts, groups, SuppressionRule())
    >>> sorted(k for k, v in published.items() if v is None)
    ['a1', 'a2', 'b1', 'b2']
    """
    suppressed = {key for key, count in counts.items() if rule.suppresses(count)}
    for group in groups:
        for key in (group.total, *group.members):
            if key not in counts:
                raise KeyError(f"group cell {key!r} has no count")
    while True:
        leaking = recoverable(suppressed, groups)
        if not leaking:
            break
        choice = _next_smallest(leaking, counts, suppressed, groups)
        if choice is None:  # pragma: no cover - every cell of its groups is suppressed
            raise AssertionError("a suppressed cell stays recoverable")
        suppressed.add(choice)
    return {key: None if key in suppressed else rule.publish(count)
            for key, count in counts.items()}


def _next_smallest(leaking: set[K], counts: Mapping[K, int], suppressed: set[K],
                   groups: Sequence[Group[K]]) -> K | None:
    """The cell to suppress next: the smallest published cell of a group that has exactly
    one suppressed cell (recoverable by one subtraction), or else of any group holding a
    leaking cell (a chain of subtractions). Members go before totals and non-zero counts
    before zeros (a published zero is usually known anyway)."""
    single = [g for g in groups
              if sum(c in suppressed for c in (g.total, *g.members)) == 1]
    around = single or [g for g in groups
                        if any(c in leaking for c in (g.total, *g.members))]
    candidates: list[tuple[bool, bool, int, str, K]] = []
    for group in around:
        for cell in (group.total, *group.members):
            if cell not in suppressed:
                count = counts[cell]
                candidates.append((count == 0, cell == group.total, count, repr(cell), cell))
    return min(candidates)[-1] if candidates else None


def recoverable(suppressed: set[K] | frozenset[K], groups: Sequence[Group[K]]) -> set[K]:
    """The suppressed cells whose exact value follows from the published ones.

    Each group is one linear equation; moving the published cells to the right-hand side
    leaves one in the suppressed cells. A suppressed cell is determined exactly when its
    unit vector lies in the row space of those equations (a rank test), which covers the
    simple case (a group with exactly one suppressed cell) and chains of subtractions
    across groups.

    >>> recoverable({"a"}, [Group("t", ("a", "b"))])
    {'a'}
    >>> sorted(recoverable({"a", "b"}, [Group("t", ("a", "b"))]))
    []
    """
    unknown = sorted(suppressed, key=repr)
    index = {key: i for i, key in enumerate(unknown)}
    rows = []
    for group in groups:
        row = np.zeros(len(unknown))
        if group.total in index:
            row[index[group.total]] += 1.0
        for member in group.members:
            if member in index:
                row[index[member]] -= 1.0
        if row.any():
            rows.append(row)
    if not rows:
        return set()
    system = np.array(rows)
    rank = np.linalg.matrix_rank(system)
    found = set()
    for key, i in index.items():
        probe = np.zeros((1, len(unknown)))
        probe[0, i] = 1.0
        if np.linalg.matrix_rank(np.vstack([system, probe])) == rank:
            found.add(key)
    return found


def published_ratio(numerator: float | None, denominator: float | None,
                    digits: int = 3) -> float | None:
    """A ratio of published figures, or ``None`` when either is suppressed (or the
    denominator is zero).

    >>> published_ratio(15, 12.5), published_ratio(None, 12.5), published_ratio(3, 0)
    (1.2, None, None)
    """
    if numerator is None or denominator is None or denominator == 0:
        return None
    ratio = numerator / denominator
    return round(ratio, digits) if math.isfinite(ratio) else None
