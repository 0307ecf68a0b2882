"""The escalation log: the same behaviour on SQLite and PostgreSQL, tampering found, CLI."""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import multiprocessing
import os
import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from notifiers.cli import audit as audit_commands
from notifiers.log import postgres as log_postgres
from notifiers.log import sqlite as log_sqlite
from notifiers.log.chain import GENESIS_HASH, LogEntry, verify_chain
from notifiers.log.escalation_log import EscalationLog, LogItem, StaleHead, open_log
from tests.support import postgres
from tests.support.log_backends import Backend, fresh_backend, postgres_backend, sqlite_backend

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def fill(log: EscalationLog, n: int) -> list[LogEntry]:
    """``n`` entries over three cases and two providers, one minute apart."""
    return log.append_many(
        [
            ("signal", {"n": i, "observed": i % 7, "expected": 2.5}, T0 + timedelta(minutes=i),
             f"C{i % 3}", ("RXF", "RR8")[i % 2])
            for i in range(n)
        ]
    )


# --- appending and reading -------------------------------------------------------------------


def test_backends_implement_the_protocol(log: EscalationLog) -> None:
    assert isinstance(log, EscalationLog)


def test_append_numbers_and_chains_entries(log: EscalationLog) -> None:
    first = log.append("signal", {"level": "alarm"}, at=T0, entity_id="RXF")
    second = log.append("case_opened", {"stage": 1}, at=T0, case_id="C1", entity_id="RXF")
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert list(log.entries()) == [first, second]


def test_append_many_continues_the_chain_in_order(log: EscalationLog) -> None:
    log.append("rules_version", {"version": "2024-05"}, at=T0)
    batch = fill(log, 5)
    assert [e.seq for e in batch] == [2, 3, 4, 5, 6]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(batch))
    assert log.append_many([]) == []
    assert log.verify().entries == 6


def test_append_many_is_one_transaction(log: EscalationLog) -> None:
    fill(log, 2)
    naive = datetime(2024, 5, 1, 9, 0)
    with pytest.raises(ValueError, match="naive"):
        log.append_many([("route", {}, T0, None, None), ("route", {}, naive, None, None)])
    assert [e.seq for e in log.entries()] == [1, 2]
    assert log.append("route", {}, at=T0).seq == 3


def test_payload_and_time_are_stored_in_canonical_form(log: EscalationLog) -> None:
    paris = timezone(timedelta(hours=2))
    entry = log.append(
        "deadline",
        {"due": datetime(2024, 5, 8, 17, 0, tzinfo=paris), "stages": (2, 3), "note": "café"},
        at=datetime(2024, 5, 1, 11, 0, 0, 125000, tzinfo=paris),
    )
    assert entry.at == datetime(2024, 5, 1, 9, 0, 0, 125000, tzinfo=UTC)
    assert entry.payload == {"due": "2024-05-08T15:00:00Z", "stages": [2, 3], "note": "café"}
    assert list(log.entries()) == [entry]


@pytest.mark.parametrize(
    ("kind", "payload", "at", "error"),
    [
        ("signal", {"n": 1}, datetime(2024, 5, 1), ValueError),
        ("signal", {"ids": {1, 2}}, T0, TypeError),
        ("signal", {"rate": float("inf")}, T0, ValueError),
        ("", {}, T0, ValueError),
        ("signal", ["not", "a", "dict"], T0, TypeError),
    ],
)
def test_bad_appends_are_refused_and_write_nothing(
    log: EscalationLog, kind: str, payload: object, at: datetime, error: type[Exception]
) -> None:
    with pytest.raises(error):
        log.append(kind, payload, at=at)  # type: ignore[arg-type]
    assert list(log.entries()) == []


def test_entries_filters(log: EscalationLog) -> None:
    fill(log, 12)
    assert [e.seq for e in log.entries(case_id="C1")] == [2, 5, 8, 11]
    assert [e.seq for e in log.entries(entity_id="RR8", since_seq=6)] == [8, 10, 12]
    assert [e.seq for e in log.entries(case_id="C0", entity_id="RXF")] == [1, 7]
    log.append("reminder", {"stage": 8}, at=T0, case_id="C1")
    assert [e.seq for e in log.entries(case_id="C1", kind="reminder")] == [13]
    assert list(log.entries(kind="nothing")) == []


def test_entries_pages_through_long_logs(
    log: EscalationLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_sqlite, "PAGE_SIZE", 3)
    monkeypatch.setattr(log_postgres, "PAGE_SIZE", 3)
    fill(log, 10)
    assert [e.seq for e in log.entries()] == list(range(1, 11))
    assert [e.seq for e in log.entries(case_id="C2")] == [3, 6, 9]
    assert log.verify().entries == 10


def test_reopened_log_continues_the_chain(log_backend: Backend) -> None:
    with closing(open_log(log_backend.url)) as first:
        written = fill(first, 3)
    with closing(open_log(log_backend.url)) as again:
        nxt = again.append("action", {"by": "audit_lead"}, at=T0, case_id="C0")
        assert (nxt.seq, nxt.prev_hash) == (4, written[-1].hash)
        assert again.verify().ok


def test_threads_sharing_one_log_keep_one_chain(log: EscalationLog) -> None:
    def work(worker: int) -> None:
        for i in range(25):
            log.append("notify_attempt", {"worker": worker, "i": i}, at=T0)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = log.verify()
    assert (result.ok, result.entries) == (True, 100)


def _append_from_process(url: str, worker: int, count: int) -> None:
    log = open_log(url)
    try:
        for i in range(count):
            log.append("notify_attempt", {"worker": worker, "i": i}, at=T0, case_id=f"W{worker}")
    finally:
        log.close()


def test_two_processes_append_to_one_unbroken_chain(log_backend: Backend) -> None:
    # Fork, so the children need not re-import this module; no connection is open in the
    # parent yet, and both children race to create the schema as well.
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_append_from_process, args=(log_backend.url, w, 200))
        for w in (1, 2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0]
    with closing(open_log(log_backend.url)) as log:
        result = log.verify()
        assert (result.ok, result.entries) == (True, 400)
        for w in (1, 2):
            mine = [e.payload["i"] for e in log.entries(case_id=f"W{w}")]
            assert mine == list(range(200))


def test_schema_creation_is_idempotent(log_backend: Backend) -> None:
    for _ in range(3):
        with closing(open_log(log_backend.url)) as log:
            log.append("signal", {}, at=T0)
    with closing(open_log(log_backend.url)) as log:
        assert log.verify().entries == 3


def test_opening_without_create_needs_an_existing_log(log_backend: Backend) -> None:
    with pytest.raises((FileNotFoundError, LookupError)):
        open_log(log_backend.url, create=False)
    open_log(log_backend.url).close()
    with closing(open_log(log_backend.url, create=False)) as log:
        assert log.verify().entries == 0


def test_postgres_schema_from_search_path(postgres_schema: str) -> None:
    url = f"{postgres.POSTGRES_URL}?options=-csearch_path%3D{postgres_schema}"
    with closing(open_log(url)) as log:
        log.append("signal", {}, at=T0)
    rows = postgres.execute(f'SELECT count(*) FROM "{postgres_schema}".escalation_log')
    assert rows == [(1,)]


def test_compare_and_append_refuses_a_stale_head(new_log) -> None:  # type: ignore[no-untyped-def]
    log = new_log()
    assert log.append("signal", {}, at=T0, expected_seq=0).seq == 1
    fill(log, 2)
    with pytest.raises(StaleHead) as raised:
        log.append_many([("route", {}, T0, None, None)] * 2, expected_seq=1)
    assert (raised.value.expected_seq, raised.value.head_seq) == (1, 3)
    assert [e.seq for e in log.entries()] == [1, 2, 3]  # nothing of the batch written
    assert [e.seq for e in log.append_many([LogItem("route", {}, T0)], expected_seq=3)] == [4]
    assert log.verify().ok


def test_every_backend_writes_the_same_chain(tmp_path: Path) -> None:
    """One hash implementation: the same appends give byte-identical entries everywhere."""
    paris = timezone(timedelta(hours=2))
    items = [
        ("signal", {"statistic": 4.25, "note": "café", "due": datetime(2024, 5, 8, tzinfo=paris),
                    "limits": (1, 2.5), "details": {"b": None, "a": True}}, T0, None, "RXF"),
        ("case_opened", {"stage": 1}, T0 + timedelta(microseconds=250000), "C1", "RXF"),
    ]
    chains = {}
    for name in ("memory", "sqlite", "postgresql"):
        if name == "memory":
            chains[name] = open_log("memory://").append_many(items)
            continue
        if name == "postgresql" and postgres.unreachable_reason() and not os.environ.get("CI"):
            continue
        with fresh_backend(name, tmp_path) as backend, closing(open_log(backend.url)) as log:
            log.append_many(items)
            chains[name] = list(log.entries())
    assert all(chain == chains["memory"] for chain in chains.values()), chains
    assert chains["memory"][0].payload["due"] == "2024-05-07T22:00:00Z"


def test_memory_url_opens_a_new_empty_log_each_time() -> None:
    log = open_log("memory://")
    log.append("signal", {}, at=T0)
    assert list(open_log("memory://").entries()) == []
    with pytest.raises(LookupError):
        open_log("memory://", create=False)


# --- the database refuses changes ------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    ["UPDATE {table} SET payload = '{{}}' WHERE seq = 2", "DELETE FROM {table} WHERE seq = 3"],
)
def test_update_and_delete_are_refused(
    log: EscalationLog, log_backend: Backend, statement: str
) -> None:
    fill(log, 3)
    with pytest.raises(Exception, match="append-only"):
        log_backend.sql(statement.format(table=log_backend.table))
    assert log.verify().entries == 3


def test_truncate_is_refused_on_postgres(postgres_schema: str) -> None:
    # SQLite has no TRUNCATE; its DELETE without WHERE is refused above.
    backend = postgres_backend(postgres_schema)
    with closing(open_log(backend.url)) as log:
        fill(log, 3)
        with pytest.raises(Exception, match="append-only: TRUNCATE"):
            backend.sql(f"TRUNCATE {backend.table}")
        assert log.verify().entries == 3


@pytest.mark.parametrize(
    "statement",
    [
        # Behind the head, and (SQLite) replacing an entry, which skips DELETE triggers.
        "INSERT {replace} INTO {table} VALUES (2, '2024-05-01T09:00:00Z', 'x', NULL, NULL,"
        " '{{}}', '{genesis}', 'forged')",
        # Beyond the head.
        "INSERT INTO {table} VALUES (9, '2024-05-01T09:00:00Z', 'x', NULL, NULL, '{{}}',"
        " 'not-the-head', 'forged')",
    ],
)
def test_inserts_away_from_the_head_are_refused(
    log: EscalationLog, log_backend: Backend, statement: str
) -> None:
    fill(log, 3)
    replace = "OR REPLACE" if log_backend.name == "sqlite" else ""
    with pytest.raises(Exception, match="only at the head"):
        log_backend.sql(
            statement.format(table=log_backend.table, replace=replace, genesis=GENESIS_HASH)
        )
    assert log.verify().entries == 3


# --- tampering by someone who can drop the triggers ------------------------------------------


@pytest.mark.parametrize(
    ("tamper", "first_bad_seq", "reason"),
    [
        ("UPDATE {table} SET payload = '{{\"n\":999}}' WHERE seq = 17", 17, "edited"),
        ("UPDATE {table} SET kind = 'route' WHERE seq = 17", 17, "edited"),
        ("UPDATE {table} SET case_id = NULL WHERE seq = 17", 17, "edited"),
        ("UPDATE {table} SET entity_id = 'RAJ' WHERE seq = 17", 17, "edited"),
        ("UPDATE {table} SET at = {later} WHERE seq = 17", 17, "edited"),
        ("DELETE FROM {table} WHERE seq = 17", 17, "entry 17 is missing"),
        ("DELETE FROM {table} WHERE seq BETWEEN 17 AND 19", 17, "entries 17–19 are missing"),
        ("DELETE FROM {table} WHERE seq = 1", 1, "entry 1 is missing"),
    ],
)
def test_verify_names_the_first_tampered_entry(
    log: EscalationLog, log_backend: Backend, tamper: str, first_bad_seq: int, reason: str
) -> None:
    fill(log, 30)
    log_backend.drop_triggers()
    later = "'2024-05-02T09:16:00Z'" if log_backend.name == "sqlite" else "at + interval '1 day'"
    log_backend.sql(tamper.format(table=log_backend.table, later=later))
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.entries) == (False, first_bad_seq,
                                                                 first_bad_seq - 1)
    assert reason in result.reason


def test_verify_finds_two_entries_whose_seq_were_swapped(
    log: EscalationLog, log_backend: Backend
) -> None:
    fill(log, 30)
    log_backend.drop_triggers()
    for statement in (
        "UPDATE {table} SET seq = 1000 WHERE seq = 12",
        "UPDATE {table} SET seq = 12 WHERE seq = 20",
        "UPDATE {table} SET seq = 20 WHERE seq = 1000",
    ):
        log_backend.sql(statement.format(table=log_backend.table))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 12)
    assert "stored hash does not match" in result.reason


def test_rewritten_hash_is_caught_at_the_next_entry(
    log: EscalationLog, log_backend: Backend
) -> None:
    # An attacker who edits entry 17 and recomputes its hash breaks the link from 18.
    entries = fill(log, 30)
    log_backend.drop_triggers()
    from notifiers.log.chain import entry_hash

    forged = {**entries[16].fields(), "payload": {"n": 999}}
    new_hash = entry_hash(entries[16].prev_hash, forged)
    log_backend.sql(
        f"UPDATE {log_backend.table} SET payload = '{{\"n\":999}}', hash = '{new_hash}' "
        "WHERE seq = 17"
    )
    result = log.verify()
    assert (result.first_bad_seq, result.entries) == (18, 17)
    assert "prev_hash of entry 18" in result.reason


def test_dropping_the_tail_shows_in_the_head_hash(log: EscalationLog, log_backend: Backend) -> None:
    # Cutting the newest entries leaves a valid shorter chain: only a head hash kept
    # elsewhere reveals it, which is why VerifyResult carries last_hash.
    fill(log, 30)
    recorded_head = log.verify().last_hash
    log_backend.drop_triggers()
    log_backend.sql(f"DELETE FROM {log_backend.table} WHERE seq > 28")
    result = log.verify()
    assert result.ok and result.entries == 28
    assert result.last_hash != recorded_head


def test_unreadable_row_is_reported_not_raised(tmp_path: Path) -> None:
    backend = sqlite_backend(tmp_path / "log.db")
    with closing(open_log(backend.url)) as log:
        fill(log, 5)
        backend.drop_triggers()
        backend.sql("UPDATE escalation_log SET payload = 'garbage' WHERE seq = 4")
        result = log.verify()
    assert (result.ok, result.first_bad_seq, result.entries) == (False, 4, 3)
    assert "cannot be read" in result.reason


# --- vigil audit -----------------------------------------------------------------------------


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="vigil")
    audit_commands.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr().out


def test_cli_verify_reports_an_intact_log(
    log: EscalationLog, log_backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(log, 4)
    code, out = run_cli(["audit", "verify", "--log", log_backend.url], capsys)
    head = {"seq": 4, "hash": list(log.entries())[-1].hash}
    assert (code, json.loads(out.splitlines()[-1])) == (0, {"ok": True, "entries": 4,
                                                            "head": head})


def test_cli_verify_names_the_first_bad_entry(
    log: EscalationLog, log_backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(log, 20)
    log_backend.drop_triggers()
    log_backend.sql(f"DELETE FROM {log_backend.table} WHERE seq = 17")
    code, out = run_cli(["audit", "verify", "--log", log_backend.url], capsys)
    report = json.loads(out.splitlines()[-1])
    assert code == 1
    assert (report["ok"], report["first_bad_seq"]) == (False, 17)
    assert "missing" in report["reason"]


def test_cli_uses_the_environment_and_refuses_a_missing_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIGIL_ESCALATION_LOG", f"sqlite:///{tmp_path / 'absent.db'}")
    code, out = run_cli(["audit", "verify"], capsys)
    assert code == 2
    assert json.loads(out.splitlines()[-1])["ok"] is False
    assert not (tmp_path / "absent.db").exists()


def test_cli_show_prints_one_line_per_entry(
    log: EscalationLog, log_backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(log, 6)
    code, out = run_cli(["audit", "show", "--case", "C1", "--log", log_backend.url], capsys)
    assert code == 0
    assert out.splitlines() == [
        '#2 2024-05-01T09:01:00Z signal case=C1 entity=RR8 {"expected":2.5,"n":1,"observed":1}',
        '#5 2024-05-01T09:04:00Z signal case=C1 entity=RXF {"expected":2.5,"n":4,"observed":4}',
    ]
    code, out = run_cli(["audit", "show", "--entity", "RXF", "--log", log_backend.url], capsys)
    assert [line.split()[0] for line in out.splitlines()] == ["#1", "#3", "#5"]


def test_cli_export_jsonl_can_be_verified_offline(
    log: EscalationLog, log_backend: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    written = fill(log, 8)
    out_file = tmp_path / "export.jsonl"
    code, out = run_cli(
        ["audit", "export", "--format", "jsonl", "--out", str(out_file), "--log", log_backend.url],
        capsys,
    )
    assert code == 0
    assert json.loads(out.splitlines()[-1])["exported"] == 8
    lines = out_file.read_text(encoding="utf-8").splitlines()
    exported = [LogEntry.from_record(json.loads(line)) for line in lines]
    assert exported == written
    assert verify_chain(exported).ok


def test_cli_export_csv_to_stdout(
    log: EscalationLog, log_backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    written = fill(log, 3)
    code, out = run_cli(["audit", "export", "--format", "csv", "--log", log_backend.url], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert [row["hash"] for row in rows] == [e.hash for e in written]
    assert json.loads(rows[0]["payload"]) == written[0].payload
    assert rows[0]["at"] == "2024-05-01T09:00:00Z"
