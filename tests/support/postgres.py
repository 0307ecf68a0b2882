"""PostgreSQL for tests: is it there, and a private schema per test.

The server is expected at 127.0.0.1:5432, database ``test``, user ``postgres`` with trust
authentication (``$VIGIL_TEST_POSTGRES`` overrides the URL). Tests that need it call
:func:`require_postgres`: when the server cannot be reached they are skipped, except when
the ``CI`` environment variable is set, where PostgreSQL is mandatory and they fail.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get("VIGIL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _where() -> str:
    parts = urlsplit(POSTGRES_URL)
    return f"{parts.hostname}:{parts.port or 5432}"


@functools.cache
def unreachable_reason() -> str | None:
    """Why PostgreSQL cannot be used, or ``None`` when it can (asked once per session)."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means "not usable here"; the message says which
        return f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return None


def require_postgres() -> None:
    """Skip the calling test when PostgreSQL is unreachable, or fail it when ``CI`` is set."""
    reason = unreachable_reason()
    if reason is None:
        return
    message = f"PostgreSQL not reachable at {_where()}: {reason}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (mandatory in CI)")
    pytest.skip(message)


def execute(statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one statement as the database owner on a fresh autocommit connection."""
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


@contextmanager
def temporary_schema(prefix: str = "vigil_test") -> Iterator[str]:
    """A schema name no other test or run uses; the schema is dropped afterwards."""
    require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def url_with_schema(schema: str) -> str:
    """The test server's URL with Vigil's ``schema`` parameter."""
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}schema={schema}"
