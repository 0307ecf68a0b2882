"""Metric configs the tests run, in one place: the foundation's example (the bundled sample),
and the single-metric variants the pipeline tests need, built by :func:`death_30d`.

A test that just needs "a valid config" takes :data:`SAMPLE` (the bundled file itself);
a test that edits the text takes :data:`EXAMPLE`.

>>> from streams.pipeline.config import parse_config
>>> [m.name for m in parse_config(XMR_RATE).metrics]
['death_30d']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from streams.bundled_samples import sample_paths
from tests.support.cardiac_surgery import ALARM_H, ALERT_H, B0, B1

SAMPLE = sample_paths()[1]
"""The bundled sample config, ``streams/samples/ncap.yaml``."""

EXAMPLE = """\
registry: ncap-adult-cardiac
metrics:
  - name: death_30d
    kind: binary_outcome
    outcome: death_30d
    entities: [provider, clinician]
    risk_model:
      kind: logistic
      intercept: -3.68
      coefficients:
        risk_factors.parsonnet: 0.077
    monitors:
      - {kind: ra_cusum, odds_ratio: 2.0, alert_h: 3.5, alarm_h: 4.5}
      - {kind: ra_cusum, odds_ratio: 0.5, alert_h: 3.5, alarm_h: 4.5}
"""
"""The foundation issue's example config, verbatim: the bundled sample without its comment.

>>> SAMPLE.read_text().split("\\n", 1)[1] == EXAMPLE
True
"""

PARSONNET = {"kind": "logistic", "intercept": -3.68,
             "coefficients": {"risk_factors.parsonnet": 0.077}}
"""The example's risk model: logit p = -3.68 + 0.077 * Parsonnet score."""


def death_30d(*monitors: Mapping[str, Any], entities: Sequence[str] = ("provider",),
              risk_model: Mapping[str, Any] = PARSONNET,
              registry: str = "ncap-adult-cardiac", **fields: Any) -> str:
    """YAML text of a registry with one metric, ``death_30d`` (a binary outcome), watched by
    ``monitors``; ``fields`` are further metric fields (``drift``, ``segments``, ...).

    >>> print(death_30d({"kind": "xmr", "measure": "rate"}, risk_model={"kind": "logistic",
    ...       "intercept": -2.0, "coefficients": {}}), end="")
    registry: ncap-adult-cardiac
    metrics:
    - name: death_30d
      kind: binary_outcome
      outcome: death_30d
      entities:
      - provider
      risk_model:
        kind: logistic
        intercept: -2.0
        coefficients: {}
      monitors:
      - kind: xmr
        measure: rate
    """
    metric = {"name": "death_30d", "kind": "binary_outcome", "outcome": "death_30d",
              "entities": list(entities), **fields, "risk_model": dict(risk_model),
              "monitors": [dict(m) for m in monitors]}
    return yaml.safe_dump({"registry": registry, "metrics": [metric]}, sort_keys=False)


DRIFT = death_30d({"kind": "ra_cusum", "odds_ratio": 2.0, "alarm_h": 4.5},
                  drift={"detector": "adwin"})
"""Provider RA-CUSUM plus calibration drift of the model, watched nationally (ADWIN)."""

SEGMENTS = death_30d({"kind": "ra_cusum", "odds_ratio": 2.0, "alert_h": 3.5, "alarm_h": 5.5},
                     {"kind": "ra_cusum", "odds_ratio": 0.5, "alert_h": 3.5, "alarm_h": 5.5},
                     segments=["sex", "imd_quintile", "ethnic_group", "age_band"])
"""Two-sided RA-CUSUM per provider and nationally per inequality segment."""

XMR_RATE = death_30d({"kind": "xmr", "measure": "rate", "min_months": 6},
                     risk_model={"kind": "logistic", "intercept": -2.1972, "coefficients": {}})
"""XmR rules on the monthly death rate of each provider (a constant-risk model)."""

CATEGORICAL = death_30d(
    {"kind": "ra_cusum", "odds_ratio": 2.0, "alarm_h": 4.5},
    risk_model={"kind": "logistic", "intercept": -3.7, "version": "cat-1",
                "coefficients": {"risk_factors.parsonnet": 0.08,
                                 "risk_factors.urgency=emergency": 1.1,
                                 "patient.sex=F": 0.12}})
"""A risk model with categorical ``path=level`` features beside a numeric one."""

WORSE = {"kind": "ra_cusum", "name": "worse", "odds_ratio": 2.0, "alert_h": ALERT_H,
         "alarm_h": ALARM_H}
BETTER = {"kind": "ra_cusum", "name": "better", "odds_ratio": 0.5, "alert_h": ALERT_H,
          "alarm_h": ALARM_H}
"""Steiner's two charts (odds ratio 2 and 1/2) with the chart limits of the tests."""


def cardiac_demo(*monitors: Mapping[str, Any], **fields: Any) -> str:
    """The real cardiac-surgery data's config: its Phase I fit, per provider and clinician,
    watched by ``monitors`` (:data:`WORSE` and :data:`BETTER` unless given).

    >>> from streams.pipeline.config import parse_config
    >>> [m.name for m in parse_config(cardiac_demo()).metrics[0].monitors]
    ['worse', 'better']
    """
    return death_30d(*(monitors or (WORSE, BETTER)), entities=("provider", "clinician"),
                     registry="cardiac-demo", **fields,
                     risk_model={"kind": "logistic", "intercept": B0,
                                 "coefficients": {"risk_factors.parsonnet": B1}})


CARDIAC_DEMO = cardiac_demo()
"""Steiner's two-sided chart on the real cardiac-surgery data with its Phase I fit."""
