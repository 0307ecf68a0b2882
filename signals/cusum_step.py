"""One step of a one-sided CUSUM with an alert and an alarm limit.

Every CUSUM in Vigil (risk-adjusted, unadjusted Bernoulli, Poisson) differs only in the weight
it adds; the alert/alarm/excursion rules are shared and live here, once.
"""

from __future__ import annotations

from signals.crossing import Crossing, Direction, Level


def step(
    statistic: float,
    weight: float,
    alert_h: float | None,
    alarm_h: float,
    alerted: bool,
    direction: Direction = Direction.WORSE,
) -> tuple[float, bool, Crossing | None]:
    """Add ``weight`` to a CUSUM and apply Vigil's signal rules.

    ``S = max(0, S + W)``. An excursion is a run of ``S > 0``; it ends when ``S`` returns to 0.
    An alert is raised the first time ``S ≥ alert_h`` within an excursion; an alarm whenever
    ``S ≥ alarm_h``, after which ``S`` resets to 0 (ending the excursion). One step raises at
    most one crossing, the highest level reached. The crossing carries ``S`` before any reset.

    Parameters
    ----------
    statistic
        ``S`` before this step (≥ 0).
    weight
        The score ``W`` of this step.
    alert_h
        The alert limit, or ``None`` for a chart with an alarm limit only.
    alarm_h
        The alarm limit.
    alerted
        Whether an alert was already raised in the current excursion.
    direction
        The departure the chart watches for, carried by its crossings.

    Returns
    -------
    tuple
        ``(statistic, alerted, crossing)``: the new ``S``, the new alert flag and the crossing
        raised by this step, or ``None``.

    Examples
    --------
    >>> s, alerted, crossing = step(1.5, 0.7, alert_h=2.0, alarm_h=3.0, alerted=False)
    >>> round(s, 2), alerted, crossing.level.value
    (2.2, True, 'alert')
    >>> s, alerted, crossing = step(s, 0.3, 2.0, 3.0, alerted)  # same excursion: no repeat
    >>> round(s, 2), alerted, crossing
    (2.5, True, None)
    >>> s, alerted, crossing = step(s, 0.6, 2.0, 3.0, alerted)  # alarm, then reset
    >>> s, alerted, crossing.level.value, round(crossing.statistic, 2)
    (0.0, False, 'alarm', 3.1)
    >>> step(0.4, -1.0, 2.0, 3.0, True)  # back to 0: the excursion ends
    (0.0, False, None)
    """
    s = statistic + weight
    if s <= 0.0:
        return 0.0, False, None
    if s >= alarm_h:
        return 0.0, False, Crossing(Level.ALARM, s, alarm_h, direction)
    if alert_h is not None and s >= alert_h and not alerted:
        return s, True, Crossing(Level.ALERT, s, alert_h, direction)
    return s, alerted, None


def check_limits(alarm_h: float, alert_h: float | None) -> None:
    """Refuse limits no chart can use: ``alarm_h > 0`` and ``0 < alert_h < alarm_h``.

    >>> check_limits(4.5, 5.0)
    Traceback (most recent call last):
    ...
    ValueError: alert_h must lie between 0 and alarm_h
    """
    if alarm_h <= 0:
        raise ValueError("alarm_h must be positive")
    if alert_h is not None and not 0 < alert_h < alarm_h:
        raise ValueError("alert_h must lie between 0 and alarm_h")
