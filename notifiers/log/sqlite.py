"""The escalation log in SQLite: the default backend, one file shared by local processes.

Appends run in ``BEGIN IMMEDIATE`` transactions, which take SQLite's single write lock
before the head of the chain is read, so concurrent writers queue (up to ``timeout``
seconds) instead of forking the chain. Files use WAL journaling so readers never block the
writer; ``synchronous`` stays FULL because an audit record that vanishes in a power cut is
worse than a slower append.

Triggers refuse UPDATE and DELETE, and refuse any INSERT that is not exactly the next entry
at the head (``seq`` one more than the last, ``prev_hash`` its hash). The latter also closes
``INSERT OR REPLACE``, which deletes the old row without firing DELETE triggers.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from notifiers.log.base import EscalationLog
from notifiers.log.chain import (
    GENESIS_HASH,
    LogEntry,
    LogItem,
    canonical_json,
    check_head,
    extend_chain,
    paged_entries,
    rfc3339,
)

TABLE = "escalation_log"
PAGE_SIZE = 1000

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    seq       INTEGER PRIMARY KEY CHECK (seq >= 1),
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    case_id   TEXT,
    entity_id TEXT,
    payload   TEXT NOT NULL,
    prev_hash TEXT NOT NULL UNIQUE,
    hash      TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS {TABLE}_case ON {TABLE} (case_id) WHERE case_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS {TABLE}_entity ON {TABLE} (entity_id) WHERE entity_id IS NOT NULL;
CREATE TRIGGER IF NOT EXISTS {TABLE}_no_update BEFORE UPDATE ON {TABLE}
BEGIN
    SELECT RAISE(ABORT, '{TABLE} is append-only: UPDATE refused');
END;
CREATE TRIGGER IF NOT EXISTS {TABLE}_no_delete BEFORE DELETE ON {TABLE}
BEGIN
    SELECT RAISE(ABORT, '{TABLE} is append-only: DELETE refused');
END;
CREATE TRIGGER IF NOT EXISTS {TABLE}_head_only BEFORE INSERT ON {TABLE}
WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM {TABLE})
  OR NEW.prev_hash IS NOT COALESCE(
        (SELECT hash FROM {TABLE} ORDER BY seq DESC LIMIT 1), '{GENESIS_HASH}')
BEGIN
    SELECT RAISE(ABORT, '{TABLE} accepts entries only at the head of the chain');
END;
"""

_COLUMNS = "seq, at, kind, case_id, entity_id, payload, prev_hash, hash"


class SqliteEscalationLog(EscalationLog):
    """An :class:`~notifiers.log.escalation_log.EscalationLog` in a SQLite file (or in memory).

    Parameters
    ----------
    path
        The database file, or ``":memory:"`` (one connection only: for tests and examples).
    create
        Create the table, indexes and triggers if missing; with ``False`` the file must hold
        the log already and nothing is written to the schema.
    timeout
        Seconds a writer waits for another process's append before giving up.

    One instance may be shared by threads (calls are serialised); each process opens its own.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> log = SqliteEscalationLog(":memory:")
    >>> entry = log.append("deadline", {"stage": 3}, at=datetime(2024, 5, 8, tzinfo=UTC),
    ...                    case_id="C1")
    >>> entry.seq, entry.prev_hash == "0" * 64, log.verify().ok
    (1, True, True)
    >>> log._conn.execute("DELETE FROM escalation_log")
    Traceback (most recent call last):
    ...
    sqlite3.IntegrityError: escalation_log is append-only: DELETE refused
    >>> log.close()
    """

    def __init__(self, path: str | Path, *, create: bool = True, timeout: float = 30.0) -> None:
        path = str(path)
        in_memory = path == ":memory:"
        if not create and not in_memory and not Path(path).is_file():
            raise FileNotFoundError(f"no escalation log at {path}")
        self.path = path
        self._lock = threading.Lock()
        # isolation_level=None: transactions are begun explicitly, so BEGIN IMMEDIATE is ours.
        try:
            self._conn = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.OperationalError as error:
            raise OSError(_unopenable(path, error)) from None
        try:
            if create:
                if not in_memory:
                    _use_wal(self._conn, timeout)
                self._conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
            elif not self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
            ).fetchone():
                raise LookupError(f"{path} holds no {TABLE} table")
        except BaseException:
            self._conn.close()
            raise

    def append_many(
        self, items: Iterable[LogItem], *, expected_seq: int | None = None
    ) -> list[LogEntry]:
        items = list(items)
        if not items:
            return []
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                head = self._conn.execute(
                    f"SELECT seq, hash FROM {TABLE} ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                prev_seq, prev_hash = head or (0, GENESIS_HASH)
                check_head(expected_seq, prev_seq)
                written = extend_chain(prev_seq, prev_hash, items)
                self._conn.executemany(
                    f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [_row(entry) for entry in written],
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return written

    def entries(
        self,
        *,
        case_id: str | None = None,
        entity_id: str | None = None,
        kind: str | None = None,
        since_seq: int = 0,
    ) -> Iterator[LogEntry]:
        filters = [("case_id", case_id), ("entity_id", entity_id), ("kind", kind)]
        where = "".join(f" AND {name} = ?" for name, value in filters if value is not None)
        values = [value for _, value in filters if value is not None]
        query = f"SELECT {_COLUMNS} FROM {TABLE} WHERE seq > ?{where} ORDER BY seq LIMIT ?"

        def fetch(last: int) -> list[Any]:
            with self._lock:
                return self._conn.execute(query, (last, *values, PAGE_SIZE)).fetchall()

        return paged_entries(fetch, since_seq, PAGE_SIZE)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch the file to WAL journaling (it stays so). Switching needs a moment alone with
    the file and SQLite answers "locked" at once rather than waiting, so processes opening a
    new log together retry until ``timeout``."""
    deadline = time.monotonic() + timeout
    while conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _row(entry: LogEntry) -> tuple[Any, ...]:
    return (
        entry.seq,
        rfc3339(entry.at),
        entry.kind,
        entry.case_id,
        entry.entity_id,
        canonical_json(entry.payload).decode("utf-8"),
        entry.prev_hash,
        entry.hash,
    )


def _unopenable(path: str, error: Exception) -> str:
    """Why SQLite cannot open ``path``, naming the absolute place a relative path meant.

    >>> why = _unopenable("no-such-folder/log.db", Exception("unable to open database file"))
    >>> why.startswith("cannot open SQLite escalation log no-such-folder/log.db (/")
    True
    >>> why.endswith("/no-such-folder does not exist")
    True
    """
    where = Path(path).resolve()
    reason = (f"folder {where.parent} does not exist" if not where.parent.is_dir()
              else str(error))
    return f"cannot open SQLite escalation log {path} ({where}): {reason}"
