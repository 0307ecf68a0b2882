"""Where a signal's entity sits on the funnel plot: its observed/expected ratio against the
95% and 99.8% limits at its expected count (exact Poisson, target 1), in words for the
analysts who screen an alarm before any letter goes out."""

from __future__ import annotations

import math

from signals.funnel import funnel_limits


def funnel_position(observed: object, expected: object) -> str:
    """One sentence placing observed against expected on the funnel.

    A CUSUM can alarm on a run of recent deaths while the entity's totals stay inside the
    funnel: exactly what screening is there to see.

    >>> print(funnel_position(9, 4.2))
    O/E 2.14 (9 observed, 4.2 expected): within the 95% limits (0.28 to 2.51).
    >>> print(funnel_position(12, 4.2))
    O/E 2.86 (12 observed, 4.2 expected): above the 95% limit (2.51), within the 99.8% limit (3.60).
    >>> print(funnel_position(2, 12.5))
    O/E 0.16 (2 observed, 12.5 expected): below the 99.8% limit (0.35).
    >>> funnel_position(None, 3.0)
    'not available (the signal has no observed and expected counts)'
    """
    if not (isinstance(observed, int | float) and isinstance(expected, int | float)
            and math.isfinite(observed) and math.isfinite(expected) and expected > 0):
        return "not available (the signal has no observed and expected counts)"
    limits = funnel_limits([expected], levels=(0.95, 0.998))
    ratio = observed / expected
    lo95, hi95 = (float(x[0]) for x in limits.band(0.95))
    lo998, hi998 = (float(x[0]) for x in limits.band(0.998))
    head = f"O/E {ratio:.2f} ({observed:g} observed, {expected:g} expected): "
    if ratio > hi998:
        return head + f"above the 99.8% limit ({hi998:.2f})."
    if ratio < lo998:
        return head + f"below the 99.8% limit ({lo998:.2f})."
    if ratio > hi95:
        return head + f"above the 95% limit ({hi95:.2f}), within the 99.8% limit ({hi998:.2f})."
    if ratio < lo95:
        return head + f"below the 95% limit ({lo95:.2f}), within the 99.8% limit ({lo998:.2f})."
    return head + f"within the 95% limits ({lo95:.2f} to {hi95:.2f})."
