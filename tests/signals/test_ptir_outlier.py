"""PtirOutlier agrees with the NJR level functions of ``signals.ptir`` and signals upgrades
only (Level 2 alert, then Level 1 alarm, each once)."""

from __future__ import annotations

import random

from signals.crossing import Level
from signals.observations import ImplantTally
from signals.ptir import compare_ptir, outlier_level
from signals.ptir_outlier import PtirOutlier


def test_levels_match_the_ptir_functions():
    rng = random.Random(3)
    for _ in range(300):
        revisions = rng.randint(0, 60)
        years = rng.uniform(50, 1500)
        primaries = rng.randint(20, 400)
        watch = PtirOutlier(benchmark_rate=0.015)
        crossing = watch.update(ImplantTally(revisions, years, primaries))
        level = outlier_level(compare_ptir(revisions, years, primaries, 0.015))
        expected = {None: None, 1: Level.ALARM, 2: Level.ALERT}[level]
        assert (crossing.level if crossing else None) == expected


def test_upgrades_signal_once_each_and_state_round_trips():
    watch = PtirOutlier(benchmark_rate=0.05)
    assert watch.update(ImplantTally(25, 200.0, 400)).level is Level.ALERT  # lower limit ≥ 1.5
    assert watch.update(ImplantTally(25, 200.0, 400)) is None
    restored = PtirOutlier.from_state(watch.to_state())
    assert restored.update(ImplantTally(30, 200.0, 400)).level is Level.ALARM  # lower limit ≥ 2
    assert restored.update(ImplantTally(40, 200.0, 400)) is None
    assert restored.comparison().ptir == 20.0
