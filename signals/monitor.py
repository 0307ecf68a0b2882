"""The contract every online monitor in ``signals`` implements.

A monitor is a small dataclass: parameters and state in its fields, one ``update`` that
takes one typed observation (``signals.observations``) and returns a
:class:`~signals.crossing.Crossing` or ``None``, and the common read-outs ``n``,
``observed``, ``expected``, ``statistic`` and ``direction``. Its state is written out and
read back by :class:`FieldState`, derived from the dataclass's fields (those not starting
with ``_``), so a new field is saved without anyone listing it.

>>> from dataclasses import dataclass
>>> from signals.crossing import Crossing, Direction, Level
>>> from signals.observations import Outcome
>>> @dataclass(slots=True)
... class CountEvents(FieldState):
...     limit: int
...     n: int = 0
...     observed: int = 0
...     observation_type = Outcome
...     two_sided = False
...     direction = Direction.WORSE
...     expected = None
...     @property
...     def statistic(self) -> float:
...         return float(self.observed)
...     def update(self, observation: Outcome) -> Crossing | None:
...         self.n += 1
...         self.observed += observation.y
...         if self.observed == self.limit:
...             return Crossing(Level.ALARM, self.observed, self.limit, Direction.WORSE)
...         return None
>>> chart = CountEvents(limit=2)
>>> [chart.update(Outcome(1, 0.1)) for _ in range(2)][-1].level.value
'alarm'
>>> chart.to_state()
{'limit': 2, 'n': 2, 'observed': 2}
>>> CountEvents.from_state(chart.to_state()) == chart, isinstance(chart, Monitor)
(True, True)
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections import deque
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

from signals.crossing import Crossing, Direction


@runtime_checkable
class Monitor(Protocol):
    """What the pipeline needs of a monitor; ``isinstance(x, Monitor)`` checks the names."""

    observation_type: ClassVar[type]
    """The observation family ``update`` takes (a class of ``signals.observations``)."""
    two_sided: ClassVar[bool]
    """Whether the chart watches both directions (its ``direction`` is then that of its
    latest crossing, ``None`` before the first)."""

    @property
    def n(self) -> int:
        """Observations taken so far."""
        ...

    @property
    def observed(self) -> float | None:
        """Observed total of what the chart monitors (events, deaths), if it has one."""
        ...

    @property
    def expected(self) -> float | None:
        """Expected total under the benchmark, if the chart has one."""
        ...

    @property
    def statistic(self) -> float | None:
        """The chart's current value, compared against its limits."""
        ...

    @property
    def direction(self) -> Direction | None:
        """The departure the chart watches for (two-sided: that of its latest crossing)."""
        ...

    def update(self, observation: Any, /) -> Crossing | None:
        """Take one observation; return the limit it made the chart cross, or ``None``."""
        ...

    def to_state(self) -> dict[str, Any]:
        """Parameters and state as a JSON-ready dict."""
        ...

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """The monitor ``to_state`` described."""
        ...


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, deque)):
        return [_jsonable(item) for item in value]
    return value


_FIELDS: dict[type, tuple[tuple[str, Any], ...]] = {}


def _state_fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """(name, reviver) for each state field of a dataclass: a reviver turns the JSON value
    back into the field's type where JSON loses it (enums, deques), else it is ``None``."""
    known = _FIELDS.get(cls)
    if known is not None:
        return known
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.name.startswith("_") or not f.init:
            continue
        out.append((f.name, _reviver(hints.get(f.name))))
    _FIELDS[cls] = found = tuple(out)
    return found


def _reviver(hint: Any) -> Any:
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union,
                                                                   types.UnionType) else (hint,)
    for option in options:
        if isinstance(option, type) and issubclass(option, enum.Enum):
            return lambda value, kind=option: None if value is None else kind(value)
        if typing.get_origin(option) is deque or option is deque:
            return deque
    return None


class FieldState:
    """``to_state()`` / ``from_state()`` for a dataclass monitor, derived from its fields."""

    __slots__ = ()

    def to_state(self) -> dict[str, Any]:
        """Every state field (not starting with ``_``) as JSON-ready data."""
        return {name: _jsonable(getattr(self, name)) for name, _ in _state_fields(type(self))}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild from ``to_state()``; a field absent from ``state`` takes its default."""
        fields = _state_fields(cls)
        unknown = set(state) - {name for name, _ in fields}
        if unknown:
            raise ValueError(f"{cls.__name__} state has unknown fields: {sorted(unknown)}")
        values = {}
        for name, revive in fields:
            if name in state:
                value = state[name]
                values[name] = value if revive is None else revive(value)
        return cls(**values)
