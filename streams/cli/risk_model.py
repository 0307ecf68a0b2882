"""``vigil fit-risk-model``: learn a baseline risk model from an events file, frozen.

The lead wires ``add_commands`` into ``streams/cli/main.py``. The baseline is built the way the
pipeline sees the stream: events are validated by the contract, procedures are joined with
their outcomes by ``Pipeline.observe`` (stage 1), and each observation gets the feature
values the pipeline reads from its procedure (``Pipeline.feature_values``). Only procedures
that occurred before ``--until`` count. The features are those of the metric's configured
risk model (its ``feature_paths()``): to fit a model with other features, list them in the
config first (any coefficients, e.g. 0).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from signals.risk_model import FeatureValue
from signals.risk_model_fit import fit_logistic, risk_model_block
from streams.contract.events import InvalidEvent, ProcedureEvent, parse_event
from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.config import ConfigError, VigilConfig, load_config
from streams.pipeline.core import Pipeline, PipelineState

EXIT_FAILED = 1
EXIT_USAGE = 2


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


def cmd_fit_risk_model(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    try:
        until = parse_until(args.until)
    except ValueError:
        print(f"vigil fit-risk-model: --until {args.until!r} is not a date (YYYY-MM-DD) or "
              "an RFC 3339 date-time", file=sys.stderr)
        return EXIT_USAGE
    try:
        with Path(args.events).open("rb") as stream:
            baseline = baseline_rows(stream, config, args.metric, until,
                                     Pseudonymiser.ephemeral())
    except OSError as error:
        print(f"vigil fit-risk-model: cannot read {args.events}: {error.strerror}",
              file=sys.stderr)
        return EXIT_USAGE
    except ValueError as error:
        print(f"vigil fit-risk-model: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        model = fit_logistic(baseline.rows, epochs=args.epochs, version=args.version)
    except ValueError as error:
        print(f"vigil fit-risk-model: cannot fit {args.metric!r} on {len(baseline.rows)} "
              f"observations before {args.until}: {error}", file=sys.stderr)
        return EXIT_FAILED
    block = risk_model_block(model, args.metric, args.until, len(baseline.rows))
    text = (
        f"# vigil fit-risk-model: metric {args.metric}, {len(baseline.rows)} observations "
        f"before {args.until}\n"
        + yaml.safe_dump({"risk_model": block}, sort_keys=False, allow_unicode=True)
    )
    sys.stdout.write(text)
    if args.out is not None:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as error:
            print(f"vigil fit-risk-model: cannot write {args.out}: {error.strerror}",
                  file=sys.stderr)
            return EXIT_FAILED
    print(json.dumps({**baseline.summary(), "version": model.version}), file=sys.stderr)
    return 0


def add_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register ``fit-risk-model``."""
    p = subparsers.add_parser(
        "fit-risk-model",
        help="learn a frozen logistic risk model from a baseline period of events",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    p.add_argument("--events", required=True, type=Path, help="JSONL events file")
    p.add_argument("--config", required=True, type=Path, help="metric configuration (YAML)")
    p.add_argument("--metric", required=True, help="the binary-outcome metric to fit")
    p.add_argument("--until", required=True,
                   help="end of the baseline, exclusive: a date or RFC 3339 date-time")
    p.add_argument("--out", type=Path, help="also write the risk_model block to this file")
    p.add_argument("--epochs", type=int, default=30, help="passes over the baseline (30)")
    p.add_argument("--version", help="the model's version (default fitted-<sha8>-<rows>)")
    p.set_defaults(func=cmd_fit_risk_model)
