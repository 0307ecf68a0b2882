"""The contract between the pipeline core and a metric kind, and the values they exchange.

A metric kind (``binary_outcome``, ``device_exposure``, ``participation``) turns the events
it consumes into :class:`Observation` values (stage 1) and applies them to the typed state
of each entity it monitors (stage 2). The core calls only what :class:`MetricKind`
declares, so it holds no ``isinstance`` chain over kinds; ``streams.pipeline.registry``
lists the kinds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from signals.crossing import Crossing
from streams.contract.events import Event

Entities = tuple[tuple[str, str], ...]
"""(entity_type, entity_id) pairs, in configured order."""


class Observation(NamedTuple):
    """One thing to tell the monitors of some entities, for one metric.

    ``values`` is the metric kind's typed value (its ``value_type``): an
    ``signals.observations.Outcome`` for a binary outcome, a ``DeviceEvent`` for device
    exposure, a ``signals.observations.Submission`` for participation.
    """

    metric: str
    values: NamedTuple
    entities: Entities
    event_id: str
    episode_id: str | None
    occurred_at: datetime
    provider: str | None
    late: bool = False
    """Applied behind the worker's watermark, out of the canonical order: its signals
    say so (``Signal.late``)."""


class Awaiting(NamedTuple):
    """A procedure's observation for ``metric`` that waits for its ``outcome`` event: the
    core holds it (with the predicted ``risk``) until the outcome arrives."""

    metric: str
    outcome: str
    risk: float
    entities: Entities


class Finding(NamedTuple):
    """A monitor that crossed a limit, with what a signal needs to say about it."""

    monitor: str
    monitor_kind: str
    crossing: Crossing
    direction: str
    n: int
    observed: float | None
    expected: float | None
    details: dict[str, Any] | None = None


class MetricKind(Protocol):
    """What the pipeline core needs of a compiled metric.

    ``consumes`` names the event types (``procedure``, ``revision``, ``submission``) whose
    ``observe`` may return something; ``outcome`` events complete :class:`Awaiting` values
    in the core. Entity state is the kind's own typed value: ``dump``/``load`` turn it into
    JSON-ready data and back, and ``records`` describe its monitors for ``monitors.jsonl``.
    """

    name: str
    consumes: frozenset[str]
    value_type: Any
    """The NamedTuple class of this kind's ``Observation.values``."""

    def observe(self, event: Event) -> Sequence[Observation | Awaiting]: ...

    def new_entity(self, entity_type: str) -> Any: ...

    def apply(self, observation: Observation, entity_type: str, state: Any) -> list[Finding]: ...

    def records(self, entity_type: str, state: Any) -> Iterator[dict[str, Any]]: ...

    def dump(self, state: Any) -> list[dict[str, Any]]: ...

    def load(self, entity_type: str, data: list[dict[str, Any]]) -> Any: ...

    def signal_fields(self, finding: Finding) -> dict[str, Any]:
        """Extra fields this kind adds to a signal (e.g. the risk model's version)."""
        ...
