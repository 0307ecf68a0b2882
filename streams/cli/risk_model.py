"""``vigil fit-risk-model``: learn a baseline risk model from an events file, frozen.

The baseline is built the way the pipeline sees the stream: events are validated by the
contract, procedures are joined with their outcomes by ``Pipeline.observe`` (stage 1), and
each observation gets the feature values the pipeline reads from its procedure
(``Pipeline.feature_values``). Only procedures that occurred before ``--until`` count. The
features are those of the metric's configured risk model (its ``feature_paths()``): to fit a
model with other features, list them in the config first (any coefficients, e.g. 0).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from signals.risk_model_fit import fit_logistic, risk_model_block
from streams.console import failed, usage_error
from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.baseline import baseline_rows, parse_until
from streams.pipeline.config import ConfigError, load_config


def cmd_fit_risk_model(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as error:
        return usage_error(error)
    try:
        until = parse_until(args.until)
    except ValueError:
        return usage_error(f"vigil fit-risk-model: --until {args.until!r} is not a date "
                           "(YYYY-MM-DD) or an RFC 3339 date-time")
    try:
        with Path(args.events).open("rb") as stream:
            baseline = baseline_rows(stream, config, args.metric, until,
                                     Pseudonymiser.ephemeral())
    except OSError as error:
        return usage_error(f"vigil fit-risk-model: cannot read {args.events}: {error.strerror}")
    except ValueError as error:
        return usage_error(f"vigil fit-risk-model: {error}")
    try:
        model = fit_logistic(baseline.rows, epochs=args.epochs, version=args.version)
    except ValueError as error:
        return failed(f"vigil fit-risk-model: cannot fit {args.metric!r} on "
                      f"{len(baseline.rows)} observations before {args.until}: {error}")
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
            return failed(f"vigil fit-risk-model: cannot write {args.out}: {error.strerror}")
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
