"""What a calibration returns: the limit, the value it achieves and the target it was for."""

from __future__ import annotations

from typing import Literal, NamedTuple

CalibrationMethod = Literal["lattice", "markov", "exact", "bootstrap"]


class Calibration(NamedTuple):
    """A control limit with the in-control value it really achieves.

    ``achieved`` is the ARL (or the false-signal probability) at ``h``, computed the same
    way as ``h`` was found; ``target`` is what was asked for. ``exact`` says whether the two
    agree (to 1e-6 relative): on a lattice chart the ARL is a step function of ``h`` and
    most targets fall inside a step, so the nearest limit on the safe side (ARL at least the
    target, probability at most the target) is returned and ``exact`` is False.
    ``method`` names how ``achieved`` was computed: ``"lattice"`` (the exact chain on the
    chart's lattice), ``"markov"`` (the discretised chain), ``"exact"`` (enumeration of all
    paths) or ``"bootstrap"`` (a limit allowing for an estimated risk model). On a lattice
    chart ``lattice_step`` is the step ``d``: every limit within ``d/2`` of ``h`` behaves alike.

    >>> c = Calibration(h=2.5, achieved=617.9, target=500.0, exact=False, method="lattice")
    >>> c.safe_side
    'arl'
    """

    h: float
    achieved: float
    target: float
    exact: bool
    method: CalibrationMethod
    lattice_step: float | None = None

    @property
    def safe_side(self) -> Literal["arl", "probability"]:
        """Whether ``target`` is an ARL (> 1) or a probability (< 1)."""
        return "arl" if self.target > 1 else "probability"


def attains(achieved: float, target: float) -> bool:
    """Whether ``achieved`` meets ``target`` to the precision a calibration is quoted to.

    >>> attains(500.0000001, 500.0), attains(431.8, 500.0)
    (True, False)
    """
    return abs(achieved - target) <= 1e-6 * abs(target)
