"""Cost of CUSUM control-limit calibration (prints figures; not a test).

    PYTHONPATH=$PWD python bench/arl.py

Times one Markov-chain ARL on a 1,000-state grid (goal: well under 2 s), one ``h_for_arl0``
calibration on the cardiacsurgery.csv Phase I mix (if ../shared is present), one
false-signal calibration and one simulated ARL.

Issue 13's goals, printed beside their baselines: one ARL on 9,000 states with the O(N²)
Toeplitz solve against the old dense solve and vlad's 0.32 s; and the per-entity
calibration of 1,000 charts of different volumes and case mixes (each for a false signal
every three years of its own volume on average), against the dense solve timed on a sample.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from signals.calibration import (
    h_for_arl0,
    h_for_false_signal_probability,
    limit_for_arl0,
    poisson_h_for_arl0,
)
from signals.cusum_increments import CusumIncrements, bernoulli_increments
from signals.markov_arl import arl_of_increments, markov_arl, poisson_markov_arl
from signals.risk_mix import beta_parsonnet_mix, logistic_risks
from signals.simulated_arl import simulated_arl

VLAD_9000_STATES_SECONDS = 0.32  # statistics.md: vlad's O(N²) chain at 9,000 states
CHARTS = 1000

CARDIAC = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cardiacsurgery.csv"


def timed(label: str, work: Callable[[], Any], repeat: int = 3) -> Any:
    """Run ``work`` ``repeat`` times; print the best time and the result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    print(f"{label:62s} {best:7.3f} s   → {result}")
    return result


def phase_one_risks() -> np.ndarray | None:
    if not CARDIAC.is_file():
        return None
    with CARDIAC.open(newline="") as handle:
        scores = [float(r["Parsonnet"]) for r in csv.DictReader(handle) if int(r["date"]) < 730]
    return logistic_risks(scores, -3.790488, 0.0798444)


def entity_charts(count: int, seed: int = 13) -> list[tuple[CusumIncrements, float]]:
    """``count`` per-entity charts (R = 2): yearly volumes 50–3,000, Parsonnet mixes from
    71·Beta(1, 2.5…4), each with the target ARL0 of three years of its own volume."""
    rng = np.random.default_rng(seed)
    charts = []
    for _ in range(count):
        volume = int(rng.integers(50, 3001))
        parsonnet = np.round(71 * rng.beta(1.0, rng.uniform(2.5, 4.0), volume))
        risks = logistic_risks(parsonnet, -3.68, 0.077)
        charts.append((bernoulli_increments(2.0, risks), 3.0 * volume))
    return charts


def issue_13_goals() -> None:
    beta_increments = bernoulli_increments(2.0, *beta_parsonnet_mix())
    fast = timed(
        "Markov ARL, 9000 states, Beta mix, h=4.5, Toeplitz O(N²) solve",
        lambda: arl_of_increments(beta_increments, 4.5, 9000),
    )
    dense = timed(
        "  the same, dense O(N³) solve (before issue 13)",
        lambda: arl_of_increments(beta_increments, 4.5, 9000, solver="dense"),
        repeat=1,
    )
    print(f"{'  vlad (statistics.md), 9000 states':62s} {VLAD_9000_STATES_SECONDS:7.3f} s"
          f"   (relative difference Toeplitz vs dense {abs(fast - dense) / dense:.1e})")
    charts = entity_charts(CHARTS)
    start = time.perf_counter()
    limits = [limit_for_arl0(increments, target) for increments, target in charts]
    total = time.perf_counter() - start
    print(f"{f'calibrate {CHARTS} per-entity charts (h for ARL0), Toeplitz':62s} {total:7.3f} s"
          f"   → h from {min(limits):.3f} to {max(limits):.3f}")
    sample = charts[:10]
    start = time.perf_counter()
    for increments, target in sample:
        _dense_limit(increments, target)
    per_chart = (time.perf_counter() - start) / len(sample)
    print(f"{f'  the same with the dense solve (10 charts timed, × {CHARTS // 10})':62s}"
          f" {per_chart * CHARTS:7.1f} s")


def _dense_limit(increments: CusumIncrements, target: float) -> float:
    from scipy import optimize

    def excess(h: float) -> float:
        return float(np.log(arl_of_increments(increments, h, solver="dense")) - np.log(target))

    high = 1.0
    while excess(high) < 0:
        high *= 2
    return float(optimize.brentq(excess, high / 2, high, xtol=1e-7))


def main() -> None:
    issue_13_goals()
    beta = beta_parsonnet_mix()
    timed(
        "Markov ARL, grid 1000, Beta mix (2000 risks), h=4.5, R=2",
        lambda: round(markov_arl(4.5, 2.0, *beta, grid=1000), 3),
    )
    timed(
        "Markov ARL, grid 2000, Beta mix, h=4.5, R=2",
        lambda: round(markov_arl(4.5, 2.0, *beta, grid=2000), 3),
    )
    timed(
        "Poisson ARL, grid 1000, exposure first, 2 exposures, h=3",
        lambda: round(poisson_markov_arl(3.0, 2.0, 0.01, [30.0, 50.0], exposure_first=True), 3),
    )
    timed(
        "poisson_h_for_arl0(120), exposure first, 2 exposures",
        lambda: round(poisson_h_for_arl0(120, 2.0, 0.01, [30.0, 50.0], exposure_first=True), 5),
    )
    risks = phase_one_risks()
    if risks is None:
        print(f"{CARDIAC} not present: skipping the cardiac-surgery mix")
        return
    timed(
        "Markov ARL, grid 1000, cardiac Phase I (1766 patients), h=4.5",
        lambda: round(markov_arl(4.5, 2.0, risks, grid=1000), 3),
    )
    timed(
        "h_for_arl0(370, R=2), cardiac Phase I (vlad: 1.8592)",
        lambda: round(h_for_arl0(370, 2.0, risks), 5),
    )
    timed(
        "h_for_false_signal_probability(0.05, 900 patients), cardiac",
        lambda: round(h_for_false_signal_probability(0.05, 900, 2.0, risks), 5),
        repeat=1,
    )
    estimate = timed(
        "simulated ARL, 10,000 runs, cardiac Phase I, h=4.5",
        lambda: simulated_arl(4.5, 2.0, risks, runs=10_000, seed=1),
        repeat=1,
    )
    print(f"{'':62s} ({estimate.runs * estimate.arl / 1e6:.0f} M simulated patients)")


if __name__ == "__main__":
    main()
