"""``vigil arl`` and ``vigil calibrate``: control limits a statistician can sign off.

The patient mix comes from a file of predicted risks (one per line) or from a baseline
period of events run through the pipeline (``--events --config --metric [--until]``).
Each command prints a JSON object as its last stdout line. The maths is in
``signals.markov_arl``, ``signals.simulated_arl`` and ``signals.calibration``.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from signals import calibration
from signals.calibration_result import Calibration
from signals.cusum_increments import bernoulli_increments, poisson_chart_increments
from signals.markov_arl import markov_arl, poisson_markov_arl
from signals.simulated_arl import poisson_simulated_arl, simulated_arl
from streams.console import usage_error
from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.baseline import baseline_rows, parse_until
from streams.pipeline.config import ConfigError, load_config, read_risks
from streams.pipeline.metric_kinds.binary_outcome import BinaryOutcome


class UsageError(ValueError):
    """A command line that cannot be acted on."""


def patient_mix(args: argparse.Namespace) -> list[float]:
    """The predicted risks the chart is calibrated on."""
    if args.chart == "bernoulli":
        if args.p0 is None:
            raise UsageError("--chart bernoulli needs --p0")
        return [args.p0]
    if args.risks is not None:
        return read_risks(Path(args.risks))
    if args.events and args.config and args.metric:
        config = load_config(args.config)
        until = parse_until(args.until) if args.until else datetime.max.replace(tzinfo=UTC)
        with Path(args.events).open("rb") as stream:
            baseline = baseline_rows(stream, config, args.metric, until,
                                     Pseudonymiser.ephemeral())
        metric = next(m for m in config.metrics if m.name == args.metric)
        kind = BinaryOutcome(metric)  # type: ignore[arg-type]
        risks = [kind.model.predict_values([row[p] for p in kind.model.feature_paths()])
                 for row, _ in baseline.rows]
        if not risks:
            raise UsageError("the baseline period holds no complete observations")
        return risks
    raise UsageError("give --risks FILE, or --events FILE --config CFG --metric NAME")


def cmd_arl(args: argparse.Namespace) -> int:
    try:
        if args.chart == "poisson":
            return _print(_poisson_arl(args))
        risks = patient_mix(args)
    except (UsageError, ConfigError, OSError, ValueError) as error:
        return usage_error(f"vigil arl: {error}")
    odds_ratio = _required(args.odds_ratio, "--odds-ratio")
    if args.method == "simulation":
        estimate = simulated_arl(args.h, odds_ratio, risks, runs=args.runs, seed=args.seed)
        return _print({"arl": estimate.arl, "standard_error": estimate.standard_error,
                       "runs": estimate.runs, "method": "simulation", "h": args.h,
                       "patients_in_mix": len(risks)})
    arl = markov_arl(args.h, odds_ratio, risks, grid=args.grid)
    return _print({"arl": arl, "method": "markov", "grid": args.grid, "h": args.h,
                   "patients_in_mix": len(risks)})


def _poisson_arl(args: argparse.Namespace) -> dict[str, Any]:
    rate_ratio = _required(args.rate_ratio, "--rate-ratio")
    rate = _required(args.benchmark_rate, "--benchmark-rate")
    if args.method == "simulation":
        estimate = poisson_simulated_arl(args.h, rate_ratio, rate, args.exposure,
                                         runs=args.runs, seed=args.seed, exposure_first=True)
        return {"arl": estimate.arl, "standard_error": estimate.standard_error,
                "method": "simulation", "h": args.h}
    arl = poisson_markov_arl(args.h, rate_ratio, rate, args.exposure, grid=args.grid,
                             exposure_first=True)
    return {"arl": arl, "method": "markov", "grid": args.grid, "h": args.h}


def cmd_calibrate(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        if (args.arl0 is None) == (args.false_signal_prob is None):
            raise UsageError("give --arl0, or --false-signal-prob with --horizon")
        if args.false_signal_prob is not None and args.horizon is None:
            raise UsageError("--false-signal-prob needs --horizon (patients or steps)")
        result = _poisson_h(args) if args.chart == "poisson" else _bernoulli_h(args)
    except (UsageError, ConfigError, OSError, ValueError) as error:
        return usage_error(f"vigil calibrate: {error}")
    result["seconds"] = round(time.perf_counter() - started, 3)
    return _print(result)


def _bernoulli_h(args: argparse.Namespace) -> dict[str, Any]:
    odds_ratio = _required(args.odds_ratio, "--odds-ratio")
    risks = patient_mix(args)
    increments = bernoulli_increments(odds_ratio, risks)
    base = {"chart": args.chart, "odds_ratio": odds_ratio, "patients_in_mix": len(risks),
            "grid": args.grid}
    if args.arl0 is not None:
        return {**_reported(calibration.calibrate_arl0(increments, args.arl0, args.grid),
                            "arl0"), **base}
    method = "exact" if args.exact else "markov"
    found = calibration.calibrate_false_signal_probability(
        increments, args.false_signal_prob, args.horizon, method, args.grid)
    return {**_reported(found, "false_signal_prob"), "horizon": args.horizon, **base}


def _poisson_h(args: argparse.Namespace) -> dict[str, Any]:
    rate_ratio = _required(args.rate_ratio, "--rate-ratio")
    rate = _required(args.benchmark_rate, "--benchmark-rate")
    increments = poisson_chart_increments(rate_ratio, rate, args.exposure, exposure_first=True)
    base = {"chart": "poisson", "rate_ratio": rate_ratio, "benchmark_rate": rate,
            "exposure_per_step": args.exposure, "grid": args.grid}
    if args.arl0 is not None:
        return {**_reported(calibration.calibrate_arl0(increments, args.arl0, args.grid),
                            "arl0"), **base}
    found = calibration.calibrate_false_signal_probability(
        increments, args.false_signal_prob, args.horizon, grid=args.grid)
    return {**_reported(found, "false_signal_prob"), "horizon": args.horizon, **base}


def _reported(found: Calibration, name: str) -> dict[str, Any]:
    """The limit, the value it really achieves under ``name``, and the target beside it.

    When the target cannot be met exactly (a lattice chart, or cran/cusum's exact rule)
    ``attained`` is false and ``note`` says which limit this is.
    """
    result: dict[str, Any] = {"h": found.h, name: found.achieved, f"target_{name}": found.target,
                              "attained": found.exact, "method": found.method}
    if found.lattice_step is not None:
        result["lattice_step"] = found.lattice_step
    if not found.exact:
        side = "at least" if name == "arl0" else "at most"
        closest = "nearest limit" if found.method == "lattice" else "limit cran/cusum chooses"
        result["note"] = (
            f"{name} {found.target:g} is not attainable exactly: this chart's {name} is a "
            f"step function of h; this is the {closest}"
            + (f" with {name} {side} the target" if found.method == "lattice" else "")
            + f", whose {name} is {found.achieved:.6g}")
    return result


def _required(value: float | None, flag: str) -> float:
    if value is None:
        raise UsageError(f"{flag} is required")
    return value


def _print(result: dict[str, Any]) -> int:
    print(json.dumps(result))
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--chart", choices=("ra", "bernoulli", "poisson"), default="ra",
                   help="risk-adjusted (default), unadjusted Bernoulli or Poisson CUSUM")
    p.add_argument("--odds-ratio", type=float, help="odds ratio R to detect (ra, bernoulli)")
    p.add_argument("--risks", help="patient mix: one predicted risk per line")
    p.add_argument("--events", help="patient mix from a baseline period of events")
    p.add_argument("--config", help="metric configuration, with --events")
    p.add_argument("--metric", help="metric whose risk model scores the baseline")
    p.add_argument("--until", help="baseline ends at this date (default: all events)")
    p.add_argument("--p0", type=float, help="constant event rate (bernoulli)")
    p.add_argument("--rate-ratio", type=float, help="rate ratio r to detect (poisson)")
    p.add_argument("--benchmark-rate", type=float,
                   help="benchmark events per unit exposure (poisson)")
    p.add_argument("--exposure", type=float, default=1.0,
                   help="exposure per update (poisson, default 1)")
    p.add_argument("--grid", type=int, default=1000, help="Markov chain states (default 1000)")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("arl", help="in-control average run length of a CUSUM")
    p.add_argument("--h", type=float, required=True, help="the control limit")
    p.add_argument("--method", choices=("markov", "simulation"), default="markov")
    p.add_argument("--runs", type=int, default=10_000, help="simulated runs")
    p.add_argument("--seed", type=int, default=2026, help="simulation seed")
    _common(p)
    p.set_defaults(func=cmd_arl)

    p = subparsers.add_parser("calibrate", help="the control limit h for a target")
    p.add_argument("--arl0", type=float, help="target in-control ARL")
    p.add_argument("--false-signal-prob", type=float,
                   help="target probability of a false signal within --horizon")
    p.add_argument("--horizon", type=int, help="patients (or steps) for --false-signal-prob")
    p.add_argument("--exact", action="store_true",
                   help="exact enumeration for --false-signal-prob (short horizons)")
    _common(p)
    p.set_defaults(func=cmd_calibrate)
