"""Gandy & Kvaløy's bootstrap-adjusted limit on the cardiac-surgery Phase I data.

statistics.md ("Cross-checks"): spcadjust 1.1's adjusted threshold for the observed-outcome
chart, R = 2, ARL0 = 370, 90% guarantee, nrep = 200 is 2.1752 against a plug-in 1.9044 at
its default 75-point grid (1.8905 at 2000 points); Vigil's plug-in is 1.8888.
"""

import numpy as np
import pytest

from signals.bootstrap_limit import bootstrap_limit_for_arl0
from signals.logistic_mle import design_matrix, fit_logistic_mle
from tests.support.shared_data import cardiac_surgery_rows

SPCADJUST_ADJUSTED = 2.1752


@pytest.fixture(scope="module")
def phase_one():
    rows = [r for r in cardiac_surgery_rows() if r["date"] < 730]
    features = [{"parsonnet": float(r["Parsonnet"])} for r in rows]
    died = [int(r["status"] == 1 and r["time"] <= 30) for r in rows]
    return features, died


def test_the_refit_is_glms_fit(phase_one):
    features, died = phase_one
    x, names = design_matrix(features)
    assert names == ["parsonnet"]
    beta = fit_logistic_mle(x, np.array(died))
    assert beta == pytest.approx([-3.790488, 0.0798444], abs=1e-6)  # cran/vlad's glm values


@pytest.fixture(scope="module")
def adjusted(phase_one):
    features, died = phase_one
    # 500 states: the adjusted limit moves by < 1e-4 from 500 to 2,000 states (see below).
    return bootstrap_limit_for_arl0(features, died, 2.0, 370, 0.9, nrep=200, seed=1, grid=500)


def test_bootstrap_limit_reproduces_spcadjust(adjusted):
    assert adjusted.plug_in_h == pytest.approx(1.8888, abs=2e-4)
    assert adjusted.h > adjusted.plug_in_h
    # Monte-Carlo error of one nrep = 200 bootstrap: about ±0.05 (0.055 here).
    assert 0.02 < adjusted.standard_error < 0.1
    assert abs(adjusted.h - SPCADJUST_ADJUSTED) < 2 * adjusted.standard_error


def test_the_grid_has_converged(phase_one, adjusted):
    features, died = phase_one
    finer = bootstrap_limit_for_arl0(features, died, 2.0, 370, 0.9, nrep=200, seed=1, grid=1000)
    assert finer.h == pytest.approx(adjusted.h, abs=5e-4)
    assert finer.plug_in_h == pytest.approx(adjusted.plug_in_h, abs=2e-4)


def test_a_stronger_guarantee_needs_a_wider_limit(phase_one, adjusted):
    features, died = phase_one
    stronger = bootstrap_limit_for_arl0(features, died, 2.0, 370, 0.95, nrep=200, seed=1,
                                        grid=500)
    assert stronger.h > adjusted.h


def test_invalid_arguments_are_rejected():
    rows = [{"x": float(i)} for i in range(10)]
    with pytest.raises(ValueError, match="guarantee"):
        bootstrap_limit_for_arl0(rows, [0, 1] * 5, 2.0, 100, guarantee=1.0)
    with pytest.raises(ValueError, match="one 0/1 outcome"):
        bootstrap_limit_for_arl0(rows, [0, 1, 2] * 3 + [0], 2.0, 100)
