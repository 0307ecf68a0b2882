"""The methods section of an outlier report: risk model, monitors, limits and what the limits
guarantee, stated only as far as the calibration shows (pure).

A limit calibrated for a false-alarm probability over a horizon says the target and the
probability the limit achieves; where the achieved probability is above the target (a
lattice chart cannot always reach it) the report says the target is not met. A fixed
``alarm_h`` carries no guarantee, and the report says so rather than inventing one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from signals.ra_cusum import RaCusumConfig
from streams.pipeline.core import Pipeline
from streams.pipeline.metric_kinds.binary_outcome import BinaryOutcome


def calibration_sentence(calibration: Mapping[str, Any] | None) -> str:
    """What one chart's limit guarantees, from its calibration record.

    >>> print(calibration_sentence({"false_alarm_probability": 0.05, "achieved": 0.049,
    ...     "horizon_days": 365, "patients": 120, "h": 3.1}))  # doctest: +NORMALIZE_WHITESPACE
    h = 3.1 for an in-control false-alarm probability of 5% within 365 days
    (120 patients); achieved 4.9%: target met.
    >>> print(calibration_sentence({"false_alarm_probability": 0.05, "achieved": 0.061,
    ...     "horizon_days": 365, "patients": 20, "h": 1.2}))  # doctest: +NORMALIZE_WHITESPACE
    h = 1.2 for an in-control false-alarm probability of 5% within 365 days
    (20 patients); achieved 6.1%: target NOT met (the chart cannot reach it at this volume).
    >>> print(calibration_sentence({"target_arl0": 500, "h": 2.52, "patients": 1000}))
    ... # doctest: +NORMALIZE_WHITESPACE
    h = 2.52 for an in-control average run length of 500 patients on the baseline mix
    (1000 patients; Markov chain).
    >>> calibration_sentence(None)
    'fixed limit as configured: no false-alarm rate is claimed for it.'
    """
    if not calibration:
        return "fixed limit as configured: no false-alarm rate is claimed for it."
    h = calibration.get("h")
    if "target_arl0" in calibration:
        return (f"h = {h:.3g} for an in-control average run length of "
                f"{calibration['target_arl0']:g} patients on the baseline mix "
                f"({calibration.get('patients')} patients; Markov chain).")
    target, achieved = calibration["false_alarm_probability"], calibration.get("achieved")
    share = f"{target:.0%}" if target >= 0.01 else f"{target:.3g}"
    head = (f"h = {h:.3g} for an in-control false-alarm probability of {share} within "
            f"{calibration['horizon_days']:g} days ({calibration.get('patients')} patients)")
    if achieved is None:
        return head + "; achieved probability not recorded."
    verdict = ("target met." if achieved <= target * (1 + 1e-9) else
               "target NOT met (the chart cannot reach it at this volume).")
    return head + f"; achieved {achieved:.1%}: {verdict}"


def methods_lines(pipeline: Pipeline, records: Iterable[Mapping[str, Any]] = (),
                  entity: tuple[str, str] | None = None) -> list[str]:
    """The methods text, one paragraph per line: per metric its risk model (version and
    formula), the monitors and their limits, and per chart the calibration (for ``entity``
    only, when given; ``records`` are ``Pipeline.monitor_records``)."""
    lines: list[str] = []
    by_chart: dict[tuple[str, str, str, str], Mapping[str, Any]] = {}
    for record in records:
        key = (record["metric"], record["entity_type"], record["entity_id"], record["monitor"])
        by_chart[key] = record
    for metric, kind in pipeline.kinds.items():
        if not isinstance(kind, BinaryOutcome):
            lines.append(f"{metric}: a {type(kind).__name__} metric (no risk model).")
            continue
        model = kind.config.risk_model
        terms = " + ".join(f"{c:g}·{f}" for f, c in model.coefficients.items()) or "0"
        lines.append(f"{metric}: outcome '{kind.outcome}'; risk model {model.version} "
                     f"(logistic: logit p = {model.intercept:g} + {terms}), fixed and "
                     "versioned, not refitted while monitoring.")
        if kind.config.baseline is not None and kind.config.baseline.until is not None:
            lines.append(f"{metric}: cases before {kind.config.baseline.until} are the "
                         "baseline (read for calibration, not monitored).")
        for config in kind.config.monitors:
            limits = {k: getattr(config, k) for k in ("alert_h", "alarm_h", "alert_below",
                                                       "alarm_below", "odds_ratio")
                      if getattr(config, k, None) is not None}
            text = ", ".join(f"{k} {v:g}" for k, v in limits.items())
            lines.append(f"{metric} / {config.name}: {config.kind} ({text or 'no limits'}).")
            if isinstance(config, RaCusumConfig) and not config.per_entity:
                lines.append(f"  limit: {calibration_sentence(config.calibration)}")
            elif isinstance(config, RaCusumConfig):
                lines.append(f"  per-entity limits, recalibrated every "
                             f"{config.horizon_days:g} days of event time.")
                for (m, etype, eid, name), record in sorted(by_chart.items()):
                    if m != metric or name != config.name:
                        continue
                    if entity is not None and (etype, eid) != entity:
                        continue
                    lines.append(f"  {etype} {eid}: "
                                 f"{calibration_sentence(record.get('calibration'))}")
            elif config.kind == "vlad":
                lines.append("  VLAD limits are in events (expected − observed); no "
                             "false-alarm rate is claimed for them.")
    lines.append("Funnel plots: O/E against E with exact Poisson 95% (alert) and 99.8% "
                 "(alarm) limits (signals.funnel), no overdispersion adjustment unless stated.")
    lines.append("Dates are event time (when the procedure took place, or when a late "
                 "outcome was recorded), not processing time.")
    return lines
