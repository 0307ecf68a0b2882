"""Fixed, versioned risk models: a patient's predicted probability of the outcome."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class LogisticRiskModel:
    """``logit p = intercept + Σ coefficient·feature``.

    Features are named; the caller supplies their numeric values (booleans as 0/1).

    Examples
    --------
    The classic Parsonnet model of Steiner et al. (2000):

    >>> model = LogisticRiskModel(-3.68, {"parsonnet": 0.077}, version="steiner-2000")
    >>> round(model.predict({"parsonnet": 0}), 3), round(model.predict({"parsonnet": 50}), 3)
    (0.025, 0.542)
    """

    intercept: float
    coefficients: Mapping[str, float] = field(default_factory=dict)
    version: str = "unversioned"

    def linear_predictor(self, features: Mapping[str, float]) -> float:
        return self.intercept + sum(c * features[name] for name, c in self.coefficients.items())

    def predict(self, features: Mapping[str, float]) -> float:
        """The predicted probability of the outcome."""
        return logistic(self.linear_predictor(features))

    def predict_ordered(self, values: Sequence[float]) -> float:
        """The same, with feature values given in the order of ``coefficients``.

        >>> LogisticRiskModel(-3.68, {"parsonnet": 0.077}).predict_ordered([50.0]) > 0.54
        True
        """
        x = self.intercept
        for c, v in zip(self.coefficients.values(), values, strict=True):
            x += c * v
        return logistic(x)


def logistic(x: float) -> float:
    """The inverse logit, safe for large ``|x|``.

    >>> logistic(0.0), round(logistic(-800.0), 6), logistic(800.0)
    (0.5, 0.0, 1.0)
    """
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)
