"""Hot-path cost of ``LogisticRiskModel.predict_values``: numeric-only vs with categories.

Prints nanoseconds per prediction for a 1-feature numeric model (the common case, which
keeps the plain loop) and a 3-feature model with two categorical paths.

    PYTHONPATH=. .venv/bin/python bench/risk_model_predict.py
"""

from __future__ import annotations

import timeit

from signals.risk_model import LogisticRiskModel


def main() -> None:
    numeric = LogisticRiskModel(-3.68, {"risk_factors.parsonnet": 0.077})
    mixed = LogisticRiskModel(-3.7, {"risk_factors.parsonnet": 0.08,
                                     "risk_factors.urgency=emergency": 1.1,
                                     "patient.sex=F": 0.12})
    cases = [
        ("numeric, 1 feature", numeric, [12]),
        ("numeric + 2 categorical", mixed, [12, "emergency", "M"]),
    ]
    for label, model, values in cases:
        number = 200_000
        seconds = min(timeit.repeat(lambda m=model, v=values: m.predict_values(v),
                                    number=number, repeat=3))
        print(f"{label}: {seconds / number * 1e9:.0f} ns per prediction")


if __name__ == "__main__":
    main()
