"""Fixtures shared across test modules: the embedded broker, PostgreSQL, escalation logs on
every backend, and the synthetic registry's replay. Helpers that are not fixtures live in
:mod:`tests.support`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

# The synthetic streams the tests replay are dated from 2026-01-01 on and run years ahead:
# fix the contract's "now" (streams.contract.events.window_from_environment) far enough
# out that they stay plausible whatever the wall clock, here and in the processes the
# tests start. Tests of the window itself pass their own.
os.environ.setdefault("VIGIL_EVENT_TIME_NOW", "2100-01-01T00:00:00+00:00")

from notifiers.log.escalation_log import EscalationLog, open_log
from streams.kafka.embedded_broker import EmbeddedBroker
from tests.support import log_backends, postgres

LONGEST_FIRST = ("tests/integration/test_demo.py", "tests/integration/test_worker_order.py",
                 "tests/integration/test_worker.py", "tests/streams/test_demo_noise.py",
                 "tests/integration/test_dashboard_browser.py")
"""The modules that take longest (a minute or more each on two cores), in that order."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the longest tests first, then the other integration tests, then the rest: the
    suite runs on every core (pytest-xdist hands tests out in this order), and a long test
    handed out last would leave the other processes idle while it runs alone."""

    def rank(item: pytest.Item) -> tuple[int, int]:
        path = item.nodeid.split("::", 1)[0]
        if path in LONGEST_FIRST:
            return 0, LONGEST_FIRST.index(path)
        return (1 if item.get_closest_marker("integration") else 2), 0

    items.sort(key=rank)


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """The embedded Kafka-compatible broker, started once for the session on first use;
    each test isolates itself with its own app id and topics (``workers.worker_env``)."""
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A private PostgreSQL schema name, dropped afterwards; skips the test when the server
    is unreachable, fails it when ``CI`` is set (:mod:`tests.support.postgres`)."""
    with postgres.temporary_schema() as schema:
        yield schema


@pytest.fixture(scope="session")
def synthetic_replay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded synthetic registry with injected outliers, replayed once per session;
    returns the replay's output folder."""
    from streams.cli.main import main
    from tests.support import synthetic_registry as reg

    folder = tmp_path_factory.mktemp("synthetic-registry")
    events, config = reg.write_registry(folder)
    out = folder / "out"
    assert main(["replay", str(events), "--config", str(config), "--out", str(out)]) == 0
    return out


@pytest.fixture(params=log_backends.STORED)
def log_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[log_backends.Backend]:
    """An empty log location on SQLite and on PostgreSQL, with raw SQL access."""
    with log_backends.fresh_backend(request.param, tmp_path) as backend:
        yield backend


@pytest.fixture(params=log_backends.ALL)
def new_log(request: pytest.FixtureRequest,
            tmp_path: Path) -> Iterator[Callable[[], EscalationLog]]:
    """Make fresh, empty escalation logs on one backend (memory, sqlite, postgresql), each
    closed (and its schema dropped) after the test. Heavier tests narrow the backends with
    ``@pytest.mark.parametrize("new_log", log_backends.STORED, indirect=True)``."""
    with ExitStack() as stack:

        def make() -> EscalationLog:
            if request.param == "memory":
                return open_log("memory://")
            backend = stack.enter_context(log_backends.fresh_backend(request.param, tmp_path))
            log = open_log(backend.url)
            stack.callback(log.close)
            return log

        yield make
