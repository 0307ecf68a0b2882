"""Published figures as FHIR R4 ``MeasureReport`` resources: one per metric × entity ×
reporting period, ``type`` ``summary``, ``status`` ``complete``.

- ``measure``: the metric's canonical URL, ``{base}/{registry}-{metric}``;
- who it is about, as a logical identifier reference with the systems
  ``notifiers.fhir`` uses: a clinician (GMC) or device (GTIN) is the ``subject``; a provider
  (ODS) is the ``reporter``, since R4 does not allow an Organization as ``subject``; the
  national row has neither;
- ``period``: the reporting period's first and last day (in London; see
  ``notifiers.reporting_periods``);
- one group: ``initial-population`` = ``n``, ``numerator`` = observed, and
  ``measureScore`` = O/E (for participation, submitted over expected). Every figure is the
  *published* one (:mod:`streams.exports.figures`): a suppressed count or a withheld score
  carries the ``data-absent-reason`` extension with code ``masked`` instead of a value.

The resources are validated in the tests against HL7's FHIR R4 JSON schema and with
``fhir.resources.R4B.measurereport.MeasureReport`` (R4B's MeasureReport is R4's: the
resource did not change between them; ``fhir.resources`` ships no plain R4 package).

>>> from streams.exports.figures import PublishedFigure
>>> row = PublishedFigure(registry="ncap", metric="death_30d", metric_kind="binary_outcome",
...                       entity_type="provider", entity_id="RXF", period="2026/27",
...                       n=120, observed=None, expected=10.5, ratio=None, suppressed=True)
>>> report = measure_report(row, "financial_year")
>>> report["measure"]
'https://vigil.invalid/fhir/Measure/ncap-death_30d'
>>> report["reporter"]["identifier"]["value"], report["period"]
('RXF', {'start': '2026-04-01', 'end': '2027-03-31'})
>>> [p.get("count") for p in report["group"][0]["population"]]
[120, None]
>>> report["group"][0]["population"][1]["_count"]["extension"][0]["valueCode"]
'masked'
"""

from __future__ import annotations

import calendar
import re
from datetime import date
from typing import Any

from notifiers.fhir import ODS_SYSTEM
from streams.exports.figures import PublishedFigure
from streams.exports.tallies import Period

MEASURE_BASE = "https://vigil.invalid/fhir/Measure"
"""Where the metrics' canonical URLs live unless the registry gives its own base."""
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
POPULATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/measure-population"
_WHO = {
    "provider": ("reporter", "Organization", ODS_SYSTEM),
    "clinician": ("subject", "Practitioner", "https://fhir.hl7.org.uk/Id/gmc-number"),
    "device": ("subject", "Device", "https://www.gs1.org/gtin"),
}
_MASKED = {"extension": [{"url": DATA_ABSENT, "valueCode": "masked"}]}


def period_dates(label: str, period: Period, first: date | None = None,
                 last: date | None = None) -> tuple[date, date]:
    """The first and last day of a reporting period's label (``first``/``last`` for the
    whole span, ``"all"``).

    >>> [str(day) for day in period_dates("2026/27 Q4", "quarter")]
    ['2027-01-01', '2027-03-31']
    >>> [str(day) for day in period_dates("2026-02", "month")]
    ['2026-02-01', '2026-02-28']
    """
    if period == "all":
        if first is None or last is None:
            raise ValueError("the whole span needs its first and last day")
        return first, last
    if period == "calendar_year":
        year = int(label)
        return date(year, 1, 1), date(year, 12, 31)
    if period == "month":
        year, month = (int(x) for x in label.split("-"))
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    found = re.fullmatch(r"(\d{4})/\d{2}(?: Q([1-4]))?", label)
    if found is None:
        raise ValueError(f"not a {period} label: {label!r}")
    start = int(found.group(1))
    if period == "financial_year":
        return date(start, 4, 1), date(start + 1, 3, 31)
    quarter = int(found.group(2))
    month = 4 + 3 * (quarter - 1)
    year = start + (month - 1) // 12
    month = (month - 1) % 12 + 1
    end_month = month + 2
    return date(year, month, 1), date(year, end_month,
                                      calendar.monthrange(year, end_month)[1])


def _count(code: str, value: int | None) -> dict[str, Any]:
    population: dict[str, Any] = {
        "code": {"coding": [{"system": POPULATION_SYSTEM, "code": code}]}}
    if value is None:
        population["_count"] = _MASKED
    else:
        population["count"] = value
    return population


def measure_report(row: PublishedFigure, period: Period, *, base: str = MEASURE_BASE,
                   first: date | None = None, last: date | None = None,
                   generated: date | None = None) -> dict[str, Any]:
    """One published row as a ``MeasureReport`` (JSON-ready)."""
    start, end = period_dates(row.period, period, first, last)
    score: dict[str, Any] = (dict(_MASKED) if row.ratio is None else
                             {"value": row.ratio, "unit": "ratio",
                              "system": "http://unitsofmeasure.org", "code": "1"})
    report: dict[str, Any] = {
        "resourceType": "MeasureReport",
        "identifier": [{"system": "urn:vigil:measure-report",
                        "value": f"{row.registry}:{row.metric}:{row.entity_type}:"
                                 f"{row.entity_id}:{row.period}"}],
        "status": "complete",
        "type": "summary",
        "measure": f"{base.rstrip('/')}/{row.registry}-{row.metric}",
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "group": [{
            "code": {"text": row.metric},
            "population": [_count("initial-population", row.n),
                           _count("numerator", row.observed)],
            "measureScore": score,
        }],
    }
    who = _WHO.get(row.entity_type)
    if who is not None:
        element, kind, system = who
        report[element] = {"type": kind, "identifier": {"system": system,
                                                        "value": row.entity_id}}
    if generated is not None:
        report["date"] = generated.isoformat()
    return report


def measure_bundle(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The reports as one FHIR ``collection`` Bundle, for a single file.

    >>> measure_bundle([])["type"]
    'collection'
    """
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": report} for report in reports]}
