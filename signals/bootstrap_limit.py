"""A control limit that allows for the risk model having been estimated (Gandy & Kvaløy 2013).

The plug-in limit treats the fitted risk model as the truth, so its in-control ARL is met
only on average over the baseline samples one might have drawn, and often not. Gandy &
Kvaløy's bootstrap (cran/spcadjust ``SPCproperty``, property ``calARL``) makes the target
hold with a chosen probability ``guarantee`` instead:

1. fit the model ``ξ̂`` on the baseline ``P̂`` and calibrate the plug-in limit
   ``q̂ = log h(ξ̂, P̂)``;
2. for each of ``nrep`` bootstrap samples ``P*`` of the baseline rows (drawn with
   replacement), refit ``ξ*`` and record ``log h(ξ*, P*) − log h(ξ*, P̂)``: how far the
   limit calibrated on an estimate strays from the one the same estimate needs under the
   baseline's own distribution;
3. the adjusted limit is ``exp(q̂ + quantile(−differences, guarantee))``.

``h(ξ, P)`` is the limit for the target ARL of the chart whose scores use model ``ξ`` and
whose in-control distribution is that of the rows ``P``: with their observed outcomes (the
empirical distribution of the scores, as spcadjust's ``SPCModellogregLikRatio``; the
default) or with outcomes drawn from ``ξ``'s own risks (the chart ``vigil calibrate``
tunes on a patient mix). The model is refitted by maximum likelihood, as R's ``glm``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from signals.calibration import limit_for_arl0
from signals.cusum_increments import CusumIncrements, Increments, bernoulli_increments
from signals.logistic_mle import design_matrix, fit_logistic_mle
from signals.risk_model import FeatureValue

ChartOutcomes = Literal["observed", "modelled"]


class BootstrapLimit(NamedTuple):
    """An adjusted limit ``h`` beside the plug-in one it corrects.

    ``h`` meets ``target_arl0`` with probability about ``guarantee`` over baseline samples;
    ``standard_error`` is the Monte-Carlo error of ``h`` from using ``nrep`` bootstrap
    samples (from the order statistics around the quantile).
    """

    h: float
    plug_in_h: float
    target_arl0: float
    guarantee: float
    nrep: int
    standard_error: float


def bootstrap_limit_for_arl0(
    rows: Sequence[Mapping[str, FeatureValue]],
    outcomes: ArrayLike,
    odds_ratio: float,
    target_arl0: float,
    guarantee: float = 0.9,
    nrep: int = 200,
    seed: int | np.random.Generator | None = None,
    grid: int = 1000,
    chart_outcomes: ChartOutcomes = "observed",
) -> BootstrapLimit:
    """The risk-adjusted CUSUM limit for ``target_arl0`` allowing for the fitted model.

    Parameters
    ----------
    rows, outcomes
        The baseline: each patient's features (by dotted path, coded as ``fit_logistic``
        codes them) and outcome (0/1). The logistic model is fitted on them.
    odds_ratio
        The odds ratio ``R`` the chart detects.
    target_arl0, guarantee
        The in-control ARL to meet, and the probability of meeting it.
    nrep, seed
        Bootstrap samples, and the seed of their draws.
    grid
        Markov states of every calibration.
    chart_outcomes
        ``"observed"``: the in-control distribution of the scores is the baseline's own
        (spcadjust); ``"modelled"``: outcomes follow the model's risks.

    Examples
    --------
    A small simulated baseline (the adjustment is large because 400 patients estimate the
    model poorly):

    >>> rng = np.random.default_rng(3)
    >>> score = rng.integers(0, 60, 400)
    >>> died = (rng.random(400) < special.expit(-3.5 + 0.07 * score)).astype(int)
    >>> limit = bootstrap_limit_for_arl0([{"parsonnet": float(s)} for s in score], died,
    ...                                  2.0, 200, nrep=40, seed=1, grid=300)
    >>> round(limit.plug_in_h, 2), round(limit.h, 2), limit.h > limit.plug_in_h
    (2.13, 2.6, True)

    References
    ----------
    Gandy A, Kvaløy JT. Guaranteed conditional performance of control charts via bootstrap
    methods. Scandinavian Journal of Statistics 2013;40(4):647–668.
    """
    if not 0 < guarantee < 1:
        raise ValueError("guarantee must lie strictly between 0 and 1")
    if nrep < 2:
        raise ValueError("nrep must be at least 2")
    x, _ = design_matrix(rows)
    y = np.asarray(outcomes, dtype=int).ravel()
    if y.shape[0] != x.shape[0] or not np.isin(y, (0, 1)).all():
        raise ValueError("need one 0/1 outcome per baseline row")
    rng = np.random.default_rng(seed)

    def log_limit(beta: np.ndarray, sample: np.ndarray) -> float:
        increments = _chart(odds_ratio, special.expit(x[sample] @ beta), y[sample],
                            chart_outcomes)
        return math.log(limit_for_arl0(increments, target_arl0, grid))

    everyone = np.arange(y.size)
    plug_in = log_limit(fit_logistic_mle(x, y), everyone)
    differences = np.empty(nrep)
    for b in range(nrep):
        sample = rng.integers(0, y.size, y.size)
        beta = fit_logistic_mle(x[sample], y[sample])
        differences[b] = log_limit(beta, sample) - log_limit(beta, everyone)
    # R's quantile(type = 7) is numpy's default "linear".
    adjustment = float(np.quantile(-differences, guarantee))
    h = math.exp(plug_in + adjustment)
    return BootstrapLimit(h, math.exp(plug_in), target_arl0, guarantee, nrep,
                          h * _quantile_standard_error(-differences, guarantee))


def _chart(
    odds_ratio: float, risks: np.ndarray, outcomes: np.ndarray, chart_outcomes: ChartOutcomes
) -> Increments:
    if chart_outcomes == "modelled":
        return bernoulli_increments(odds_ratio, risks)
    if chart_outcomes != "observed":
        raise ValueError(f"unknown chart_outcomes {chart_outcomes!r}: 'observed' or 'modelled'")
    scores = outcomes * math.log(odds_ratio) - np.log1p((odds_ratio - 1.0) * risks)
    return CusumIncrements.of(scores, np.ones_like(scores))


def _quantile_standard_error(values: np.ndarray, level: float) -> float:
    """Monte-Carlo error of a sample quantile: half the spread of the order statistics
    ±1 binomial standard deviation around its rank."""
    ordered = np.sort(values)
    n = ordered.size
    spread = math.sqrt(n * level * (1 - level))
    low = ordered[max(0, math.floor(n * level - spread))]
    high = ordered[min(n - 1, math.ceil(n * level + spread))]
    return float(high - low) / 2
