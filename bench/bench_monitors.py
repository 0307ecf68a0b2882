"""Per-update cost of the per-entity monitors (prints figures; not a test).

    PYTHONPATH=$PWD python bench/bench_monitors.py [n]
"""

from __future__ import annotations

import random
import sys
import time

from signals.bernoulli_cusum import BernoulliCusum
from signals.observations import Exposure, Outcome
from signals.poisson_cusum import PoissonCusum
from signals.ra_cusum import RiskAdjustedCusum
from signals.ra_ewma import RiskAdjustedEwma
from signals.vlad import Vlad


def timed(name: str, update, observations: list) -> None:
    start = time.perf_counter()
    signals = sum(1 for o in observations if update(o) is not None)
    seconds = time.perf_counter() - start
    print(f"{name:18s} {seconds:6.3f} s  {1e9 * seconds / len(observations):6.0f} ns/update  "
          f"{signals} crossings")


def main(n: int) -> None:
    rng = random.Random(1)
    cases = [Outcome(int(rng.random() < p), p)
             for p in (rng.uniform(0.01, 0.3) for _ in range(n))]
    print(f"{n} updates each")
    timed("RiskAdjustedCusum", RiskAdjustedCusum(2.0, alert_h=3.0, alarm_h=4.5).update, cases)
    timed("BernoulliCusum", BernoulliCusum(0.15, 2.0, alert_h=3.0, alarm_h=4.5).update, cases)
    timed("Vlad", Vlad(alert_below=-5.0, alarm_below=-10.0).update, cases)
    timed("RiskAdjustedEwma", RiskAdjustedEwma(0.01, 3.0, 2.0, burn_in=100).update, cases)
    counts = [Exposure(int(rng.random() < 0.05), rng.expovariate(1.0)) for _ in range(n)]
    timed("PoissonCusum", PoissonCusum(0.05, 2.0, alert_h=3.0, alarm_h=4.5).update, counts)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
