"""The escalation log in PostgreSQL: for workers on several hosts sharing one chain.

Each append transaction first takes ``pg_advisory_xact_lock(key)``, a lock constant for the
log's table (derived from its schema-qualified name, so logs in different schemas do not
queue behind each other), then reads the head of the chain and inserts. Under READ COMMITTED
the read after the lock sees the previous holder's commit, so appends are strictly serial;
the UNIQUE constraints on ``seq``, ``prev_hash`` and ``hash`` are the second line of defence.

Trigger functions refuse UPDATE, DELETE and TRUNCATE, and refuse an INSERT that is not
exactly the next entry at the head. ``payload`` is stored as ``json`` (not ``jsonb``) so the
canonical text is kept byte for byte.

Driver: psycopg 3.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import psycopg
from psycopg import sql

from notifiers.log.base import EscalationLog
from notifiers.log.chain import (
    GENESIS_HASH,
    LogEntry,
    LogItem,
    canonical_json,
    check_head,
    extend_chain,
    paged_entries,
)

TABLE = "escalation_log"
PAGE_SIZE = 1000
TRIGGERS = (f"{TABLE}_no_update_delete", f"{TABLE}_no_truncate", f"{TABLE}_head_only")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    seq       bigint PRIMARY KEY CHECK (seq >= 1),
    at        timestamptz NOT NULL,
    kind      text NOT NULL,
    case_id   text,
    entity_id text,
    payload   json NOT NULL,
    prev_hash text NOT NULL UNIQUE,
    hash      text NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS escalation_log_case ON {table} (case_id) WHERE case_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS escalation_log_entity ON {table} (entity_id)
    WHERE entity_id IS NOT NULL;

CREATE OR REPLACE FUNCTION {refuse}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'escalation_log is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE OR REPLACE FUNCTION {head_only}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_seq bigint;
    last_hash text;
BEGIN
    SELECT seq, hash INTO last_seq, last_hash FROM {table} ORDER BY seq DESC LIMIT 1;
    IF NEW.seq IS DISTINCT FROM COALESCE(last_seq, 0) + 1
       OR NEW.prev_hash IS DISTINCT FROM COALESCE(last_hash, {genesis}) THEN
        RAISE EXCEPTION 'escalation_log accepts entries only at the head of the chain'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
"""

_TRIGGERS = {
    TRIGGERS[0]: "BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {refuse}()",
    TRIGGERS[1]: "BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {refuse}()",
    TRIGGERS[2]: "BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {head_only}()",
}

_COLUMNS = "seq, at, kind, case_id, entity_id, payload, prev_hash, hash"


class PostgresEscalationLog(EscalationLog):
    """An :class:`~notifiers.log.escalation_log.EscalationLog` in a PostgreSQL table.

    Parameters
    ----------
    conninfo
        A libpq URL or key=value string, e.g. ``postgresql://vigil@db:5432/vigil``.
    schema
        The schema holding the log's table and trigger functions (created if missing);
        ``None`` uses the first schema on the connection's ``search_path``.
    create
        Create the schema, table, indexes, functions and triggers if missing; with ``False``
        the table must exist and no DDL is run.

    One instance may be shared by threads (calls are serialised); each process opens its own.
    """

    def __init__(self, conninfo: str, *, schema: str | None = None, create: bool = True) -> None:
        self._lock = threading.Lock()
        self._conn = psycopg.connect(conninfo, autocommit=True)
        try:
            self.schema = schema or _first_schema(self._conn)
            self._table = sql.Identifier(self.schema, TABLE)
            digest = hashlib.sha256(f"vigil.escalation_log:{self.schema}".encode()).digest()
            self.lock_key = int.from_bytes(digest[:8], "big", signed=True)
            if create:
                self._create_schema()
            elif not self._table_exists():
                raise LookupError(f"no {TABLE} table in schema {self.schema!r}")
        except BaseException:
            self._conn.close()
            raise

    def _table_exists(self) -> bool:
        name = f"{_quote(self.schema)}.{TABLE}"
        row = self._conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
        return bool(row and row[0])

    def _missing_triggers(self) -> set[str]:
        if not self._table_exists():
            return set(TRIGGERS)
        rows = self._conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND NOT tgisinternal",
            (f"{_quote(self.schema)}.{TABLE}",),
        ).fetchall()
        return set(TRIGGERS) - {name for (name,) in rows}

    def _create_schema(self) -> None:
        # Checked first so that a role without CREATE rights can open an existing log.
        if not self._missing_triggers():
            return
        names = {
            "table": self._table,
            "refuse": sql.Identifier(self.schema, f"{TABLE}_refuse"),
            "head_only": sql.Identifier(self.schema, f"{TABLE}_head_only"),
            "genesis": sql.Literal(GENESIS_HASH),
        }
        with self._conn.transaction():
            # Concurrent CREATE ... IF NOT EXISTS can still collide in the catalogues.
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key,))
            self._conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
            self._conn.execute(sql.SQL(_SCHEMA).format(**names))
            for trigger in self._missing_triggers():
                statement = "CREATE TRIGGER {trigger} " + _TRIGGERS[trigger]
                self._conn.execute(
                    sql.SQL(statement).format(trigger=sql.Identifier(trigger), **names)
                )

    def append_many(
        self, items: Iterable[LogItem], *, expected_seq: int | None = None
    ) -> list[LogEntry]:
        items = list(items)
        if not items:
            return []
        head_query = sql.SQL("SELECT seq, hash FROM {} ORDER BY seq DESC LIMIT 1").format(
            self._table
        )
        insert = sql.SQL(
            "INSERT INTO {} (" + _COLUMNS + ") VALUES (%s, %s, %s, %s, %s, %s::json, %s, %s)"
        ).format(self._table)
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key,))
            head = cur.execute(head_query).fetchone()
            prev_seq, prev_hash = head or (0, GENESIS_HASH)
            check_head(expected_seq, prev_seq)
            written = extend_chain(prev_seq, prev_hash, items)
            cur.executemany(insert, [_row(entry) for entry in written])
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
        where = sql.SQL("").join(
            sql.SQL(" AND {} = %s").format(sql.Identifier(name))
            for name, value in filters
            if value is not None
        )
        values = [value for _, value in filters if value is not None]
        query = sql.SQL(
            "SELECT seq, at, kind, case_id, entity_id, payload::text, prev_hash, hash"
            " FROM {} WHERE seq > %s{} ORDER BY seq LIMIT %s"
        ).format(self._table, where)

        def fetch(last: int) -> list[Any]:
            with self._lock:
                return self._conn.execute(query, (last, *values, PAGE_SIZE)).fetchall()

        return paged_entries(fetch, since_seq, PAGE_SIZE)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _first_schema(conn: psycopg.Connection[Any]) -> str:
    """The schema unqualified names would be created in (``search_path``'s first)."""
    row = conn.execute("SELECT current_schema()").fetchone()
    if row and row[0]:
        return str(row[0])
    # current_schema() is NULL when no schema on the path exists yet: create the first one.
    path = conn.execute("SHOW search_path").fetchone()
    first = str(path[0]).split(",")[0].strip().strip('"') if path else ""
    if not first or first == "$user":
        raise LookupError("search_path names no schema: give ?schema=name in the log URL")
    return first


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _row(entry: LogEntry) -> tuple[Any, ...]:
    return (
        entry.seq,
        entry.at,
        entry.kind,
        entry.case_id,
        entry.entity_id,
        canonical_json(entry.payload).decode("utf-8"),
        entry.prev_hash,
        entry.hash,
    )
