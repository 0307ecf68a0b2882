"""Small-number suppression: the NHS Digital rule, secondary suppression in one and two
dimensions with totals, and that no suppressed cell can be recovered from what is published
(checked by an attacker that subtracts, independent of the rank test the step uses)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy.linalg import null_space

from streams.exports.suppression import (
    Group,
    SuppressionRule,
    published_ratio,
    recoverable,
    suppress_table,
)

RULE = SuppressionRule()


def test_nhs_digital_rule_suppresses_1_to_7_publishes_0_and_rounds_to_5() -> None:
    assert [RULE.publish(c) for c in range(0, 9)] == [0, *[None] * 7, 10]
    assert [RULE.publish(c) for c in (10, 12, 13, 17, 18, 1234)] == [10, 10, 15, 15, 20, 1235]


def test_rule_is_configurable_and_frozen() -> None:
    rule = SuppressionRule(threshold=9, lowest_suppressed=0, rounding_base=10)
    assert rule.publish(0) is None and rule.publish(9) is None and rule.publish(14) == 10
    assert SuppressionRule(rounding_base=1).publish(13) == 13
    with pytest.raises(ValidationError):
        rule.threshold = 3  # type: ignore[misc]
    with pytest.raises(ValidationError):
        SuppressionRule(rounding_base=0)
    with pytest.raises(ValueError, match="negative"):
        RULE.publish(-1)


def test_ratio_of_a_suppressed_count_is_suppressed() -> None:
    assert published_ratio(None, 4.2) is None
    assert published_ratio(15, 12.0) == 1.25


def test_one_dimension_secondary_suppression() -> None:
    counts = {"a": 2, "b": 30, "c": 12, "t": 44}
    published = suppress_table(counts, [Group("t", ("a", "b", "c"))], RULE)
    assert published == {"a": None, "b": 30, "c": None, "t": 45}


def test_total_not_published_needs_no_secondary() -> None:
    # no group: nothing can be subtracted
    assert suppress_table({"a": 2, "b": 30}, [], RULE) == {"a": None, "b": 30}


def test_chain_across_groups_is_caught() -> None:
    # Two 2x2 blocks of suppressed cells joined by one cell: every row and column has two
    # suppressed cells, yet the joining cell is rows A+B minus columns 1+2.
    suppressed = {("A", 1), ("A", 2), ("B", 1), ("B", 2), ("B", 3),
                  ("C", 3), ("C", 4), ("D", 3), ("D", 4)}
    rows = {r: tuple(c for c in suppressed if c[0] == r) for r in "ABCD"}
    cols = {k: tuple(c for c in suppressed if c[1] == k) for k in (1, 2, 3, 4)}
    groups = [Group(("row", r), m) for r, m in rows.items()] + [
        Group(("col", k), m) for k, m in cols.items()]
    assert recoverable(suppressed, groups) == {("B", 3)}
    assert determined_by_null_space(suppressed, groups) == {("B", 3)}


def determined_by_null_space(suppressed: set, groups: list[Group]) -> set:
    """The cells every solution agrees on: those no null-space vector of the equations in
    the suppressed cells moves (an independent computation of :func:`recoverable`)."""
    unknown = sorted(suppressed, key=repr)
    rows = []
    for group in groups:
        row = [0.0] * len(unknown)
        for i, cell in enumerate(unknown):
            row[i] = 1.0 if cell == group.total else -1.0 if cell in group.members else 0.0
        if any(row):
            rows.append(row)
    if not rows:
        return set()
    basis = null_space(np.array(rows))
    return {cell for i, cell in enumerate(unknown)
            if basis.size == 0 or np.allclose(basis[i], 0.0, atol=1e-9)}


def subtraction_attack(suppressed: set, groups: list[Group]) -> set:
    """What a reader recovers by repeatedly subtracting: any group with one unknown cell
    gives it, then any group with one unknown left, and so on; sums of rows and columns
    (adding or subtracting two whole groups) are tried too."""
    known: set = set()
    equations = [frozenset(cell for cell in (g.total, *g.members) if cell in suppressed)
                 for g in groups]
    signed = [{**{m: -1 for m in g.members}, g.total: 1} for g in groups]
    changed = True
    while changed:
        changed = False
        for cells in equations:
            left = cells - known
            if len(left) == 1:
                known |= left
                changed = True
        # pairwise combinations of equations: sum or difference cancelling cells
        for i, a in enumerate(signed):
            for b in signed[i + 1:]:
                for sign in (1, -1):
                    combo: dict = {}
                    for eq, s in ((a, 1), (b, sign)):
                        for cell, coef in eq.items():
                            if cell in suppressed and cell not in known:
                                combo[cell] = combo.get(cell, 0) + s * coef
                    left = {c for c, v in combo.items() if v}
                    if len(left) == 1:
                        known |= left
                        changed = True
    return known


@st.composite
def two_way_tables(draw: st.DrawFn) -> tuple[dict, list[Group]]:
    """Rows x columns of small and large counts, with row, column and grand totals."""
    n_rows = draw(st.integers(1, 5))
    n_cols = draw(st.integers(1, 5))
    value = st.one_of(st.integers(0, 9), st.integers(0, 200))
    cells = {(r, c): draw(value) for r in range(n_rows) for c in range(n_cols)}
    counts: dict = dict(cells)
    groups: list[Group] = []
    for r in range(n_rows):
        counts[("row", r)] = sum(cells[r, c] for c in range(n_cols))
        groups.append(Group(("row", r), tuple((r, c) for c in range(n_cols))))
    for c in range(n_cols):
        counts[("col", c)] = sum(cells[r, c] for r in range(n_rows))
        groups.append(Group(("col", c), tuple((r, c) for r in range(n_rows))))
    counts["all"] = sum(cells.values())
    groups.append(Group("all", tuple(("row", r) for r in range(n_rows))))
    groups.append(Group("all", tuple(("col", c) for c in range(n_cols))))
    return counts, groups


@st.composite
def rule_settings(draw: st.DrawFn) -> SuppressionRule:
    low = draw(st.integers(0, 2))
    return SuppressionRule(lowest_suppressed=low, threshold=draw(st.integers(low, 10)),
                           rounding_base=draw(st.sampled_from([1, 5, 10])))


@settings(max_examples=300, deadline=None)
@given(two_way_tables(), rule_settings())
def test_no_suppressed_cell_is_recoverable_from_published_totals(
        table: tuple[dict, list[Group]], rule: SuppressionRule) -> None:
    counts, groups = table
    published = suppress_table(counts, groups, rule)
    suppressed = {k for k, v in published.items() if v is None}
    # every primary cell is suppressed; the others are rounded counts
    assert {k for k, v in counts.items() if rule.suppresses(v)} <= suppressed
    for key, value in published.items():
        if value is not None:
            assert value == rule.publish(counts[key])
    # no group has exactly one suppressed cell (a direct subtraction)
    for group in groups:
        assert sum(c in suppressed for c in (group.total, *group.members)) != 1
    # nor can a chain of subtractions, nor any linear combination, give one back
    assert subtraction_attack(suppressed, groups) == set()
    assert determined_by_null_space(suppressed, groups) == set()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=12))
def test_one_way_table_with_total(values: list[int]) -> None:
    counts = {i: v for i, v in enumerate(values)} | {"total": sum(values)}
    groups = [Group("total", tuple(range(len(values))))]
    published = suppress_table(counts, groups, RULE)
    suppressed = [k for k, v in published.items() if v is None]
    assert len(suppressed) != 1
    assert all(published[i] is None for i, v in enumerate(values) if 1 <= v <= 7)
