"""Patient-time incidence rate (PTIR) of implant revision and NJR outlier levels.

The National Joint Registry compares an implant's revision rate per 100 implant-years at risk
(its PTIR) with its group's. A Level 1 outlier has a PTIR at least twice the group's, allowing
for confidence intervals, with at least 100 primaries; Level 2 is at least twice with fewer
than 100 primaries, or at least 1.5 times with 100 or more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

IMPLANT_YEARS_PER_PTIR = 100.0


def ptir(revisions: int, implant_years: float) -> float:
    """Revisions per 100 implant-years at risk.

    >>> ptir(10, 200.0)
    5.0
    """
    if implant_years <= 0:
        raise ValueError("implant_years must be positive")
    return IMPLANT_YEARS_PER_PTIR * revisions / implant_years


def poisson_count_interval(count: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Garwood) confidence interval for the mean of a Poisson ``count``.

    ``lower = χ²(α/2; 2X)/2`` (0 when X = 0) and ``upper = χ²(1 − α/2; 2X + 2)/2``, with
    α = 1 − ``confidence``. Each tail holds at most α/2, so coverage is at least
    ``confidence``.

    >>> [round(bound, 4) for bound in poisson_count_interval(10)]
    [4.7954, 18.3904]
    >>> [round(bound, 4) for bound in poisson_count_interval(0)]
    [0.0, 3.6889]

    References
    ----------
    Garwood F. Fiducial limits for the Poisson distribution. Biometrika 1936;28:437–442.
    """
    if count < 0 or int(count) != count:
        raise ValueError("count must be a non-negative integer")
    if not 0 < confidence < 1:
        raise ValueError("confidence must lie in (0, 1)")
    from scipy.stats import chi2  # imported on first use: it is slow to import

    alpha = 1.0 - confidence
    lower = 0.0 if count == 0 else float(chi2.ppf(alpha / 2, 2 * count)) / 2
    upper = float(chi2.ppf(1 - alpha / 2, 2 * count + 2)) / 2
    return lower, upper


@dataclass(frozen=True, slots=True)
class PtirComparison:
    """An implant's PTIR against its group's benchmark rate.

    ``benchmark_rate`` and ``expected`` are per implant-year and in revisions; ``ptir`` and
    ``benchmark_ptir`` are per 100 implant-years. ``ratio = revisions / expected`` (equal to
    ``ptir / benchmark_ptir``) with its exact Poisson interval ``[ratio_lower, ratio_upper]``.
    """

    revisions: int
    implant_years: float
    primaries: int
    benchmark_rate: float
    confidence: float
    ptir: float
    benchmark_ptir: float
    expected: float
    ratio: float
    ratio_lower: float
    ratio_upper: float


def compare_ptir(
    revisions: int,
    implant_years: float,
    primaries: int,
    benchmark_rate: float,
    confidence: float = 0.95,
) -> PtirComparison:
    """Compare an implant's revisions over its implant-years with a benchmark rate.

    Parameters
    ----------
    revisions
        Revisions observed (X).
    implant_years
        Implant-years at risk (E), > 0.
    primaries
        Primary operations using the implant (for the NJR's volume rule).
    benchmark_rate
        The group's revisions per implant-year (λ0), > 0. Divide a group PTIR by 100.
    confidence
        Level of the exact Poisson interval for the ratio.

    Examples
    --------
    10 revisions over 100 implant-years against a group rate of 0.05 a year (5 per 100
    implant-years): twice the benchmark, but the interval still includes 1:

    >>> c = compare_ptir(10, 100.0, primaries=250, benchmark_rate=0.05)
    >>> c.ptir, c.benchmark_ptir, c.expected, c.ratio
    (10.0, 5.0, 5.0, 2.0)
    >>> round(c.ratio_lower, 4), round(c.ratio_upper, 4)
    (0.9591, 3.6781)
    """
    if implant_years <= 0 or math.isinf(implant_years):
        raise ValueError("implant_years must be positive and finite")
    if primaries < 0:
        raise ValueError("primaries must not be negative")
    if not benchmark_rate > 0 or math.isinf(benchmark_rate):
        raise ValueError("benchmark_rate must be positive and finite")
    lower, upper = poisson_count_interval(revisions, confidence)
    expected = benchmark_rate * implant_years
    return PtirComparison(
        revisions=revisions,
        implant_years=implant_years,
        primaries=primaries,
        benchmark_rate=benchmark_rate,
        confidence=confidence,
        ptir=ptir(revisions, implant_years),
        benchmark_ptir=IMPLANT_YEARS_PER_PTIR * benchmark_rate,
        expected=expected,
        ratio=revisions / expected,
        ratio_lower=lower / expected,
        ratio_upper=upper / expected,
    )


def level1_candidate(
    comparison: PtirComparison, min_ratio: float = 2.0, min_primaries: int = 100
) -> bool:
    """NJR Level 1: the ratio's *lower* confidence limit ≥ ``min_ratio`` with enough primaries.

    >>> level1_candidate(compare_ptir(30, 200.0, primaries=400, benchmark_rate=0.05))
    True
    >>> level1_candidate(compare_ptir(30, 200.0, primaries=99, benchmark_rate=0.05))
    False
    """
    return comparison.ratio_lower >= min_ratio and comparison.primaries >= min_primaries


def level2_candidate(
    comparison: PtirComparison,
    min_ratio_few: float = 2.0,
    min_ratio_many: float = 1.5,
    min_primaries: int = 100,
    use_lower_limit: bool = True,
) -> bool:
    """NJR Level 2: ≥ ``min_ratio_few``× with fewer than ``min_primaries`` primaries, or
    ≥ ``min_ratio_many``× with at least that many.

    The ratio tested is its lower confidence limit by default, as for Level 1 (the NJR's
    wording for Level 2 does not say; ``use_lower_limit=False`` tests the point estimate).
    A Level 1 implant with enough primaries also meets Level 2; see :func:`outlier_level`.

    >>> c = compare_ptir(30, 200.0, primaries=400, benchmark_rate=0.05)
    >>> round(c.ratio_lower, 2), level2_candidate(c)
    (2.02, True)
    >>> c = compare_ptir(12, 100.0, primaries=60, benchmark_rate=0.05)
    >>> c.ratio, level2_candidate(c), level2_candidate(c, use_lower_limit=False)
    (2.4, False, True)
    """
    ratio = comparison.ratio_lower if use_lower_limit else comparison.ratio
    if comparison.primaries < min_primaries:
        return ratio >= min_ratio_few
    return ratio >= min_ratio_many


def outlier_level(comparison: PtirComparison) -> int | None:
    """The NJR outlier level with default thresholds: 1, 2, or ``None``.

    >>> outlier_level(compare_ptir(30, 200.0, primaries=400, benchmark_rate=0.05))
    1
    >>> outlier_level(compare_ptir(25, 200.0, primaries=400, benchmark_rate=0.05))
    2
    >>> outlier_level(compare_ptir(10, 200.0, primaries=400, benchmark_rate=0.05)) is None
    True
    """
    if level1_candidate(comparison):
        return 1
    if level2_candidate(comparison):
        return 2
    return None
