"""Stage 2 of the worker: each episode's events in the canonical order — de-duplication,
the procedure/outcome join — and their observations out to the entities' partitions.

Input: the episodes topic, partitioned by route (``streams.pipeline.order.route_of``), so an
episode's events are all here whoever produced them. Each input partition holds what it
reads in a ``ReorderBuffer`` and releases it, in the canonical order, as its watermark
passes: the minimum over the events partitions' marks (``streams.worker.ingest_stage``) of
their latest event time, less ``allowed_lateness``; idle partitions do not hold it back, and
when all are idle everything held is released (a flush, which does not move the watermark).
An item arriving behind the watermark, or behind what its route has already taken, is late:
it is taken on arrival and its observations say so. Released items go through
``Pipeline.observe`` (the core ``vigil replay`` runs), outcomes that waited too long for their
procedure through ``Pipeline.expire``.

Held items are not written to the table: the worker commits no offset past the earliest
item still held, so after a crash or a rebalance they are read again. The table holds, per
route, ``r:<route>`` = ``{"seen": {event_id: source}, "pending": episode, "orphans": [...],
"last": key}``, and per partition the mark (``streams.worker.records``) with the upstream
marks, the released watermark ``W``, the orphans' expiry heap ``x`` and the count ``s`` of
observations sent. A record read again at or below the mark's offset was taken before if
its key is at or below its route's ``last`` (what is held always lies above it), and held
otherwise; a copy from a redelivery upstream (same source) is dropped.

Output: the observations topic, partitioned by entity. Every observation carries its
partition's sequence number, a deterministic function of the input (so a batch computed
again after a crash sends the same numbers, which stage 3 uses to drop copies), its
canonical key, and whether it was late; after them, the partition's watermark.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.contract.events import InvalidEvent, parse_event
from streams.contract.pseudonym import Pseudonymiser
from streams.contract.rejections import RAW_LIMIT
from streams.pipeline.core import Orphan, PendingEpisode, Pipeline, PipelineState
from streams.pipeline.metric_kinds.base import Observation
from streams.pipeline.order import EventKey, Marks, ReorderBuffer
from streams.worker import quarantine
from streams.worker.quarantine import OnInternalError
from streams.worker.records import (
    PartitionView,
    Record,
    Table,
    chunks,
    dumps,
    entity_key,
    loads,
    partition_of,
    partition_views,
)

EPISODE = "episode:"


@dataclass(slots=True)
class EpisodeBatch:
    """What stage 2 made of a batch."""

    bundles: list[tuple[int, bytes]] = field(default_factory=list)
    """(observations partition, value) messages: ``{"i": observations, "m": marks}``."""
    dead_letters: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    writes: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Input partition → table key → record, to write to that changelog partition."""
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    """Copies of records already taken (a redelivery)."""
    late: int = 0
    held: int = 0
    """Items held at the end of the batch, over its partitions."""
    flushed: int = 0
    """Items released by a flush (every events partition idle)."""
    quarantined: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)
    critical: list[dict[str, Any]] = field(default_factory=list)


class _Partition:
    """One input partition's state during a batch."""

    __slots__ = ("expiry", "marks", "out", "released", "routes", "seq", "view")

    def __init__(self, view: PartitionView, upstream: int) -> None:
        self.view = view
        mark = view.mark
        self.marks = Marks.from_state(upstream, mark.get("marks"))
        self.released: int | None = mark.get("W")
        """The watermark released so far (µs of event time), None before the first."""
        self.seq: int = mark.get("s", 0)
        self.expiry: list[tuple[int, str, str]] = [tuple(e) for e in mark.get("x", [])]
        self.routes: dict[str, dict[str, Any]] = {}
        self.out: dict[int, list[dict[str, Any]]] = {}

    def route(self, route: str) -> dict[str, Any]:
        """The route's record, as a copy the batch may change: the stored value is the
        table's (and, until written, the changelog's ``prev``), never edited in place."""
        if route not in self.routes:
            stored = self.view.read(f"r:{route}")
            self.routes[route] = {"seen": {}, "pending": None, "orphans": [], "last": None
                                  } if stored is None else {
                "seen": dict(stored["seen"]), "pending": stored["pending"],
                "orphans": list(stored["orphans"]), "last": stored["last"]}
        return self.routes[route]

    def save(self) -> None:
        for route, record in self.routes.items():
            self.view.write(f"r:{route}", record)
        self.view.mark.update(marks=self.marks.to_state(), W=self.released, s=self.seq,
                              x=[list(e) for e in sorted(self.expiry)])


def _key(item: dict[str, Any]) -> EventKey:
    """An item's canonical key, its shape checked: a malformed item (the topic is Kafka's,
    anyone may write to it) raises here, on arrival, and is quarantined alone, before it is
    held or changes any state."""
    time_us, event_id, tie = item["k"]
    source = item["src"]
    if (type(time_us) is not int or not isinstance(event_id, str) or not isinstance(tie, str)
            or not isinstance(item["r"], str) or not isinstance(item["ev"], str)
            or not isinstance(source, list) or len(source) != 2):
        raise TypeError("an episodes item is {k: [µs, event_id, digest], r, src, ev, ts}")
    return EventKey(time_us, event_id, tie)


class EpisodeStage:
    """Stage 2: the canonical order per route, the de-duplication and the join."""

    def __init__(self, pipeline: Pipeline, pseudonymiser: Pseudonymiser, partitions: int,
                 allowed_lateness_us: int, on_internal_error: OnInternalError = "quarantine",
                 clock: Callable[[], float] = time.time) -> None:
        self.pipeline = pipeline
        self.pseudonymiser = pseudonymiser
        self.partitions = partitions
        """Partitions of every topic (events, episodes, observations)."""
        self.lateness_us = allowed_lateness_us
        self.on_internal_error = on_internal_error
        self.clock = clock
        self.buffers: dict[int, ReorderBuffer] = {}
        self._sent: dict[int, list[Any]] = {}
        """Input partition → the last mark sent downstream (sent again after a restart)."""

    def forget(self, partition: int) -> None:
        """The partition was revoked: what it held is read again by its next owner."""
        self.buffers.pop(partition, None)
        self._sent.pop(partition, None)

    def lowest_held(self, partition: int) -> int | None:
        """The offset of the earliest record still held (commits stop there)."""
        buffer = self.buffers.get(partition)
        return None if buffer is None else buffer.lowest_offset()

    def run(self, batch: Sequence[Record], table: Table) -> EpisodeBatch:
        result = EpisodeBatch()
        parts = {p: _Partition(view, self.partitions)
                 for p, view in partition_views(batch, table).items()}
        for record in batch:
            part = parts[record.partition]
            buffer = self.buffers.setdefault(record.partition, ReorderBuffer())
            try:
                message = loads(record.value)
                if not isinstance(message, dict) or not isinstance(message.get("i", []), list):
                    raise TypeError("an episodes message is {pre: marks, i: [...], m: marks}")
                again = record.offset <= part.view.watermark
                for mark in () if again else message.get("pre", ()):
                    part.marks.update(*mark)
                for item in message.get("i", ()):
                    try:
                        self._arrive(item, record, part, buffer, again, result)
                    except Exception as error:  # this item only: the others go on
                        if self.on_internal_error == "stop":
                            raise
                        self._quarantine(record, error, result, item)
                for mark in () if again else message.get("m", ()):
                    part.marks.update(*mark)
                if not again:
                    self._release(part, buffer, result)
            except Exception as error:
                if self.on_internal_error == "stop":
                    raise
                self._quarantine(record, error, result)
        now_ms = int(self.clock() * 1000)
        for p, part in parts.items():
            part.save()
            result.writes[p] = part.view.writes()
            result.held += len(self.buffers[p])
            mark = [str(p), part.released, part.marks.all_idle(), [part.seq, now_ms]]
            send = mark[:3] != (self._sent.get(p) or [None])[:3]
            if send:
                self._sent[p] = mark
            for target in range(self.partitions):
                runs = chunks(part.out.get(target, []))
                for i, run in enumerate(runs):
                    value: dict[str, Any] = {"i": run}
                    if send and i == len(runs) - 1:
                        value["m"] = mark
                    if run or "m" in value:
                        result.bundles.append((target, dumps(value)))
        return result

    # -- arrival and release -------------------------------------------------------------
    def _arrive(self, item: dict[str, Any], record: Record, part: _Partition,
                buffer: ReorderBuffer, again: bool, result: EpisodeBatch) -> None:
        key = _key(item)
        route = part.route(item["r"])
        last = route["last"]
        if route["seen"].get(key.event_id) == item["src"]:
            result.skipped += 1  # a copy of a record already taken
            return
        if again:  # read before a restart: taken then if at or below its route's last
            if last is not None and key <= EventKey(*last):
                result.skipped += 1
            else:
                buffer.hold(key, record.offset, item)
            return
        behind = part.released is not None and key.time_us < part.released
        if behind or (last is not None and key < EventKey(*last)):
            result.late += 1
            self._take(item, part, result, late=True)
        else:
            buffer.hold(key, record.offset, item)

    def _release(self, part: _Partition, buffer: ReorderBuffer, result: EpisodeBatch
                 ) -> None:
        watermark = part.marks.watermark(self.lateness_us)
        if watermark is not None and (part.released is None or watermark > part.released):
            part.released = watermark
            for item in buffer.release(watermark):
                self._take(item, part, result, late=False)
            self._expire(part, watermark, result)
        if part.marks.all_idle() and len(buffer):
            for item in buffer.flush():
                result.flushed += 1
                self._take(item, part, result, late=False)

    def _expire(self, part: _Partition, now_us: int, result: EpisodeBatch) -> None:
        """Outcomes whose procedure did not come within the join window, rejected by the
        core exactly as replay rejects them."""
        while part.expiry and part.expiry[0][0] < now_us:
            entry = heapq.heappop(part.expiry)
            route = part.route(EPISODE + entry[1])
            state = _state(route, entry[1])
            state.orphan_expiry = [entry]
            self.pipeline.expire(now_us, state)
            _store(route, state, entry[1])
            self._rejected_orphans(state, result)

    # -- one event through the core ------------------------------------------------------
    def _take(self, item: dict[str, Any], part: _Partition, result: EpisodeBatch,
              late: bool) -> None:
        key = _key(item)
        self._expire(part, key.time_us, result)
        route = part.route(item["r"])
        if route["seen"].get(key.event_id) == item["src"]:
            result.skipped += 1
            return
        if route["last"] is None or key > EventKey(*route["last"]):
            route["last"] = list(key)
        episode_id = item["r"][len(EPISODE):] if item["r"].startswith(EPISODE) else None
        state = _state(route, episode_id)
        try:
            event = parse_event(item["ev"], self.pseudonymiser)
            observations = self.pipeline.observe(event, state, item["src"])
        except InvalidEvent as error:
            _reject(result, key.event_id, error, item["src"], item["ev"])
            result.log.append({"event": "event_rejected", "event_id": key.event_id,
                               "reason_code": error.code, "source": item["src"]})
            self._rejected_orphans(state, result)
            return
        except Exception as error:
            if self.on_internal_error == "stop":
                raise
            # The event as stage 1 forwarded it: through the contract, pseudonymised.
            letter = quarantine.quarantine_letter("episodes", error, event_id=key.event_id,
                                                  source=item["src"],
                                                  raw=str(item.get("ev", ""))[:RAW_LIMIT])
            result.quarantined += 1
            result.dead_letters.append((None, quarantine.safe_dumps(letter)))
            result.critical.append(quarantine.log_entry(letter, error))
            return
        result.accepted += 1
        route["seen"][key.event_id] = item["src"]
        if episode_id is not None:
            _store(route, state, episode_id)
        for entry in state.orphan_expiry:
            heapq.heappush(part.expiry, entry)
        self._rejected_orphans(state, result)
        self._send(observations, key, item, part, late)

    def _send(self, observations: list[Observation], key: EventKey, item: dict[str, Any],
              part: _Partition, late: bool) -> None:
        index = 0
        for observation in observations:
            for entity_type, entity_id in observation.entities:
                target = partition_of(entity_key(observation.metric, entity_type, entity_id),
                                      self.partitions)
                part.out.setdefault(target, []).append({
                    "q": part.view.partition, "s": part.seq,
                    "k": [key.time_us, key.event_id, key.tie, index], "late": late,
                    "ts": item["ts"],
                    "metric": observation.metric, "values": list(observation.values),
                    "entity": [entity_type, entity_id], "event_id": observation.event_id,
                    "episode_id": observation.episode_id,
                    "occurred_at": observation.occurred_at.isoformat(),
                    "provider": observation.provider,
                })
                part.seq += 1
                index += 1

    def _rejected_orphans(self, state: PipelineState, result: EpisodeBatch) -> None:
        for orphan, error in state.rejected:
            result.accepted -= 1
            _reject(result, orphan.event_id, error, orphan.ref, "")
        state.rejected.clear()

    def _quarantine(self, record: Record, error: Exception, result: EpisodeBatch,
                    item: Any = None) -> None:
        """A record (or one ``item`` of it) on which the stage raised."""
        source = item.get("src") if isinstance(item, dict) else None
        letter = quarantine.quarantine_letter(
            "episodes", error, event_id=None,
            source=source if isinstance(source, list) else [record.partition, record.offset],
            raw="")
        result.quarantined += 1
        result.dead_letters.append((record.key, quarantine.safe_dumps(letter)))
        result.critical.append(quarantine.log_entry(letter, error))


def _reject(result: EpisodeBatch, event_id: str, error: InvalidEvent, source: Any,
            raw: str) -> None:
    """A semantic rejection's dead letter (``raw``: the event as stage 1 forwarded it)."""
    result.rejected[error.code] += 1
    result.dead_letters.append((None, dumps({
        "event_id": event_id, "reason_code": error.code, "reason": error.reason,
        "source": source, "raw": raw[:RAW_LIMIT]})))


def _state(route: dict[str, Any], episode_id: str | None) -> PipelineState:
    """The core's state for one route: what it has seen, its pending procedure, its
    waiting outcomes."""
    state = PipelineState()
    prefix = f"{EPISODE}{episode_id}" if episode_id is not None else None
    for event_id in route["seen"]:
        state.seen_event_ids.add(f"{prefix}\x1f{event_id}" if prefix
                                 else f"event:{event_id}\x1f{event_id}")
    if episode_id is not None:
        if route["pending"] is not None:
            state.pending[episode_id] = PendingEpisode.from_state(route["pending"])
        if route["orphans"]:
            state.orphans[episode_id] = [Orphan.from_state(o) for o in route["orphans"]]
    return state


def _store(route: dict[str, Any], state: PipelineState, episode_id: str) -> None:
    pending = state.pending.get(episode_id)
    route["pending"] = None if pending is None else pending.to_state()
    route["orphans"] = [o.to_state() for o in state.orphans.get(episode_id, ())]
