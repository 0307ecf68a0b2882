"""Published figures per metric × entity × period: suppressed with the tables' totals, so
that no suppressed n or observed count follows from the national row and the other
entities, and derived values go with the counts they come from."""

from __future__ import annotations

from collections import defaultdict

from streams.exports.figures import NATIONAL, published_figures
from streams.exports.suppression import Group, SuppressionRule, recoverable
from streams.exports.tallies import Tallies


def test_no_suppressed_count_is_recoverable_from_the_national_row(yearly: Tallies) -> None:
    rows = published_figures(yearly, "r", SuppressionRule())
    tables = defaultdict(list)
    for row in rows:
        tables[row.metric, row.period].append(row)
    suppressed_somewhere = 0
    for (metric, period), table in tables.items():
        national = next(r for r in table if (r.entity_type, r.entity_id) == NATIONAL)
        for measure in ("n", "observed"):
            hidden = {(r.entity_type, r.entity_id) for r in table if getattr(r, measure) is None}
            suppressed_somewhere += len(hidden)
            groups = []
            for entity_type in {r.entity_type for r in table} - {"national"}:
                members = tuple((r.entity_type, r.entity_id) for r in table
                                if r.entity_type == entity_type)
                groups.append(Group((national.entity_type, national.entity_id), members))
            for (m, gmc), providers in yearly.clinician_providers.items():
                if m == metric and len(providers) == 1 and \
                        (metric, "clinician", gmc, period) in yearly.entities:
                    (ods,) = providers
                    groups.append(Group(("provider", ods), (("clinician", gmc),)))
            # clinicians of one provider sum into it: gather them into one group each
            merged: dict = defaultdict(list)
            for group in groups:
                if group.total[0] == "provider":
                    merged[group.total].extend(group.members)
            groups = [g for g in groups if g.total[0] != "provider"] + [
                Group(total, tuple(members)) for total, members in merged.items()]
            assert recoverable(hidden, groups) == set(), (metric, period, measure)
    assert suppressed_somewhere > 0


def test_derived_values_follow_their_counts(yearly: Tallies) -> None:
    for row in published_figures(yearly, "r", SuppressionRule()):
        if row.n is None:
            assert row.expected is None
        if row.observed is None or row.expected is None:
            assert row.ratio is None and row.funnel_position is None
            assert row.suppressed
        elif row.expected:
            assert row.ratio == round(row.observed / row.expected, 3)
        if row.metric_kind == "participation" or row.entity_type == "national":
            assert row.funnel_position is None
