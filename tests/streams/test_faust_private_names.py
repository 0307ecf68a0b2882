"""Every private name of faust and aiokafka (and of aiohttp, reached through faust's web
driver) that Vigil calls, reads, writes or overrides in ``streams/`` exists in the installed
versions, with the parameters Vigil relies on; and those versions are within pyproject's
ranges. An upgrade that renames, removes or re-signs one fails here naming it, not in a
worker that drops or re-commits records.

``PRIVATE_NAMES`` is the one table: ``(owner, name, expected)``. ``expected`` is the tuple of
parameter names of a method or function (``inspect.signature``, ``self`` included), or a
type for an attribute: a module's, or one that a real instance holds once built. The
instances are faust's own (an app on faust's ``kafka://`` driver, built but not started:
nothing connects), so Vigil's overrides cannot hide a change underneath them;
``tests/streams/test_transport.py`` checks the overrides themselves.
``test_the_table_lists_every_private_name_streams_uses`` reads ``streams/`` (ast) so a new
private use cannot go unlisted.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import tomllib
from collections.abc import Iterator, MutableMapping, MutableSequence, MutableSet
from contextvars import ContextVar
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp.web_runner
import aiokafka
import faust
import faust.streams
import faust.transport.consumer
import pytest
from faust.stores import rocksdb
from faust.transport.drivers import aiokafka as driver
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]

# Owners: classes by their import path, instances by what they are built from (_owners).
CONSUMER = "faust.transport.consumer.Consumer"
CONSUMER_INSTANCE = "faust Consumer instance (app.consumer)"
DRIVER_CONSUMER = "faust.transport.drivers.aiokafka.Consumer"
CONSUMER_THREAD = "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread"
DRIVER_PRODUCER = "faust.transport.drivers.aiokafka.Producer"
STREAM = "faust.streams.Stream"
STREAM_INSTANCE = "faust Stream instance (app.stream)"
STREAMS_MODULE = "faust.streams"
ROCKSDB_STORE = "faust.stores.rocksdb.Store"
ROCKSDB_STORE_INSTANCE = "faust RocksDB Store instance"
WEB_INSTANCE = "faust aiohttp Web instance (app.web)"
APP_RUNNER_INSTANCE = "aiohttp AppRunner instance (app.web._runner)"
AIOKAFKA_CONSUMER_INSTANCE = "aiokafka.AIOKafkaConsumer instance"
AIOKAFKA_CLIENT_INSTANCE = "aiokafka.AIOKafkaClient instance (AIOKafkaConsumer._client)"

PRIVATE_NAMES: list[tuple[str, str, Any]] = [
    # streams.worker.transport.VigilConsumer overrides these...
    (CONSUMER, "ack", ("self", "message")),
    (CONSUMER, "_new_offset", ("self", "tp")),
    (DRIVER_CONSUMER, "_new_consumer_thread", ("self",)),
    # ...and bundles each fetch of a vigil_bundled_topics partition: faust's getmany takes
    # each partition's records from _getmany and makes each one a message with _to_message.
    (DRIVER_CONSUMER, "_getmany", ("self", "active_partitions", "timeout")),
    (DRIVER_CONSUMER, "_to_message", ("self", "tp", "record")),
    # ...replaces the read offsets faust's Consumer.__init__ assigns with a property...
    (CONSUMER_INSTANCE, "_read_offset", MutableMapping),
    # ...and keeps faust's ack bookkeeping as faust's ack does.
    (CONSUMER_INSTANCE, "_acked", MutableMapping),
    (CONSUMER_INSTANCE, "_unacked_messages", MutableSet),
    (CONSUMER_INSTANCE, "_n_acked", int),
    (CONSUMER_INSTANCE, "_waiting_for_ack", object),  # None until a commit waits on acks
    # streams.worker.transport.VigilConsumerThread overrides and calls these.
    (CONSUMER_THREAD, "_create_worker_consumer", ("self", "transport")),
    (CONSUMER_THREAD, "_highwaters", ("self", "partitions")),
    (CONSUMER_THREAD, "_ensure_consumer", ("self",)),
    # streams.worker.app.Worker._track_output_topics: the aiokafka producer's client.
    (DRIVER_PRODUCER, "_ensure_producer", ("self",)),
    (AIOKAFKA_CONSUMER_INSTANCE, "_fetch_max_wait_ms", int),  # read at start()
    # streams.worker.offset_tracking._probe copies the worker consumer's connection.
    (AIOKAFKA_CONSUMER_INSTANCE, "_client", aiokafka.AIOKafkaClient),
    (AIOKAFKA_CLIENT_INSTANCE, "_bootstrap_servers", object),
    (AIOKAFKA_CLIENT_INSTANCE, "_security_protocol", str),
    (AIOKAFKA_CLIENT_INSTANCE, "_ssl_context", object),
    (AIOKAFKA_CLIENT_INSTANCE, "_sasl_mechanism", object),
    (AIOKAFKA_CLIENT_INSTANCE, "_sasl_plain_username", object),
    (AIOKAFKA_CLIENT_INSTANCE, "_sasl_plain_password", object),
    # streams.worker.app: Worker._reseek, take_batches, _forget_current_event, write_partition.
    (CONSUMER_INSTANCE, "_thread", driver.AIOKafkaConsumerThread),
    (STREAM, "_enable_passive", ("self", "channel", "declare")),
    (STREAM_INSTANCE, "_processors", MutableSequence),
    (STREAMS_MODULE, "_current_event", ContextVar),
    (ROCKSDB_STORE, "_db_for_partition", ("self", "partition")),
    (ROCKSDB_STORE, "_encode_key", ("self", "key")),
    (ROCKSDB_STORE, "_encode_value", ("self", "value")),
    (ROCKSDB_STORE_INSTANCE, "_key_index", MutableMapping),
    # streams.dashboard.limit_header_time.
    (WEB_INSTANCE, "_runner", aiohttp.web_runner.AppRunner),
    (APP_RUNNER_INSTANCE, "_kwargs", MutableMapping),
]

NOT_FAUST = {
    "_SubParsersAction": "argparse",
    "_actions": "argparse",
    "_exit": "os",
    "_replace": "namedtuple",
    "_calibration": "streams.pipeline.config's own",
    "_conn": "notifiers' escalation log's own",
    "_faust_read_offset": "streams.worker.transport's own (where faust's read offsets go)",
}
"""Private names ``streams/`` uses that are not faust's, aiokafka's or aiohttp's."""

DISTRIBUTIONS = {"faust": "faust-streaming", "aiokafka": "aiokafka", "aiohttp": "aiohttp"}
"""The distribution each owner's top-level package comes from."""


async def _aiokafka_consumer() -> aiokafka.AIOKafkaConsumer:
    consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")
    await consumer.stop()  # never started: this only closes it
    return consumer


@pytest.fixture(scope="module")
def owners(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = faust.App("private-names", broker="kafka://127.0.0.1:9", autodiscover=False,
                    store="memory://", datadir=tmp_path_factory.mktemp("faust"))
    table = app.Table("t", default=None)
    kafka = asyncio.run(_aiokafka_consumer())
    return {
        CONSUMER: faust.transport.consumer.Consumer,
        CONSUMER_INSTANCE: app.consumer,
        DRIVER_CONSUMER: driver.Consumer,
        CONSUMER_THREAD: driver.AIOKafkaConsumerThread,
        DRIVER_PRODUCER: driver.Producer,
        STREAM: faust.streams.Stream,
        STREAM_INSTANCE: app.stream(app.channel()),
        STREAMS_MODULE: faust.streams,
        ROCKSDB_STORE: rocksdb.Store,
        ROCKSDB_STORE_INSTANCE: rocksdb.Store("rocksdb://", app, table),
        WEB_INSTANCE: app.web,
        APP_RUNNER_INSTANCE: app.web._runner,
        AIOKAFKA_CONSUMER_INSTANCE: kafka,
        AIOKAFKA_CLIENT_INSTANCE: kafka._client,
    }


def _row_id(row: tuple[str, str, Any]) -> str:
    return f"{row[0]}.{row[1]}"


@pytest.mark.parametrize("row", PRIVATE_NAMES, ids=_row_id)
def test_private_name_is_as_vigil_uses_it(row: tuple[str, str, Any],
                                          owners: dict[str, Any]) -> None:
    owner_name, name, expected = row
    owner = owners[owner_name]
    if isinstance(expected, tuple):
        member = inspect.getattr_static(owner, name, None)
        assert callable(member), f"{owner_name}.{name} is gone or no longer a method"
        parameters = tuple(inspect.signature(member).parameters)
        assert parameters == expected, (
            f"{owner_name}.{name} now takes {parameters}, Vigil expects {expected}")
    else:
        # hasattr: set on the instance or given a class default (a bare annotation is not)
        assert hasattr(owner, name), f"{owner_name} no longer has {name}"
        value = getattr(owner, name)
        assert isinstance(value, expected), (
            f"{owner_name}.{name} is now {type(value).__name__}, Vigil expects "
            f"{expected.__name__}")


def _private_names_used() -> dict[str, list[str]]:
    """Each private attribute ``streams/`` reads, writes or defines on something that is not
    its own (``self._x`` and ``cls._x`` count only in subclasses of a faust or aiokafka
    class; ``getattr(x, "_name")`` and its kind count too), with where."""
    used: dict[str, list[str]] = {}
    for path in sorted((ROOT / "streams").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = str(path.relative_to(ROOT))
        foreign = _foreign_aliases(tree)
        subclassed = {id(node) for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                      and any(_root(base) in foreign for base in node.bases)}
        for cls_node, node in _walk_with_class(tree):
            in_subclass = cls_node is not None and id(cls_node) in subclassed
            if isinstance(node, ast.Attribute) and _private(node.attr):
                own = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
                if not own or in_subclass:
                    used.setdefault(node.attr, []).append(f"{where}:{node.lineno}")
            elif (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and in_subclass
                  and _private(node.name)):
                used.setdefault(node.name, []).append(f"{where}:{node.lineno}")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in ("getattr", "hasattr", "setattr")
                  and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
                  and isinstance(node.args[1].value, str) and _private(node.args[1].value)):
                used.setdefault(node.args[1].value, []).append(f"{where}:{node.lineno}")
    return used


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _foreign_aliases(tree: ast.Module) -> set[str]:
    """The names a module binds to faust, aiokafka or mode objects by importing them."""
    roots = ("faust", "aiokafka", "mode")
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names
                      if a.name.split(".")[0] in roots}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in roots:
            names |= {a.asname or a.name for a in node.names}
    return names


def _walk_with_class(tree: ast.AST) -> Iterator[tuple[ast.ClassDef | None, ast.AST]]:
    stack: list[tuple[ast.ClassDef | None, ast.AST]] = [(None, tree)]
    while stack:
        cls_node, node = stack.pop()
        yield cls_node, node
        inner = node if isinstance(node, ast.ClassDef) else cls_node
        stack.extend((inner, child) for child in ast.iter_child_nodes(node))


def test_the_table_lists_every_private_name_streams_uses() -> None:
    used = _private_names_used()
    listed = {name for _, name, _ in PRIVATE_NAMES}
    unlisted = {name: where for name, where in used.items()
                if name not in listed and name not in NOT_FAUST}
    assert not unlisted, ("streams/ uses private names missing from PRIVATE_NAMES (add a "
                          f"row, or to NOT_FAUST if not faust's): {unlisted}")
    stale = sorted(name for name in listed if _private(name) and name not in used)
    assert not stale, f"PRIVATE_NAMES lists names streams/ no longer uses: {stale}"


def _pyproject_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {Requirement(text).name: Requirement(text) for text in project["dependencies"]}


@pytest.mark.parametrize("distribution", sorted(set(DISTRIBUTIONS.values())))
def test_installed_version_is_within_pyproject_range(distribution: str) -> None:
    requirement = _pyproject_requirements()[distribution]
    installed = metadata.version(distribution)
    assert requirement.specifier.contains(installed, prereleases=True), (
        f"{distribution} {installed} is outside pyproject's {requirement.specifier}: "
        "check the private names above against it, then move the range")


def test_every_owner_comes_from_a_checked_distribution(owners: dict[str, Any]) -> None:
    for owner_name, owner in owners.items():
        module = owner if inspect.ismodule(owner) else inspect.getmodule(
            owner if isinstance(owner, type) else type(owner))
        assert module is not None
        top = module.__name__.split(".")[0]
        assert top in DISTRIBUTIONS, (owner_name, module.__name__)
