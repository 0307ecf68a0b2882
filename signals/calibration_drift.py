"""Calibration drift of the live risk model: river's ADWIN (or Page–Hinkley) on ``y − p``.

Fed nationally per metric with every observation's residual ``y − p``, the detector fires
when the mean residual shifts: the risk model no longer predicts the national outcome
rate. That is an operator signal (review or refit the model), not a provider one.

State and serialisation
-----------------------
river's detectors keep internal structures (ADWIN's exponential histogram of buckets) that
cannot be rebuilt exactly from a bounded window of residuals, so ``to_state`` stores the
detector itself: ``pickle`` then base64, with river's version. ``from_state`` refuses a
state written by another river version (its pickle may not load or may behave
differently) unless ``strict=False``, which starts a fresh detector and keeps the counts.
Unpickling runs code: load only states this service wrote (its own tables), never input.
A round trip gives exactly the same future behaviour (tested).
"""

from __future__ import annotations

import base64
import math
import pickle
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import river
from river import drift

from signals.crossing import Crossing, Direction, Level
from signals.monitor import FieldState
from signals.observations import Outcome

DetectorKind = Literal["adwin", "page_hinkley"]
_DETECTORS = {"adwin": drift.ADWIN, "page_hinkley": drift.PageHinkley}


@dataclass(frozen=True, slots=True)
class DriftSignal:
    """The detector fired: the mean residual ``y − p`` moved from ``mean_before`` (over
    ``n_before`` observations) to ``mean_after`` (over the last ``n_after``).

    ``n`` counts every observation fed so far. "After" is the last ``after_window``
    residuals and "before" the rest since the detector last reset. (ADWIN's own cut is no
    better a split: it drops whole buckets, 512 observations at a time late in a window.)
    """

    detector: str
    n: int
    n_before: int
    mean_before: float
    n_after: int
    mean_after: float

    @property
    def direction(self) -> Direction:
        """``worse``: more outcomes than the model predicts, now, than before."""
        return Direction.WORSE if self.mean_after > self.mean_before else Direction.BETTER

    def as_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "n": self.n,
            "n_before": self.n_before,
            "mean_before": self.mean_before,
            "n_after": self.n_after,
            "mean_after": self.mean_after,
            "direction": self.direction.value,
        }


@dataclass(slots=True)
class CalibrationDrift(FieldState):
    """A drift detector on the residuals ``y − p`` of one metric's risk model.

    Parameters
    ----------
    detector
        ``adwin`` (default) or ``page_hinkley``.
    params
        Keyword arguments of the river detector, e.g. ``{"delta": 0.002}`` for ADWIN or
        ``{"threshold": 20.0, "delta": 0.02}`` for Page–Hinkley; river's defaults otherwise.
        Page–Hinkley's ``delta`` is in units of ``y − p``: with river's default 0.005 a
        threshold much below 50 fires on noise alone.
    after_window
        How many recent residuals make the "after" mean of a signal.

    State: ``n`` (observations), ``drifts`` (signals raised), the residuals' count and sum
    since the detector last reset, and the river detector. After firing, the detector
    resets on the next update (river's semantics), and so do those sums.

    Examples
    --------
    A model that predicts 10% while the outcome rate jumps from 10% to 25%:

    >>> import random
    >>> rng = random.Random(3)
    >>> monitor = CalibrationDrift()
    >>> for i in range(4000):
    ...     rate = 0.10 if i < 2000 else 0.25
    ...     if monitor.update(Outcome(int(rng.random() < rate), 0.10)):
    ...         signal = monitor.last_drift
    ...         print(signal.n, signal.direction.value, round(signal.mean_before, 3),
    ...               round(signal.mean_after, 3))
    2208 worse 0.005 0.17
    >>> again = CalibrationDrift.from_state(monitor.to_state())
    >>> (again.n, again.drifts) == (monitor.n, monitor.drifts) == (4000, 1)
    True

    References
    ----------
    Bifet A, Gavaldà R. Learning from time-changing data with adaptive windowing. SIAM
    International Conference on Data Mining, 2007. Page ES. Continuous inspection schemes.
    Biometrika 1954;41:100–115. river: https://riverml.xyz (``river.drift``).
    """

    detector: DetectorKind = "adwin"
    params: dict[str, Any] = field(default_factory=dict)
    after_window: int = 100
    n: int = 0
    drifts: int = 0
    since_reset_n: int = 0
    since_reset_sum: float = 0.0
    recent: deque[float] = field(default_factory=deque, compare=False)
    _river: Any = field(default=None, compare=False, repr=False)
    _last: DriftSignal | None = field(default=None, init=False, compare=False, repr=False)

    observation_type: ClassVar[type] = Outcome
    two_sided: ClassVar[bool] = True
    observed: ClassVar[None] = None
    expected: ClassVar[None] = None
    statistic: ClassVar[None] = None

    def __post_init__(self) -> None:
        if self.detector not in _DETECTORS:
            raise ValueError(f"detector must be one of {', '.join(_DETECTORS)}")
        if self.after_window < 1:
            raise ValueError("after_window must be at least 1")
        if self._river is None:
            self._river = _build(self.detector, self.params)
        self.recent = deque(self.recent, maxlen=self.after_window)

    @property
    def last_drift(self) -> DriftSignal | None:
        """What the latest crossing found (not part of the state)."""
        return self._last

    @property
    def direction(self) -> Direction | None:
        """The direction of the latest drift found by this process."""
        return None if self._last is None else self._last.direction

    def update(self, observation: Outcome) -> Crossing | None:
        """Feed one observation's outcome ``y`` (0/1) and predicted risk ``p``; a drift is
        an alert whose statistic is the mean residual after it and whose threshold the
        mean before (details in ``last_drift``)."""
        y, p = observation
        if y not in (0, 1):
            raise ValueError(f"y must be 0 or 1, got {y!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability, got {p!r}")
        residual = y - p
        self._river.update(residual)
        self.n += 1
        self.since_reset_n += 1
        self.since_reset_sum += residual
        self.recent.append(residual)
        if not self._river.drift_detected:
            return None
        n_after, sum_after = len(self.recent), math.fsum(self.recent)
        n_before = self.since_reset_n - n_after
        sum_before = self.since_reset_sum - sum_after
        signal = DriftSignal(
            self.detector, self.n, n_before, sum_before / n_before if n_before else math.nan,
            n_after, sum_after / n_after if n_after else math.nan,
        )
        self.drifts += 1
        self.since_reset_n, self.since_reset_sum = 0, 0.0
        self.recent.clear()
        self._last = signal
        return Crossing(Level.ALERT, signal.mean_after, signal.mean_before, signal.direction)

    def to_state(self) -> dict[str, Any]:
        """A JSON-ready dict; the river detector is pickled (see the module docstring)."""
        return {
            **FieldState.to_state(self),
            "river_version": river.__version__,
            "river_pickle": base64.b64encode(pickle.dumps(self._river)).decode("ascii"),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], *, strict: bool = True) -> CalibrationDrift:
        """Rebuild from ``to_state``. A state from another river version raises
        ``ValueError``, or with ``strict=False`` restarts the detector (counts kept)."""
        detector = None
        if state["river_version"] == river.__version__:
            detector = pickle.loads(base64.b64decode(state["river_pickle"]))
        elif strict:
            raise ValueError(
                f"calibration drift state written by river {state['river_version']}; this is "
                f"river {river.__version__}: pass strict=False to restart the detector"
            )
        return cls(
            state["detector"], dict(state["params"]), state["after_window"], state["n"],
            state["drifts"], state["since_reset_n"] if detector else 0,
            state["since_reset_sum"] if detector else 0.0,
            deque(state["recent"] if detector else ()), detector,
        )


def _build(kind: str, params: dict[str, Any]) -> Any:
    try:
        return _DETECTORS[kind](**params)
    except TypeError as error:
        raise ValueError(f"{kind}: invalid parameters {sorted(params)}: {error}") from None
