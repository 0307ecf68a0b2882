"""The escalation log: an append-only, tamper-evident record of every escalation fact.

Every signal received, route taken, notification attempted, deadline passed and human
action is appended as a :class:`LogEntry` to one hash chain (see :mod:`notifiers.log.chain`).
The database refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL) with triggers, accepts
inserts only at the head of the chain, and serialises appends so several worker processes
share one chain without forking it. :meth:`EscalationLog.verify` walks the chain and names the
first entry that was edited, deleted or moved by someone who got past the triggers.

Backends, chosen by URL in :func:`open_log`:

* ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` (SQLAlchemy's spelling),
  ``sqlite://:memory:`` — :class:`notifiers.log.sqlite.SqliteEscalationLog`, the default;
  one host, any number of processes.
* ``postgresql://user@host:5432/db`` with an optional ``?schema=name`` (or libpq's
  ``options=-csearch_path=name``) — :class:`notifiers.log.postgres.PostgresEscalationLog`,
  for workers on several hosts.
* ``memory://`` — :class:`notifiers.log.memory.MemoryEscalationLog`, a new empty log held in
  the process (tests, benchmarks, demos); gone when it is closed.

Every backend takes an optional ``expected_seq`` on ``append``/``append_many``: the append
happens only if the head of the chain is still that entry, else :class:`StaleHead` is raised
and nothing is written. The escalation engine uses it so that two workers deciding on the
same case at once cannot both act on what they last saw.

This module is where to import the log's types from: :class:`EscalationLog` (the Protocol,
defined in :mod:`notifiers.log.base` so that the backends need not import this module),
:class:`LogEntry`, :class:`LogItem`, :class:`VerifyResult` and :class:`StaleHead` (defined in
:mod:`notifiers.log.chain`, which holds the hash chain and the JSON rules behind it).

Payloads hold aggregates only (counts, rates, limits, recipients' roles): never a patient
identifier, and the log itself writes nothing to application logs.

Examples
--------
>>> from datetime import UTC, datetime
>>> log = open_log("sqlite://:memory:")
>>> t = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
>>> log.append("signal", {"level": "alarm", "observed": 9}, at=t, entity_id="RXF").seq
1
>>> [e.seq for e in log.append_many([("case_opened", {"stage": 1}, t, "C1", "RXF"),
...                                  ("route", {"to": "audit_team"}, t, "C1", "RXF")])]
[2, 3]
>>> [(e.seq, e.kind) for e in log.entries(case_id="C1")]
[(2, 'case_opened'), (3, 'route')]
>>> log.verify().to_dict()
{'ok': True, 'entries': 3}
>>> log.close()
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from notifiers.log.base import EscalationLog
from notifiers.log.chain import LogEntry, LogItem, StaleHead, VerifyResult

__all__ = [
    "DEFAULT_LOG_URL",
    "EscalationLog",
    "LogEntry",
    "LogItem",
    "StaleHead",
    "VerifyResult",
    "open_log",
]

DEFAULT_LOG_URL = "sqlite:///vigil-escalation.db"


def open_log(url: str, *, create: bool = True) -> EscalationLog:
    """Open the escalation log at ``url``, creating its table and triggers if missing.

    With ``create=False`` the log must already exist (``FileNotFoundError`` or
    ``LookupError`` otherwise) and nothing is written: what an auditor's read-only tool wants,
    so that a mistyped path is an error rather than an empty, "intact" log.

    >>> open_log("mysql://db")
    Traceback (most recent call last):
    ...
    ValueError: unsupported escalation log URL 'mysql://db': use sqlite://, postgresql:// or memory://
    """
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        if not create:
            raise LookupError("a memory:// log exists only in the process that created it")
        from notifiers.log.memory import MemoryEscalationLog

        return MemoryEscalationLog()
    if scheme == "sqlite":
        from notifiers.log.sqlite import SqliteEscalationLog

        return SqliteEscalationLog(sqlite_path(url), create=create)
    if scheme in ("postgresql", "postgres"):
        from notifiers.log.postgres import PostgresEscalationLog

        conninfo, schema = split_schema(url)
        return PostgresEscalationLog(conninfo, schema=schema, create=create)
    raise ValueError(
        f"unsupported escalation log URL {url!r}: use sqlite://, postgresql:// or memory://"
    )


def sqlite_path(url: str) -> str:
    """The file path in a ``sqlite:`` URL (SQLAlchemy's convention).

    >>> sqlite_path("sqlite:///vigil-escalation.db"), sqlite_path("sqlite:////var/vigil/log.db")
    ('vigil-escalation.db', '/var/vigil/log.db')
    >>> sqlite_path("sqlite://:memory:"), sqlite_path("sqlite:///:memory:"), sqlite_path("sqlite://")
    (':memory:', ':memory:', ':memory:')
    """
    for prefix in ("sqlite:///", "sqlite://"):
        if url.startswith(prefix):
            return url[len(prefix):] or ":memory:"
    raise ValueError(f"not a sqlite URL: {url!r}")


def split_schema(url: str) -> tuple[str, str | None]:
    """Take Vigil's ``schema`` parameter out of a PostgreSQL URL (libpq does not know it).

    >>> split_schema("postgresql://postgres@127.0.0.1:5432/test?schema=vigil_a&connect_timeout=3")
    ('postgresql://postgres@127.0.0.1:5432/test?connect_timeout=3', 'vigil_a')
    >>> split_schema("postgresql://postgres@127.0.0.1/test")
    ('postgresql://postgres@127.0.0.1/test', None)
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    rest = urlencode([(key, value) for key, value in query if key != "schema"])
    return urlunsplit(parts._replace(query=rest)), (schemas[-1] if schemas else None)
