"""Maximum-likelihood logistic regression by Newton–Raphson (what R's ``glm`` computes).

``signals.risk_model_fit`` fits a model to review and freeze with an online learner; a
bootstrap of the fit needs the exact maximum-likelihood answer hundreds of times, fast. On a
numeric design matrix (intercept column included) Newton's method (iteratively reweighted
least squares) converges in a handful of steps, each one ``Xᵀ W X`` solve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from signals.risk_model import FeatureValue
from signals.risk_model_fit import _column_value, _columns


def design_matrix(
    rows: Sequence[Mapping[str, FeatureValue]],
) -> tuple[np.ndarray, list[str]]:
    """An intercept column and one column per feature column, as ``fit_logistic`` codes them
    (numeric paths as they are, categorical paths one-hot against their commonest level).

    >>> x, names = design_matrix([{"s": 1.0, "g": "a"}, {"s": 2.0, "g": "b"}, {"s": 0.5, "g": "a"}])
    >>> names, x.tolist()
    (['s', 'g=b'], [[1.0, 1.0, 0.0], [1.0, 2.0, 1.0], [1.0, 0.5, 0.0]])
    """
    data = [(dict(features), 0) for features in rows]
    columns, _ = _columns(data)
    body = [[1.0] + [_column_value(features, c) for c in columns] for features, _ in data]
    return np.asarray(body, dtype=float), columns


def fit_logistic_mle(
    x: ArrayLike, y: ArrayLike, max_iterations: int = 50, tolerance: float = 1e-10
) -> np.ndarray:
    """The maximum-likelihood coefficients ``β`` of ``logit P(y = 1) = X·β``.

    Raises ``ValueError`` if Newton's method does not converge (e.g. separable data). On the
    cardiac-surgery Phase I data it gives vlad's glm fit, −3.790488 + 0.0798444·Parsonnet
    (``tests/signals/test_bootstrap_limit.py``).

    Examples
    --------
    Outcomes drawn from ``logit p = −2 + 0.5·x``:

    >>> rng = np.random.default_rng(1)
    >>> x = np.column_stack([np.ones(4000), rng.normal(size=4000)])
    >>> y = rng.random(4000) < special.expit(-2 + 0.5 * x[:, 1])
    >>> fit_logistic_mle(x, y).round(2).tolist()
    [-2.03, 0.49]
    """
    design = np.asarray(x, dtype=float)
    outcome = np.asarray(y, dtype=float)
    mean = outcome.mean()
    if not 0 < mean < 1:
        raise ValueError("the outcomes are all alike: nothing to fit")
    beta = np.zeros(design.shape[1])
    beta[0] = np.log(mean / (1 - mean))
    for _ in range(max_iterations):
        p = special.expit(design @ beta)
        gradient = design.T @ (outcome - p)
        information = (design * (p * (1 - p))[:, None]).T @ design
        move = np.linalg.solve(information, gradient)
        beta = beta + move
        if np.max(np.abs(move)) < tolerance * (1 + np.max(np.abs(beta))):
            return beta
    raise ValueError("the logistic fit did not converge (are the outcomes separable?)")
