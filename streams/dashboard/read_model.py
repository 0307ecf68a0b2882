"""The dashboard's shared read model: every entity, whatever worker owns its partitions.

Every worker writes its entities' state to one topic, the ``monitors`` table's changelog
(``<app_id>-monitors-changelog``: one record per entity per batch, ``{"v": {"m": monitors,
"k": last observation key}, "prev": …, "b": batch end}``, then the partition's mark
``w:<p>``), and its signals to the signals topic. :class:`ReadModel` reads both topics
whole: an aiokafka consumer with **no consumer group**, assigned every partition, from the
beginning, so each process holding one (any worker's web server, or the escalation service)
folds the same records into its own :class:`~streams.dashboard.chart_history.ChartHistory`
and knows every entity's latest monitors (for the funnel plots).

A changelog record counts once its partition's mark covers its batch (``b ≤ o``): a record
whose batch a crash cut short is held and, as the worker reads it, replaced when the batch
is done again (see :mod:`streams.worker.records`). :func:`entity_snapshot` is the one
function that turns a stored entity into chart input.

Progress (:meth:`ReadModel.progress`): per topic the records read and the log end, from
the high watermark of fetch responses (the embedded broker's ListOffsets answer stops
inside the last batch, a fetch's watermark does not; on Apache Kafka they agree), so a
caller can tell when the model has caught up without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from streams.contract.signal import Signal, read_signal
from streams.dashboard.chart_history import ChartHistory, EntityKey, registry_time
from streams.worker.records import MARK, loads

log = structlog.get_logger("vigil.dashboard")


def changelog_topic(app_id: str, table: str = "monitors") -> str:
    """faust's name for a table's changelog topic.

    >>> changelog_topic("vigil")
    'vigil-monitors-changelog'
    """
    return f"{app_id}-{table}-changelog"


def entity_snapshot(pipeline: Any, key: str, stored: Mapping[str, Any]
                    ) -> tuple[EntityKey, list[dict[str, Any]], str | None]:
    """An entity's table value (``{"m": dumped monitors, "k": last observation key}``) as
    (entity key, its monitor records in configured order, the event time of its last
    observation in the registry's time zone).

    >>> from pathlib import Path
    >>> from streams.pipeline.config import load_config
    >>> from streams.pipeline.core import Pipeline
    >>> pipeline = Pipeline(load_config(Path("streams/samples/ncap.yaml")))
    >>> entity = ("death_30d", "provider", "R1A")
    >>> fresh = pipeline.dump_entity(entity, pipeline.kinds["death_30d"].new_entity("provider"))
    >>> key, records, at = entity_snapshot(
    ...     pipeline, "death_30d|provider|R1A",
    ...     {"m": fresh, "k": [1767261600000000, "e1", "t", 0]})
    >>> key, records[0]["n"], at
    (('death_30d', 'provider', 'R1A'), 0, '2026-01-01T10:00:00')
    """
    metric, entity_type, entity_id = key.split("|", 2)
    entity_key = (metric, entity_type, entity_id)
    entity = pipeline.load_entity(entity_key, stored["m"])
    records = list(pipeline.kinds[metric].records(entity_type, entity))
    last = stored.get("k")
    at = None
    if last:
        at = registry_time(datetime.fromtimestamp(int(last[0]) / 1_000_000, UTC))
    return entity_key, records, at


class ReadModel:
    """The changelog and signals folded into a chart history, for one process.

    Parameters
    ----------
    pipeline
        The metric configuration's pipeline (to load stored monitors).
    history
        Where chart points and signal markers go.
    changelog, signals
        The two topics' names.
    """

    def __init__(self, pipeline: Any, history: ChartHistory, changelog: str,
                 signals: str) -> None:
        self.pipeline = pipeline
        self.history = history
        self.changelog = changelog
        self.signals = signals
        self.latest: dict[EntityKey, list[dict[str, Any]]] = {}
        """Each entity's monitor records as its last durable batch left them."""
        self._marks: dict[int, int] = {}
        self._held: dict[int, dict[str, dict[str, Any]]] = {}
        self._read: dict[tuple[str, int], int] = {}
        self._ends: dict[tuple[str, int], int] = {}
        self.started_at = time.monotonic()
        self.caught_up_after: float | None = None
        """Seconds from start until the model first reached every partition's end."""
        self.error: str | None = None
        self.skipped = 0
        self._assigned: set[tuple[str, int]] = set()

    # -- folding (pure: no I/O) ----------------------------------------------------------
    def fold_changelog(self, partition: int, key: bytes | None, value: bytes | None) -> None:
        """One changelog record."""
        if key is None or value is None:
            return
        name = loads(key)
        record = loads(value)
        if not isinstance(name, str) or not isinstance(record, dict):
            return
        if name.startswith(MARK):
            mark = int(record["o"])
            self._marks[partition] = max(mark, self._marks.get(partition, -1))
            held = self._held.pop(partition, {})
            for entity, item in held.items():
                if int(item["b"]) <= mark:
                    self._apply(entity, item)
                else:
                    self._held.setdefault(partition, {})[entity] = item
            return
        if int(record.get("b", -1)) <= self._marks.get(partition, -1):
            self._apply(name, record)  # a batch read again below the mark: durable
        else:
            self._held.setdefault(partition, {})[name] = record

    def _apply(self, name: str, record: Mapping[str, Any]) -> None:
        stored = record.get("v")
        if not isinstance(stored, Mapping) or "m" not in stored:
            return
        try:
            entity, records, at = entity_snapshot(self.pipeline, name, stored)
        except Exception:  # another config's metric, or a value this version cannot load
            self.skipped += 1
            return
        self.latest[entity] = records
        self.history.record(*entity, records, at=at)

    def fold_signal(self, value: bytes | None) -> None:
        """One signals-topic record (a malformed one is skipped: the escalation side logs
        it)."""
        signal = read_signal(value or b"")
        if isinstance(signal, Signal):
            self.history.record_signal(signal)
        else:
            self.skipped += 1

    def records(self, metric: str, entity_type: str) -> list[dict[str, Any]]:
        """Each entity's first monitor record of ``metric`` and ``entity_type`` (with
        ``metric``, ``entity_type``, ``entity_id``), as the funnel plots read them."""
        out = []
        for (m, t, entity_id), records in sorted(self.latest.items()):
            if m == metric and t == entity_type and records:
                out.append({"metric": m, "entity_type": t, "entity_id": entity_id,
                            **records[0]})
        return out

    # -- progress ------------------------------------------------------------------------
    def progress(self) -> dict[str, Any]:
        """How far the model has read: per topic the records' next offsets summed, the log
        ends summed and the lag; ``caught_up`` once every known partition is at its end.

        >>> model = ReadModel(None, ChartHistory(), "c", "s")
        >>> model.progress()["caught_up"], model.progress()["topics"]["c"]["lag"]
        (False, None)
        """
        topics: dict[str, Any] = {}
        for topic in (self.changelog, self.signals):
            parts = [tp for tp in self._ends if tp[0] == topic]
            if not parts:
                topics[topic] = {"partitions": 0, "read": 0, "end": None, "lag": None}
                continue
            read = sum(self._read.get(tp, 0) for tp in parts)
            end = sum(self._ends[tp] for tp in parts)
            topics[topic] = {"partitions": len(parts), "read": read, "end": end,
                             "lag": max(0, end - read)}
        caught_up = (all(t["lag"] == 0 for t in topics.values())
                     and self._assigned <= set(self._ends))
        return {"topics": topics, "caught_up": caught_up, "entities": len(self.latest),
                "caught_up_after_s": self.caught_up_after, "skipped": self.skipped,
                "error": self.error}

    # -- the consumer ----------------------------------------------------------------------
    async def run(self, bootstrap_servers: str, options: Mapping[str, Any] | None = None,
                  poll_ms: int = 500) -> None:
        """Read both topics from the beginning until cancelled; reconnect after a fault."""
        while True:
            try:
                await self._consume(bootstrap_servers, dict(options or {}), poll_ms)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.error = type(error).__name__
                log.warning("read_model_failed", error=repr(error))
                await asyncio.sleep(2.0)

    async def _consume(self, bootstrap_servers: str, options: dict[str, Any],
                       poll_ms: int) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None,
                                    enable_auto_commit=False, client_id="vigil-read-model",
                                    auto_offset_reset="earliest", **options)
        await consumer.start()
        try:
            assigned: set[Any] = set()
            looked = 0.0
            while True:
                # Topics appear as workers create them; partitions may be added later.
                if len({tp.topic for tp in assigned}) < 2 or time.monotonic() - looked > 10:
                    wanted, looked = await self._partitions(consumer, TopicPartition), \
                        time.monotonic()
                else:
                    wanted = assigned
                if wanted - assigned:
                    assigned |= wanted
                    self._assigned = {(tp.topic, tp.partition) for tp in assigned}
                    consumer.assign(sorted(assigned))
                    for tp in wanted:
                        position = self._read.get((tp.topic, tp.partition))
                        if position is None:
                            consumer.seek(tp, 0)
                        else:
                            consumer.seek(tp, position)
                batch = await consumer.getmany(timeout_ms=poll_ms, max_records=2000)
                for tp, records in batch.items():
                    for record in records:
                        if tp.topic == self.changelog:
                            self.fold_changelog(tp.partition, record.key, record.value)
                        else:
                            self.fold_signal(record.value)
                        self._read[(tp.topic, tp.partition)] = record.offset + 1
                for tp in assigned:
                    highwater = consumer.highwater(tp)
                    if highwater is not None:
                        self._ends[(tp.topic, tp.partition)] = highwater
                        self._read.setdefault((tp.topic, tp.partition), 0)
                self.error = None
                if self.caught_up_after is None and self.progress()["caught_up"]:
                    self.caught_up_after = round(time.monotonic() - self.started_at, 3)
                    log.info("read_model_caught_up", seconds=self.caught_up_after,
                             entities=len(self.latest))
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _partitions(self, consumer: Any, topic_partition: Any) -> set[Any]:
        out = set()
        with contextlib.suppress(Exception):
            await consumer._client.force_metadata_update()
        for topic in (self.changelog, self.signals):
            for partition in consumer.partitions_for_topic(topic) or ():
                out.add(topic_partition(topic, partition))
        return out
