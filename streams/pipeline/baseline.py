"""The baseline period of a metric, as the pipeline sees it: (features, outcome) rows to fit
or calibrate on.

Events are validated by the contract, procedures are joined with their outcomes by
``Pipeline.observe`` (stage 1), and each observation gets the feature values the pipeline
reads from its procedure (``Pipeline.feature_values``). Only procedures that occurred before
``until`` count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from signals.risk_model import FeatureValue
from streams.contract.events import InvalidEvent, ProcedureEvent, parse_event
from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.config import VigilConfig
from streams.pipeline.core import Pipeline, PipelineState


@dataclass(slots=True)
class Baseline:
    """The rows to fit, and what was left out."""

    rows: list[tuple[dict[str, FeatureValue], int]] = field(default_factory=list)
    events: int = 0
    rejected: int = 0
    after_until: int = 0
    awaiting_outcome: int = 0

    def summary(self) -> dict[str, int]:
        return {
            "rows": len(self.rows),
            "events": self.events,
            "rejected": self.rejected,
            "procedures_after_until": self.after_until,
            "awaiting_outcome": self.awaiting_outcome,
        }


def baseline_rows(lines: Iterable[str | bytes], config: VigilConfig, metric: str,
                  until: datetime, pseudonymiser: Pseudonymiser) -> Baseline:
    """(features by dotted path, outcome) for every procedure of ``metric`` before ``until``
    whose outcome the stream holds; rejected events are counted, not fatal."""
    chosen = [m for m in config.metrics if m.name == metric]
    if not chosen:
        known = ", ".join(m.name for m in config.metrics)
        raise ValueError(f"metric {metric!r} is not in the config; it has {known}")
    # Only this metric: another metric's missing risk factor must not reject the event.
    pipeline = Pipeline(config.model_copy(update={"metrics": chosen}))
    state = PipelineState()
    baseline = Baseline()
    features: dict[str, dict[str, FeatureValue]] = {}
    for line in lines:
        if not line.strip():
            continue
        baseline.events += 1
        try:
            event = parse_event(line, pseudonymiser)
            observations = pipeline.observe(event, state)
            if isinstance(event, ProcedureEvent):
                if event.occurred_at < until:
                    features[event.event_id] = pipeline.feature_values(metric, event)
                else:
                    baseline.after_until += 1
        except InvalidEvent:
            baseline.rejected += 1
            continue
        for observation in observations:
            values = features.pop(observation.event_id, None)
            if values is not None:
                baseline.rows.append((values, observation.values[0]))
    baseline.awaiting_outcome = len(features)
    return baseline


def parse_until(text: str) -> datetime:
    """A date (midnight UTC) or an RFC 3339 date-time; without an offset, UTC.

    >>> parse_until("2026-07-01"), parse_until("2026-07-01T12:00:00+01:00").hour
    (datetime.datetime(2026, 7, 1, 0, 0, tzinfo=datetime.timezone.utc), 12)
    """
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
