"""``vigil export`` end to end: figures, FHIR, ICB roll-up and the HQIP sheet from the
bundled sample replayed with escalation, every figure suppressed, no NHS number anywhere."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from notifiers.log.escalation_log import open_log
from notifiers.rules import default_rules_path
from streams.bundled_samples import sample_paths
from streams.cli.main import main
from streams.contract.identifiers import nhs_numbers_in
from streams.exports.figures import COLUMNS
from streams.exports.hqip_sheet import HQIP_COLUMNS, SHEET_TITLE, case_book, provider_cases
from streams.exports.suppression import SuppressionRule


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    events, config = sample_paths()
    assert main(["replay", str(events), "--config", str(config), "--out",
                 str(folder / "replay"), "--escalate", str(default_rules_path())]) == 0
    log = f"sqlite:///{folder / 'replay' / 'escalation.db'}"
    assert main(["export", "all", "--log", log, "--out", str(folder / "out")]) == 0
    return folder


def test_every_format_is_written(exported: Path) -> None:
    names = sorted(p.name for p in (exported / "out").iterdir())
    assert names == ["figures.csv", "figures.json", "hqip-outliers.xlsx", "icb.csv",
                     "measure-reports.json"]


def test_published_counts_are_suppressed_and_rounded(exported: Path) -> None:
    with open(exported / "out" / "figures.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == COLUMNS
    values = [int(row[c]) for row in rows for c in ("n", "observed") if row[c]]
    assert values and all(v == 0 or (v >= 8 and v % 5 == 0) for v in values)
    blank = [row for row in rows if not row["observed"]]
    assert blank and all(not row["ratio"] and row["suppressed"] == "true" for row in blank)
    document = json.loads((exported / "out" / "figures.json").read_text())
    assert document["suppression"]["threshold"] == 7
    assert len(document["figures"]) == len(rows)


def test_hqip_sheet_opens_with_the_expected_columns_and_values(exported: Path) -> None:
    sheet = load_workbook(exported / "out" / "hqip-outliers.xlsx")[SHEET_TITLE]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == HQIP_COLUMNS
    log = open_log(f"sqlite:///{exported / 'replay' / 'escalation.db'}", create=False)
    try:
        cases = provider_cases(case_book(log.entries()))
    finally:
        log.close()
    assert len(rows) - 1 == len(cases) > 0
    column = {name: i for i, name in enumerate(HQIP_COLUMNS)}
    rule = SuppressionRule()
    for row, case in zip(rows[1:], cases, strict=True):
        assert row[column["Case ID"]] == case.case_id
        assert row[column["Provider ODS code"]] == case.key.entity_id
        assert row[column["Metric"]] == case.key.metric
        assert row[column["Outlier level"]] == case.level
        assert row[column["Cases (n)"]] == rule.publish(case.signal["n"])
        assert row[column["Observed"]] == rule.publish(case.signal["observed"])
        assert row[column["Status"]] in ("preliminary", "confirmed")
        if row[column["Observed"]] is None:
            assert row[column["Observed / expected"]] is None


def test_icb_and_fhir_outputs(exported: Path) -> None:
    with open(exported / "out" / "icb.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {row["icb"] for row in rows} >= {"national"}
    bundle = json.loads((exported / "out" / "measure-reports.json").read_text())
    assert bundle["resourceType"] == "Bundle"
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {"MeasureReport"}


def test_no_nhs_number_in_any_output(exported: Path) -> None:
    for path in (exported / "out").iterdir():
        if path.suffix == ".xlsx":
            sheet = load_workbook(path)[SHEET_TITLE]
            text = " ".join(str(v) for r in sheet.iter_rows(values_only=True) for v in r)
        else:
            text = path.read_text()
        assert nhs_numbers_in(text) == [], path.name


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "hqip", "--out", str(tmp_path)]) == 2
    assert "--log" in capsys.readouterr().err
    assert main(["export", "csv", "--threshold", "3", "--lowest", "5",
                 "--out", str(tmp_path)]) == 2
    assert main(["export", "csv", "--events", str(tmp_path / "none.jsonl"), "--config",
                 str(sample_paths()[1]), "--out", str(tmp_path)]) == 2
