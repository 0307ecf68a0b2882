"""Implant-years at risk for one device, accrued in event time.

Feeds :class:`signals.poisson_cusum.PoissonCusum`: each increment is the revisions and the
implant-years accrued since the previous increment.

When the chart is updated
-------------------------
Update the device's chart at **every event that touches the device**: an implant gives
``(0, E)``, a revision ``(1, E)``, with ``E`` the implant-years accrued since the previous
update; optionally also at period boundaries (``on_tick``). This is sound because
``PoissonCusum.update`` applies the exposure before the events, so with one revision per
update the chart is exactly the continuous-time Poisson CUSUM and does not depend on how the
exposure is split: the schedule only decides *when the chart is looked at*.

- The *worse* chart (r > 1) only rises at revisions, so looking at each revision is exact:
  no delay, and no update is needed in between.
- The *better* chart (r < 1) rises with exposure between revisions, so it is seen at the next
  implant, revision or tick. A device with few events should be ticked (e.g. monthly, driven
  by the stream's event-time watermark) so that an improvement is not reported late.

Implants update the at-risk count, so they must be fed anyway; handing the chart their
exposure costs nothing and adds check points. Exposure per unit is not tracked: the state
is a count, so it stays small for a device with a hundred thousand implants.

Event time, not wall time: the caller passes POSIX seconds taken from the events; this class
never reads a clock. A late event (earlier than the latest time seen) is applied at the
latest time, so exposure never runs backwards and no revision is lost; ``late_events``
counts them.
"""

from __future__ import annotations

from dataclasses import dataclass

from signals.monitor import FieldState
from signals.observations import Exposure

SECONDS_PER_YEAR = 365.25 * 24 * 3600



@dataclass(slots=True)
class ImplantExposure(FieldState):
    """Units at risk and implant-years accrued for one device (GTIN).

    Mutators: :meth:`implant`, :meth:`revise` and :meth:`advance` move the device's event time
    forward and accrue ``at_risk × years elapsed``; :meth:`take` hands over what has accrued
    since the last call as an :class:`~signals.observations.Exposure` (what a ``PoissonCusum``
    takes). The ``on_*`` methods do both; use
    them to follow the update schedule in the module notes.

    State: ``at_risk`` (implanted, not yet revised), ``last_time`` (event time accrued up to,
    POSIX seconds, ``None`` before the first event), ``pending_events`` and
    ``pending_exposure`` (not yet taken), and totals ``implanted``, ``revised``,
    ``implant_years``, ``unmatched_revisions`` (revisions of units not counted at risk) and
    ``late_events``.

    Examples
    --------
    Two units implanted a year apart; one revised a year later; a tick a year after that:

    >>> year = SECONDS_PER_YEAR
    >>> device = ImplantExposure()
    >>> device.on_implant(0.0)
    Exposure(events=0, exposure=0.0)
    >>> device.on_implant(1 * year)
    Exposure(events=0, exposure=1.0)
    >>> device.on_revision(2 * year)
    Exposure(events=1, exposure=2.0)
    >>> device.on_tick(3 * year)
    Exposure(events=0, exposure=1.0)
    >>> device.at_risk, device.implanted, device.revised, device.implant_years
    (1, 2, 1, 4.0)

    The increments feed a Poisson CUSUM directly:

    >>> from signals.poisson_cusum import PoissonCusum
    >>> chart = PoissonCusum(benchmark_rate=0.01, rate_ratio=2.0, alarm_h=3.0)
    >>> chart.update(device.on_revision(3.5 * year)) is None
    True
    >>> chart.events, chart.exposure
    (1, 0.5)
    >>> ImplantExposure.from_state(device.to_state()) == device
    True
    """

    at_risk: int = 0
    last_time: float | None = None
    pending_events: int = 0
    pending_exposure: float = 0.0
    implanted: int = 0
    revised: int = 0
    implant_years: float = 0.0
    unmatched_revisions: int = 0
    late_events: int = 0

    def __post_init__(self) -> None:
        for name in ("at_risk", "pending_events", "implanted", "revised"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.pending_exposure < 0 or self.implant_years < 0:
            raise ValueError("exposure must not be negative")

    def advance(self, to_time: float) -> float:
        """Accrue exposure up to event time ``to_time``; return the implant-years added."""
        if self.last_time is None:
            self.last_time = to_time
            return 0.0
        if to_time <= self.last_time:
            return 0.0
        years = self.at_risk * (to_time - self.last_time) / SECONDS_PER_YEAR
        self.last_time = to_time
        self.pending_exposure += years
        self.implant_years += years
        return years

    def implant(self, at: float, units: int = 1) -> None:
        """``units`` of the device implanted at event time ``at``; at risk from then on."""
        if units < 1:
            raise ValueError("units must be at least 1")
        self._arrive(at)
        self.at_risk += units
        self.implanted += units

    def revise(self, at: float, was_at_risk: bool = True) -> None:
        """One unit revised at event time ``at``: a revision event, and one fewer at risk.

        Pass ``was_at_risk=False`` for a unit whose primary this device never counted (e.g.
        implanted before monitoring began): the revision counts, the at-risk count stays.
        """
        self._arrive(at)
        self.revised += 1
        self.pending_events += 1
        if was_at_risk and self.at_risk > 0:
            self.at_risk -= 1
        else:
            self.unmatched_revisions += 1

    def take(self) -> Exposure:
        """Hand over the revisions and implant-years accrued since the last ``take``."""
        increment = Exposure(self.pending_events, self.pending_exposure)
        self.pending_events = 0
        self.pending_exposure = 0.0
        return increment

    def on_implant(self, at: float, units: int = 1) -> Exposure:
        """Record an implant and return the increment for the chart, ``(0, E)``."""
        self.implant(at, units)
        return self.take()

    def on_revision(self, at: float, was_at_risk: bool = True) -> Exposure:
        """Record a revision and return the increment for the chart, ``(1, E)``."""
        self.revise(at, was_at_risk)
        return self.take()

    def on_tick(self, at: float) -> Exposure:
        """Accrue up to a period boundary and return the increment, ``(0, E)``."""
        self._arrive(at)
        return self.take()

    def _arrive(self, at: float) -> None:
        if self.last_time is not None and at < self.last_time:
            self.late_events += 1
        self.advance(at)
