"""The counts behind published figures, from one replay of the events through the pipeline.

Events go through :meth:`streams.pipeline.core.Pipeline.process` with an observer, as
``vigil budget`` does, so the figures count exactly what the monitors counted: per metric,
entity and reporting period, and per metric and the **patient's** ICB (whatever the
provider). What each observation adds:

- a binary outcome: one case (``n``), its outcome (``observed``) and its predicted risk
  (``expected``);
- a device: implants (``n``), revisions (``observed``) and the benchmark rate times the
  implant-years at risk the device's own exposure accrual added (``expected``, read from the
  device's state after each event, never recomputed). By ICB only ``n`` and ``observed``:
  implant-years accrue per device, not per patient;
- a submission: cases expected (``n`` and ``expected``) and cases submitted (``observed``),
  in the month it reports on. Submissions name no patient, so they have no ICB.

Counts are exact here; nothing in this module is published as it is (see ``figures`` and
``icb``, which go through ``suppression``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from notifiers.reporting_periods import ReportingPeriod, period_of
from signals.observations import Outcome, Submission
from streams.contract.events import InvalidEvent, ProcedureEvent
from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.core import Pipeline, PipelineState
from streams.pipeline.metric_kinds.base import Observation
from streams.pipeline.metric_kinds.device_exposure import DeviceEvent, DeviceExposure, DeviceState
from streams.pipeline.replay import canonical_events

Period = ReportingPeriod | Literal["all"]
PUBLISHED_ENTITY_TYPES = ("provider", "clinician", "device")
"""Entity types with published figures (segments and the national drift watch are not)."""
UNKNOWN_ICB = "unknown"
"""The ICB column of patients whose events name none."""

CellKey = tuple[str, str, str, str]
"""(metric, entity_type, entity_id, period)."""


@dataclass(slots=True)
class Tally:
    """Exact counts of one cell. ``expected`` is ``None`` where it cannot be had."""

    n: int = 0
    observed: int = 0
    expected: float | None = 0.0

    def add(self, n: int, observed: int, expected: float | None) -> None:
        self.n += n
        self.observed += observed
        self.expected = (None if self.expected is None or expected is None
                         else self.expected + expected)


@dataclass(slots=True)
class Tallies:
    """Everything one replay counted."""

    period: Period
    entities: dict[CellKey, Tally] = field(default_factory=dict)
    national: dict[tuple[str, str], Tally] = field(default_factory=dict)
    """(metric, period) → every observation of the metric."""
    icbs: dict[tuple[str, str], Tally] = field(default_factory=dict)
    """(metric, patient's ICB) → the metric's observations of that ICB's patients."""
    icb_national: dict[str, Tally] = field(default_factory=dict)
    clinician_providers: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    """(metric, GMC number) → the providers the clinician's cases came from."""
    kinds: dict[str, str] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None


def _cell(table: dict[Any, Tally], key: Any, expected: bool = True) -> Tally:
    found = table.get(key)
    if found is None:
        found = table[key] = Tally(expected=0.0 if expected else None)
    return found


def _label(moment: datetime, period: Period) -> str:
    return "all" if period == "all" else period_of(moment, period)


def _month_label(month: str, period: Period) -> str:
    """A submission's period (``YYYY-MM``) as the reporting period it reports on."""
    year, number = (int(part) for part in month.split("-"))
    return _label(datetime(year, number, 15, 12, tzinfo=UTC), period)


def tally_events(lines: Iterable[bytes], pipeline: Pipeline, pseudonymiser: Pseudonymiser,
                 period: Period = "financial_year") -> Tallies:
    """Replay ``lines`` (JSONL events) through ``pipeline`` and count every observation.

    >>> from streams.bundled_samples import sample_paths
    >>> from streams.pipeline.config import load_config
    >>> events, config = sample_paths()
    >>> with events.open("rb") as lines:
    ...     tallies = tally_events(lines, Pipeline(load_config(config)),
    ...                            Pseudonymiser.ephemeral())
    >>> national = tallies.national["death_30d", "2025/26"]
    >>> national.n, national.observed, round(national.expected, 1)
    (2733, 396, 351.4)
    """
    tallies = Tallies(period, kinds={m.name: m.kind for m in pipeline.config.metrics})
    state = PipelineState()
    icb_of: dict[str, str] = {}
    exposure_seen: dict[tuple[str, str], tuple[int, int, float]] = {}
    seen: list[Observation] = []
    for number, event in canonical_events(lines, pseudonymiser):
        if isinstance(event, ProcedureEvent):
            patient = event.patient
            icb_of[event.episode_id] = (patient.icb_code if patient and patient.icb_code
                                        else UNKNOWN_ICB)
        seen.clear()
        with contextlib.suppress(InvalidEvent):  # a rejected event has no observations
            pipeline.process(event, state, number, seen.append)
        for observation in seen:
            _count(tallies, pipeline, state, observation, icb_of, exposure_seen)
    return tallies


def _count(tallies: Tallies, pipeline: Pipeline, state: PipelineState,
           observation: Observation, icb_of: dict[str, str],
           exposure_seen: dict[tuple[str, str], tuple[int, int, float]]) -> None:
    metric, values = observation.metric, observation.values
    at = observation.occurred_at
    tallies.first = at if tallies.first is None else min(tallies.first, at)
    tallies.last = at if tallies.last is None else max(tallies.last, at)
    icb = icb_of.get(observation.episode_id or "", UNKNOWN_ICB)
    label = _label(at, tallies.period)
    if isinstance(values, Outcome):
        added = (1, values.y, values.p)
        _add(tallies, metric, label, observation, added)
        _cell(tallies.icbs, (metric, icb)).add(*added)
        _cell(tallies.icb_national, metric).add(*added)
        clinicians = [e for t, e in observation.entities if t == "clinician"]
        for gmc in clinicians:
            tallies.clinician_providers.setdefault((metric, gmc), set()).add(
                observation.provider or "")
    elif isinstance(values, DeviceEvent):
        kind = pipeline.kinds[metric]
        assert isinstance(kind, DeviceExposure)
        for entity_type, gtin in observation.entities:
            device = state.entities.get((metric, entity_type, gtin))
            if not isinstance(device, DeviceState):
                continue
            exposure = device.exposure
            now = (exposure.implanted, exposure.revised, exposure.implant_years)
            before = exposure_seen.get((metric, gtin), (0, 0, 0.0))
            exposure_seen[metric, gtin] = now
            added_device = (now[0] - before[0], now[1] - before[1],
                            (now[2] - before[2]) * kind.config.benchmark_rate)
            _add(tallies, metric, label, observation, added_device,
                 entities=((entity_type, gtin),))
            by_patient = (1, 0, None) if values.what == "implant" else (0, 1, None)
            _cell(tallies.icbs, (metric, icb), expected=False).add(*by_patient)
            _cell(tallies.icb_national, metric, expected=False).add(*by_patient)
    elif isinstance(values, Submission):
        label = _month_label(values.period, tallies.period)
        expected = int(values.expected)
        _add(tallies, metric, label, observation, (expected, int(values.submitted), expected))


def _add(tallies: Tallies, metric: str, label: str, observation: Observation,
         added: tuple[int, int, float | None],
         entities: tuple[tuple[str, str], ...] | None = None) -> None:
    for entity_type, entity_id in entities or observation.entities:
        if entity_type in PUBLISHED_ENTITY_TYPES:
            key = (metric, entity_type, entity_id, label)
            _cell(tallies.entities, key).add(*added)
    _cell(tallies.national, (metric, label)).add(*added)
