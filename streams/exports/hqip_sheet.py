"""The HQIP outlier notification spreadsheet: one row per provider outlier case, as xlsx.

HQIP's outlier process is about providers, so the sheet lists the cases whose entity is a
provider (alerts and alarms, worse and better than expected), read from the escalation log
(the case book rebuilt from it, as the engine does). A row holds what the CQC letter's
outlier row holds: the audit, the metric, the provider, the level and direction, whether
it is preliminary or confirmed, the stage reached and its deadline, and the figures
behind it. The case's figures are the aggregates the log already holds for its latest
signal (``notifiers.messages.aggregate``); ``n`` and observed go through the
suppression rule (no totals here, so primary suppression only), expected and O/E follow
them as in :mod:`streams.exports.figures`, and so does the funnel position.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from notifiers.cases import Case, CaseBook
from streams.exports.figures import funnel_category
from streams.exports.suppression import SuppressionRule, published_ratio

HQIP_COLUMNS: tuple[str, ...] = (
    "Audit / registry",
    "Metric",
    "Provider ODS code",
    "Outlier level",
    "Direction",
    "Status",
    "Case status",
    "Current stage",
    "Response due",
    "Reporting period",
    "Date identified",
    "Cases (n)",
    "Observed",
    "Expected",
    "Observed / expected",
    "Funnel position",
    "Monitor",
    "Risk model version",
    "Case ID",
)
"""The sheet's columns, in order (its first row)."""
SHEET_TITLE = "Outliers"
_DIRECTION = {"worse": "negative outlier (worse than expected)",
              "better": "positive outlier (better than expected)"}


def _count(value: Any, rule: SuppressionRule) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return rule.publish(int(value))


def outlier_row(case: Case, rule: SuppressionRule) -> list[Any]:
    """One case's row, in :data:`HQIP_COLUMNS` order (``None`` is an empty cell)."""
    signal = case.signal
    n = _count(signal.get("n"), rule)
    observed = _count(signal.get("observed"), rule)
    raw_expected = signal.get("expected")
    expected = (round(float(raw_expected), 2)
                if n is not None and isinstance(raw_expected, int | float) else None)
    ratio = published_ratio(observed, expected)
    position = (funnel_category(observed, expected)
                if observed is not None and expected else None)
    stage = case.stage
    return [
        case.key.registry or signal.get("registry"),
        case.key.metric,
        case.key.entity_id,
        case.level,
        _DIRECTION.get(case.key.direction, case.key.direction),
        "confirmed" if case.confirmed else "preliminary",
        case.status.value,
        stage.name if stage else None,
        case.deadline.respond_by if case.deadline else None,
        case.reporting_period,
        case.opened_at.date().isoformat(),
        n,
        observed,
        expected,
        ratio,
        position,
        signal.get("monitor"),
        signal.get("risk_model_version"),
        case.case_id,
    ]


def provider_cases(book: CaseBook) -> list[Case]:
    """The provider cases of the main lane (a companion lane repeats the same outlier),
    oldest first."""
    found = [c for c in book.cases.values()
             if c.key.entity_type == "provider" and c.key.lane == "main"]
    return sorted(found, key=lambda c: (c.opened_at, c.case_id))


def case_book(entries: Iterable[Any]) -> CaseBook:
    """The case book rebuilt from log entries (``EscalationLog.entries()``)."""
    book = CaseBook()
    for entry in entries:
        book.apply(entry.kind, entry.payload, at=entry.at, case_id=entry.case_id, seq=entry.seq)
    return book


def write_sheet(cases: Sequence[Case], path: Path, rule: SuppressionRule) -> int:
    """Write the workbook; the number of rows written.

    >>> import tempfile
    >>> from openpyxl import load_workbook
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     written = write_sheet([], Path(folder) / "hqip.xlsx", SuppressionRule())
    ...     sheet = load_workbook(Path(folder) / "hqip.xlsx")[SHEET_TITLE]
    ...     headers = [cell.value for cell in sheet[1]]
    >>> written, headers[:3]
    (0, ['Audit / registry', 'Metric', 'Provider ODS code'])
    """
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = SHEET_TITLE
    sheet.append(list(HQIP_COLUMNS))
    for case in cases:
        sheet.append(outlier_row(case, rule))
    sheet.freeze_panes = "A2"
    for index, title in enumerate(HQIP_COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(12, len(title) + 2)
    notes = workbook.create_sheet("Notes")
    notes.append(["Suppression", f"counts {rule.lowest_suppressed}-{rule.threshold} are "
                  f"left empty, other counts rounded to the nearest {rule.rounding_base}; "
                  "expected and O/E are empty where a count they derive from is"])
    notes.append(["Direction", "negative = worse than expected; positive = better"])
    workbook.save(path)
    return len(cases)
