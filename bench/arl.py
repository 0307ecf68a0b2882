"""Cost of CUSUM control-limit calibration (prints figures; not a test).

    PYTHONPATH=$PWD python bench/arl.py

Times one Markov-chain ARL on a 1,000-state grid (goal: well under 2 s), one ``h_for_arl0``
calibration on the cardiacsurgery.csv Phase I mix (if ../shared is present), one
false-signal calibration and one simulated ARL.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from signals.calibration import h_for_arl0, h_for_false_signal_probability, poisson_h_for_arl0
from signals.markov_arl import markov_arl, poisson_markov_arl
from signals.risk_mix import beta_parsonnet_mix, logistic_risks
from signals.simulated_arl import simulated_arl

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


def main() -> None:
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
