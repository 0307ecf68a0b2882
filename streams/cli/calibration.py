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
from signals.bootstrap_limit import bootstrap_limit_for_arl0
from signals.calibration_result import Calibration
from signals.cusum_increments import bernoulli_increments, poisson_chart_increments
from signals.markov_arl import markov_arl, poisson_markov_arl
from signals.simulated_arl import poisson_simulated_arl, simulated_arl
from streams.console import usage_error
from streams.contract.pseudonym import Pseudonymiser
from streams.pipeline.baseline import Baseline, baseline_rows, parse_until
from streams.pipeline.config import ConfigError, load_config, read_risks
from streams.pipeline.metric_kinds.binary_outcome import BinaryOutcome


class UsageError(ValueError):
    """A command line that cannot be acted on."""


def baseline_of_events(args: argparse.Namespace) -> tuple[Baseline, BinaryOutcome]:
    """The baseline period's (features, outcome) rows and the metric's kind."""
    config = load_config(args.config)
    until = parse_until(args.until) if args.until else datetime.max.replace(tzinfo=UTC)
    with Path(args.events).open("rb") as stream:
        baseline = baseline_rows(stream, config, args.metric, until, Pseudonymiser.ephemeral())
    metric = next(m for m in config.metrics if m.name == args.metric)
    return baseline, BinaryOutcome(metric)  # type: ignore[arg-type]


def patient_mix(args: argparse.Namespace) -> list[float]:
    """The predicted risks the chart is calibrated on."""
    if args.chart == "bernoulli":
        if args.p0 is None:
            raise UsageError("--chart bernoulli needs --p0")
        return [args.p0]
    if args.risks is not None:
        return read_risks(Path(args.risks))
    if args.events and args.config and args.metric:
        baseline, kind = baseline_of_events(args)
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
        if args.guarantee is not None:
            result = _guaranteed_h(args)
        elif args.chart == "poisson":
            result = _poisson_h(args)
        else:
            result = _bernoulli_h(args)
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


def _guaranteed_h(args: argparse.Namespace) -> dict[str, Any]:
    """Gandy & Kvaløy's bootstrap limit (``signals.bootstrap_limit``): the risk model is
    refitted by maximum likelihood on the baseline period's rows and outcomes."""
    if args.chart != "ra" or args.arl0 is None:
        raise UsageError("--guarantee is for --chart ra with --arl0")
    if not (args.events and args.config and args.metric):
        raise UsageError("--guarantee needs the baseline's outcomes: --events FILE --config "
                         "CFG --metric NAME [--until]")
    odds_ratio = _required(args.odds_ratio, "--odds-ratio")
    baseline, _ = baseline_of_events(args)
    if not baseline.rows:
        raise UsageError("the baseline period holds no complete observations")
    found = bootstrap_limit_for_arl0(
        [features for features, _ in baseline.rows], [y for _, y in baseline.rows],
        odds_ratio, args.arl0, args.guarantee, args.nrep, args.seed, args.grid,
        args.chart_outcomes)
    return {"h": found.h, "plug_in_h": found.plug_in_h, "target_arl0": found.target_arl0,
            "guarantee": found.guarantee, "nrep": found.nrep,
            "monte_carlo_standard_error": found.standard_error, "method": "bootstrap",
            "chart_outcomes": args.chart_outcomes, "chart": "ra", "odds_ratio": odds_ratio,
            "patients_in_baseline": len(baseline.rows), "grid": args.grid,
            "note": (f"with probability about {found.guarantee:g} over baseline samples the "
                     f"in-control ARL at h is at least {found.target_arl0:g}, for the model "
                     "refitted on this baseline by maximum likelihood")}


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
    p.add_argument("--guarantee", type=float,
                   help="meet --arl0 with this probability allowing for the risk model being "
                        "estimated on the baseline (bootstrap; needs --events)")
    p.add_argument("--nrep", type=int, default=200, help="bootstrap samples (--guarantee)")
    p.add_argument("--seed", type=int, default=2026, help="bootstrap seed (--guarantee)")
    p.add_argument("--chart-outcomes", choices=("observed", "modelled"), default="observed",
                   help="in-control scores from the baseline's observed outcomes (spcadjust, "
                        "default) or from the model's risks (--guarantee)")
    _common(p)
    p.set_defaults(func=cmd_calibrate)
