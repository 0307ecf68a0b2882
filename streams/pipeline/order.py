"""The canonical order: the one order in which Vigil applies events and observations, so
that its answer is a function of the data, not of how the events were produced, keyed,
partitioned or consumed.

*Events* are taken in the order of :class:`EventKey`: ``occurred_at`` (to the
microsecond, UTC), then ``event_id``, then a digest of the event's line (which only
decides between two copies of one ``event_id`` at one instant: the first by this order is
the one kept). *Observations* are applied to each entity in the order of the event that
completes them (the outcome completing a procedure, or the procedure completing an
outcome that came first), then their index among that event's observations
(:class:`ObservationKey`). An ``event_id`` is unique within its route (its episode), so
the order of two events of one instant and one id in different episodes is their digests'.

``vigil replay`` sorts its input into this order (a file already in it is read as it is).
The worker cannot sort an unbounded stream, so each of its stages holds what it reads in a
:class:`ReorderBuffer` and releases it in this order once a watermark passes it; what
arrives behind the watermark is *late*, is applied on arrival, and is flagged.

>>> from datetime import datetime, timezone
>>> at = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)
>>> event_key(at, "e2", b'{"x": 1}') < event_key(at, "e10", b'{"x": 1}')
False
>>> event_key(at, "e1", b"{}").time_us == to_us(at)
True
"""

from __future__ import annotations

import hashlib
import heapq
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
FOREVER = 2**62
"""A watermark past every event time: what a flush releases up to."""


def to_us(at: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch (exact, unlike
    ``timestamp()``).

    >>> to_us(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC))
    1000000
    """
    return (at - EPOCH) // _MICROSECOND


class EventKey(NamedTuple):
    """An event's place in the canonical order."""

    time_us: int
    event_id: str
    tie: str
    """A digest of the event's line (whitespace stripped at both ends)."""


class ObservationKey(NamedTuple):
    """An observation's place in its entity's order: its completing event's key, then its
    index among that event's observations."""

    time_us: int
    event_id: str
    tie: str
    position: int
    """Its index among the observations (one per entity) of its completing event."""


def line_digest(line: bytes) -> str:
    """The tie-break between two copies of an ``event_id`` at one instant.

    >>> line_digest(b' {"a": 1}\\n') == line_digest(b'{"a": 1}')
    True
    """
    return hashlib.blake2b(line.strip(), digest_size=8).hexdigest()


def event_key(occurred_at: datetime, event_id: str, line: bytes) -> EventKey:
    """The canonical key of an event read from ``line``."""
    return EventKey(to_us(occurred_at), event_id, line_digest(line))


def route_of(event: Any) -> str:
    """What an event is de-duplicated and joined within: its episode (a procedure, its
    outcomes and its revisions), or, for an event of no episode (a submission), its own id.
    The worker partitions by it, so an episode's events meet whatever their keys were.

    >>> class Submission: event_id = "s1"
    >>> route_of(Submission())
    'event:s1'
    """
    episode = getattr(event, "episode_id", None)
    return f"episode:{episode}" if episode is not None else f"event:{event.event_id}"


# -- the worker's side: watermarks and held items ---------------------------------------


@dataclass(slots=True)
class Marks:
    """What a stage partition knows of the progress of each of its upstream partitions:
    the latest event time read there (``time_us``), whether it is idle, and the version of
    that news (newer news about idleness wins; time only moves forward).

    >>> marks = Marks(expected=2)
    >>> marks.update("0", 100, False, (1,)); marks.watermark(10) is None
    True
    >>> marks.update("1", 50, False, (1,)); marks.watermark(10)
    40
    >>> marks.update("1", 50, True, (2,)); marks.watermark(10), marks.all_idle()
    (90, False)
    >>> marks.update("0", 100, True, (2,)); marks.all_idle()
    True
    >>> marks.update("0", "soon", False, (3,))
    Traceback (most recent call last):
    TypeError: a mark is [partition, time µs or null, idle, [int, ...]]
    """

    expected: int
    """How many upstream partitions there are: until each has reported, nothing is
    released (except by a flush)."""
    time_us: dict[str, int] = field(default_factory=dict)
    idle: dict[str, bool] = field(default_factory=dict)
    version: dict[str, list[int]] = field(default_factory=dict)

    def update(self, upstream: str, time_us: int | None, idle: bool,
               version: Iterable[int]) -> None:
        """Take one mark; ``TypeError`` (and nothing changed) if it is not one, so that a
        malformed mark is quarantined rather than kept to poison every later watermark."""
        stamp = list(version) if isinstance(version, list | tuple) else None
        if (not isinstance(upstream, str) or not isinstance(idle, bool) or stamp is None
                or not all(type(v) is int for v in stamp)
                or not (time_us is None or type(time_us) is int)):
            raise TypeError("a mark is [partition, time µs or null, idle, [int, ...]]")
        if time_us is not None and time_us > self.time_us.get(upstream, -FOREVER):
            self.time_us[upstream] = time_us
        elif upstream not in self.time_us:
            self.time_us[upstream] = -FOREVER
        if stamp >= self.version.get(upstream, []):
            self.version[upstream] = stamp
            self.idle[upstream] = idle

    def watermark(self, lateness_us: int) -> int | None:
        """The minimum over active upstream partitions of their latest event time, less
        ``lateness_us``; None until every upstream partition has reported, or when all
        are idle (then :meth:`all_idle` says to flush)."""
        if len(self.time_us) < self.expected:
            return None
        active = [t for u, t in self.time_us.items() if not self.idle.get(u)]
        if not active:
            return None
        return min(active) - lateness_us

    def all_idle(self) -> bool:
        return len(self.idle) >= self.expected and all(self.idle.values())

    def to_state(self) -> dict[str, Any]:
        return {u: [self.time_us[u], self.idle.get(u, False), self.version.get(u, [])]
                for u in self.time_us}

    @classmethod
    def from_state(cls, expected: int, state: dict[str, Any] | None) -> Marks:
        marks = cls(expected)
        for upstream, (time_us, idle, version) in (state or {}).items():
            marks.time_us[upstream] = time_us
            marks.idle[upstream] = idle
            marks.version[upstream] = list(version)
        return marks


class ReorderBuffer:
    """Items held until a watermark passes them, released in key order; and the offsets
    they were read at, so that the worker commits no offset past one still held.

    >>> buffer = ReorderBuffer()
    >>> for key, offset in ((30, 0), (10, 1), (20, 2)):
    ...     buffer.hold((key, "e"), offset, f"item{key}")
    >>> buffer.hold((10, "e"), 3, "copy")  # dropped: that key is held
    >>> buffer.release(25), buffer.lowest_offset()
    (['item10', 'item20'], 0)
    >>> buffer.flush(), buffer.lowest_offset()
    (['item30'], None)
    """

    __slots__ = ("_arrived", "_counter", "_heap", "_keys", "_released")

    def __init__(self) -> None:
        self._heap: list[tuple[Any, int, int, Any]] = []
        self._arrived: deque[tuple[int, int]] = deque()
        """(arrival number, offset) of each item held or released but not yet passed."""
        self._released: set[int] = set()
        self._keys: set[Any] = set()
        self._counter = 0

    def __len__(self) -> int:
        return len(self._heap)

    def hold(self, key: tuple[Any, ...], offset: int, item: Any) -> None:
        """Hold ``item`` (read at ``offset``; offsets arrive in increasing order, and a
        record holding several items gives each the same offset). An item whose key is
        already held is a copy read again (after a rebalance re-seeks): it is dropped."""
        if key in self._keys:
            return
        self._keys.add(key)
        self._counter += 1
        heapq.heappush(self._heap, (key, self._counter, offset, item))
        self._arrived.append((self._counter, offset))

    def release(self, before_us: int) -> list[Any]:
        """The items whose key's time is before ``before_us``, in key order."""
        return list(self._pop(lambda key: key[0] < before_us))

    def flush(self) -> list[Any]:
        """Everything held, in key order."""
        return list(self._pop(lambda key: True))

    def _pop(self, due: Any) -> Iterator[Any]:
        heap = self._heap
        while heap and due(heap[0][0]):
            key, number, _, item = heapq.heappop(heap)
            self._keys.discard(key)
            self._released.add(number)
            yield item

    def lowest_offset(self) -> int | None:
        """The offset of the earliest-read item still held (the worker's commit stops
        there), or None."""
        arrived, released = self._arrived, self._released
        while arrived and arrived[0][0] in released:
            released.discard(arrived.popleft()[0])
        return arrived[0][1] if arrived else None
