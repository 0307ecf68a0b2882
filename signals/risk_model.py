"""Fixed, versioned risk models: a patient's predicted probability of the outcome."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

FeatureValue = float | bool | str
"""A feature's value: a number, a boolean (0/1) or a category (string)."""


@dataclass(frozen=True, slots=True)
class LogisticRiskModel:
    """``logit p = intercept + Σ coefficient·feature``.

    Coefficients are keyed by feature name (a dotted path in configs). A numeric or boolean
    feature contributes ``coefficient · value`` (booleans as 0/1). A categorical feature is
    one-hot by value: the key ``path=value`` names one level, and a string value contributes
    the coefficient of ``path=value`` if there is one, else 0 (the reference level). A path
    may have both a numeric coefficient and levels; a string on a path with no levels is an
    error, and so is a number on a path with levels only.

    Examples
    --------
    The classic Parsonnet model of Steiner et al. (2000):

    >>> model = LogisticRiskModel(-3.68, {"parsonnet": 0.077}, version="steiner-2000")
    >>> round(model.predict({"parsonnet": 0}), 3), round(model.predict({"parsonnet": 50}), 3)
    (0.025, 0.542)

    With categorical features (``elective`` and ``M`` are reference levels):

    >>> model = LogisticRiskModel(-3.7, {
    ...     "risk_factors.parsonnet": 0.08,
    ...     "risk_factors.urgency=emergency": 1.1,
    ...     "patient.sex=F": 0.12,
    ... })
    >>> model.feature_paths()
    ('risk_factors.parsonnet', 'risk_factors.urgency', 'patient.sex')
    >>> round(model.predict_values([10, "emergency", "F"]), 4)
    0.1571
    >>> round(model.predict_values([10, "elective", "M"]), 4)
    0.0522
    >>> model.predict_values(["10", "elective", "M"])
    Traceback (most recent call last):
    ...
    ValueError: risk_factors.parsonnet must be a number or boolean, not a string
    """

    intercept: float
    coefficients: Mapping[str, float] = field(default_factory=dict)
    version: str = "unversioned"
    # Per distinct path, in order of first appearance: (path, numeric coefficient or None,
    # levels or None). Built once so that predicting does no string work for numeric paths.
    _plan: tuple[tuple[str, float | None, dict[str, float] | None], ...] = field(
        init=False, repr=False, compare=False
    )
    _numeric: tuple[float, ...] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A private copy: the plan must not go stale if the caller's dict changes.
        coefficients = dict(self.coefficients)
        object.__setattr__(self, "coefficients", coefficients)
        numeric: dict[str, float | None] = {}
        levels: dict[str, dict[str, float] | None] = {}
        for key, c in coefficients.items():
            path, sep, level = key.partition("=")
            if path not in numeric:
                numeric[path], levels[path] = None, None
            if sep:
                if not level:
                    raise ValueError(f"coefficient {key!r}: a level after '=' is required")
                levels[path] = {**(levels[path] or {}), level: float(c)}
            else:
                numeric[path] = float(c)
        plan = tuple((path, numeric[path], levels[path]) for path in numeric)
        object.__setattr__(self, "_plan", plan)
        all_numeric = all(lv is None for _, _, lv in plan)
        object.__setattr__(
            self, "_numeric", tuple(c for _, c, _ in plan) if all_numeric else None
        )

    def feature_paths(self) -> tuple[str, ...]:
        """The distinct features the model needs, in order of first appearance."""
        return tuple(path for path, _, _ in self._plan)

    def linear_predictor(self, features: Mapping[str, FeatureValue]) -> float:
        """``logit p`` for features keyed by path (see ``feature_paths``)."""
        return self._linear([features[path] for path, _, _ in self._plan])

    def predict(self, features: Mapping[str, FeatureValue]) -> float:
        """The predicted probability of the outcome."""
        return logistic(self.linear_predictor(features))

    def predict_values(self, values: Sequence[FeatureValue]) -> float:
        """The same, with feature values given in ``feature_paths()`` order.

        Raises ``ValueError`` naming the feature for a string on a numeric-only feature or a
        number on a categorical-only one.
        """
        return logistic(self._linear(values))

    def predict_ordered(self, values: Sequence[FeatureValue]) -> float:
        """``predict_values``: for a model without categorical levels ``feature_paths()`` is
        the order of ``coefficients``.

        >>> LogisticRiskModel(-3.68, {"parsonnet": 0.077}).predict_ordered([50.0]) > 0.54
        True
        """
        return logistic(self._linear(values))

    def _linear(self, values: Sequence[FeatureValue]) -> float:
        x = self.intercept
        try:
            if self._numeric is not None:
                for c, v in zip(self._numeric, values, strict=True):
                    x += c * v  # type: ignore[operator]
                return x
            for (_, coefficient, levels), v in zip(self._plan, values, strict=True):
                if levels is None:
                    x += coefficient * v  # type: ignore[operator]
                elif v.__class__ is str:
                    x += levels.get(v, 0.0)
                else:
                    x += coefficient * v  # type: ignore[operator]
        except TypeError:
            # Off the hot path: say which feature was wrong, and how.
            self._diagnose(values)
            raise
        return x

    def _diagnose(self, values: Sequence[FeatureValue]) -> None:
        for (path, c, levels), v in zip(self._plan, values, strict=True):
            if isinstance(v, str) and levels is None:
                # The value itself is not echoed: it may be free text.
                raise ValueError(f"{path} must be a number or boolean, not a string")
            if not isinstance(v, str) and c is None:
                raise ValueError(
                    f"{path} must be a category (string), one of the levels "
                    f"{', '.join(sorted(levels or {}))} or another (reference); not a number"
                )
            if not isinstance(v, str | bool | int | float):
                raise ValueError(f"{path} must be a number, boolean or string")


def logistic(x: float) -> float:
    """The inverse logit, safe for large ``|x|``.

    >>> logistic(0.0), round(logistic(-800.0), 6), logistic(800.0)
    (0.5, 0.0, 1.0)
    """
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)
