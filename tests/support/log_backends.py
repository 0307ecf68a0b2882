"""Escalation-log backends for tests: a fresh, empty log on each, plus raw SQL as its owner.

SQLite is a file in the test's temporary folder; PostgreSQL a private schema (see
:mod:`tests.support.postgres`: skipped when the server is unreachable, failed when ``CI`` is
set), dropped afterwards. The in-memory log has no SQL side, so tests that tamper with storage use
:func:`fresh_backend` and tests of behaviour take the ``new_log`` fixture (``conftest.py``).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from notifiers.log import postgres as log_postgres
from tests.support import postgres

STORED = ("sqlite", "postgresql")
"""The backends that store the log (what the acceptance criteria name)."""

ALL = ("memory", *STORED)


@dataclass
class Backend:
    """A log location plus raw SQL access as a database administrator."""

    name: str
    url: str
    table: str
    sql: Callable[[str], None]
    drop_triggers: Callable[[], None]


def sqlite_backend(path: Path) -> Backend:
    def sql(statement: str) -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute(statement)
        finally:
            conn.close()

    def drop_triggers() -> None:
        for trigger in ("no_update", "no_delete", "head_only"):
            sql(f"DROP TRIGGER escalation_log_{trigger}")

    return Backend("sqlite", f"sqlite:///{path}", "escalation_log", sql, drop_triggers)


def postgres_backend(schema: str) -> Backend:
    table = f'"{schema}".escalation_log'

    def drop_triggers() -> None:
        for trigger in log_postgres.TRIGGERS:
            postgres.execute(f"DROP TRIGGER {trigger} ON {table}")

    return Backend("postgresql", postgres.url_with_schema(schema), table, postgres.execute,
                   drop_triggers)


@contextmanager
def fresh_backend(name: str, folder: Path) -> Iterator[Backend]:
    """A location no log has used yet on backend ``name`` (``sqlite`` or ``postgresql``)."""
    if name == "sqlite":
        yield sqlite_backend(folder / f"escalation-{uuid.uuid4().hex[:8]}.db")
    elif name == "postgresql":
        with postgres.temporary_schema() as schema:
            yield postgres_backend(schema)
    else:
        raise ValueError(f"no stored backend {name!r}; one of {STORED}")
