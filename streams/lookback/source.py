"""Look-back packs from a file of events: the replay source the CLI and the notices use.

The file is read in the canonical order (``streams.pipeline.replay.canonical_events``) and
run through one :class:`~streams.pipeline.core.Pipeline`, as ``vigil replay`` does, so the
episodes and statistics are the ones that raised the signal.

The escalation service could build packs without a file: stage 2 of the worker publishes
every observation on its observations topic (``streams.worker.episode_stage``: metric,
``Outcome(y, p)`` values, entities, event and episode references, event time), which is
everything a trace needs. A consumer of that topic applying each entity's observations to
a fresh ``Pipeline.apply`` state would give the same trace; it is not built here, and the
file is the source that must work.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streams.contract.events import Event
from streams.contract.pseudonym import Pseudonymiser
from streams.contract.signal import Signal
from streams.lookback.files import pack_zip
from streams.lookback.pack import LookBackPack, build_pack
from streams.lookback.trace import ChartKey, find_signal, supported, trace_chart
from streams.pipeline.core import Pipeline
from streams.pipeline.replay import canonical_events


def read_events(path: Path) -> list[tuple[int, Event]]:
    """The file's valid events in the canonical order. The pseudonymiser is ephemeral: a
    pack never carries a pseudonym, so no key is needed."""
    with path.open("rb") as lines:
        return canonical_events(lines, Pseudonymiser.ephemeral())


class SignalNotFound(LookupError):
    """The events do not raise the signal asked for."""


def pack_for_signal(events: list[tuple[int, Event]], pipeline: Pipeline, *,
                    signal_id: str, signal: Signal | Mapping[str, Any] | None = None,
                    case: dict[str, Any] | None = None) -> LookBackPack:
    """The pack of signal ``signal_id``. With ``signal`` (the signal, or its record as a case
    holds it: metric, entity, monitor and ``n``) one replay suffices; without it a first
    replay finds the signal. ``SignalNotFound`` if the events do not raise it; ``ValueError``
    if its monitor cannot be followed."""
    if signal is None:
        signal = find_signal(events, pipeline, signal_id)
        if signal is None:
            raise SignalNotFound(f"no signal {signal_id} in these events")
    record = signal.to_dict() if isinstance(signal, Signal) else dict(signal)
    kind = str(record.get("monitor_kind", ""))
    if not supported(kind):
        raise ValueError(f"signal {signal_id}: a {kind or 'unknown'} monitor has no look-back")
    key = ChartKey(str(record["metric"]), str(record["entity_type"]),
                   str(record["entity_id"]), str(record["monitor"]))
    trace = trace_chart(events, pipeline, key, until_n=int(record["n"]))
    found = next((s for s in trace.signals if s.signal_id == signal_id), None)
    if found is None:
        raise SignalNotFound(f"no signal {signal_id} on chart {'/'.join(key)} in these events")
    return build_pack(trace, found, case)


class ReplayPackSource:
    """Packs for cases, built from an events file on demand and kept by signal (a
    :class:`notifiers.pack_source.PackSource`).

    ``why_not`` says why the last ``pack_for`` gave ``None``.
    """

    def __init__(self, events: Path, pipeline: Pipeline, *, keep: int = 32) -> None:
        self.events, self.pipeline, self.keep = Path(events), pipeline, keep
        self._packs: dict[tuple[str, str], bytes] = {}
        self.why_not: str | None = None
        # The escalation side and the dashboard's download (in a thread) share one source:
        # one build at a time, so a pack is built once and ``why_not`` is the caller's.
        self._lock = threading.Lock()

    def unavailable(self) -> str | None:
        """Why no pack at all can be built now (the events file is missing), else ``None``.

        >>> ReplayPackSource(Path("/nowhere/events.jsonl"), None).unavailable()
        'the events file events.jsonl is not there'
        """
        if not self.events.is_file():
            return f"the events file {self.events.name} is not there"
        return None

    def pack_for(self, case_id: str, signal: Mapping[str, Any]) -> bytes | None:
        with self._lock:
            return self._pack_for(case_id, signal)

    def _pack_for(self, case_id: str, signal: Mapping[str, Any]) -> bytes | None:
        signal_id = str(signal.get("signal_id", ""))
        cached = self._packs.get((case_id, signal_id))
        if cached is not None:
            return cached
        self.why_not = None
        if not supported(str(signal.get("monitor_kind", ""))):
            self.why_not = (f"a {signal.get('monitor_kind')} chart has no episode-level "
                            "look-back")
            return None
        missing = self.unavailable()
        if missing is not None:
            self.why_not = missing
            return None
        try:
            pack = pack_for_signal(read_events(self.events), self.pipeline,
                                   signal_id=signal_id, signal=signal,
                                   case={"case_id": case_id})
        except (SignalNotFound, ValueError) as error:
            self.why_not = str(error)
            return None
        data = pack_zip(pack)
        if len(self._packs) >= self.keep:
            self._packs.pop(next(iter(self._packs)))
        self._packs[case_id, signal_id] = data
        return data


def configured_pack_source(events: Path | None, pipeline: Pipeline) -> ReplayPackSource | None:
    """The pack source ``VIGIL_LOOKBACK_EVENTS`` (``events``) configures for ``pipeline``'s
    metrics, or ``None`` when it is unset. The file need not exist yet (a feed may still be
    starting): until it does, each notice says it is not there.

    >>> configured_pack_source(None, None) is None
    True
    """
    if events is None:
        return None
    return ReplayPackSource(events, pipeline)
