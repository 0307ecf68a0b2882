"""``vigil audit verify --expect-head``: what a bare hash chain cannot show (a truncated tail,
a forged append with recomputed hashes, a rewritten tail) fails against a head kept
elsewhere, on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from notifiers import metrics
from notifiers.cli import audit as audit_commands
from notifiers.engine import EscalationEngine
from notifiers.escalation_service import CheckpointFile, verify_chain_metric
from notifiers.log.anchor import verify_checkpoint
from notifiers.log.chain import LogItem, extend_chain
from notifiers.log.escalation_log import EscalationLog, open_log
from streams.settings import VigilSettings
from streams.worker.escalation import audit_checkpoint
from tests.support.log_backends import Backend

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def items(n: int, start: int = 0, mark: str = "real") -> list[LogItem]:
    return [LogItem("signal", {"n": i, "by": mark}, T0 + timedelta(minutes=i), f"C{i % 3}",
                    "RXF") for i in range(start, start + n)]


def verify(url: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:
    parser = argparse.ArgumentParser(prog="vigil")
    audit_commands.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["audit", "verify", "--log", url, *extra])
    code = args.func(args)
    return code, json.loads(capsys.readouterr().out.splitlines()[-1])


def anchored(log: EscalationLog, backend: Backend, capsys: pytest.CaptureFixture[str]) -> str:
    """Thirty entries, and the head ``vigil audit verify`` prints for them as SEQ:HASH."""
    log.append_many(items(30))
    code, report = verify(backend.url, capsys)
    assert code == 0 and report["head"]["seq"] == 30
    return f"{report['head']['seq']}:{report['head']['hash']}"


def test_verify_prints_the_head_and_holds_it_while_the_log_grows(
    log: EscalationLog, log_backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    head = anchored(log, log_backend, capsys)
    assert head == f"30:{list(log.entries())[-1].hash}"
    log.append_many(items(5, start=30))
    code, report = verify(log_backend.url, capsys, "--expect-head", head)
    assert (code, report["ok"], report["head"]["seq"]) == (0, True, 35)


def test_a_truncated_tail_fails_the_anchor(
    log: EscalationLog, log_backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    head = anchored(log, log_backend, capsys)
    log_backend.drop_triggers()
    log_backend.sql(f"DELETE FROM {log_backend.table} WHERE seq > 25")
    assert verify(log_backend.url, capsys)[0] == 0  # the chain alone still verifies
    code, report = verify(log_backend.url, capsys, "--expect-head", head)
    assert (code, report["ok"]) == (1, False)
    assert "25 entries, fewer than the expected head seq 30 (truncated)" in report["anchor"]


def test_a_forged_append_with_recomputed_hashes_fails_the_anchor(
    log: EscalationLog, log_backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    # Cut back below the anchor, then append forged entries through the log itself, so
    # every hash is recomputed and the log is longer than before.
    head = anchored(log, log_backend, capsys)
    log_backend.drop_triggers()
    log_backend.sql(f"DELETE FROM {log_backend.table} WHERE seq > 27")
    with open_log(log_backend.url, create=False) as attacker:
        attacker.append_many(items(8, start=27, mark="forged"))
    assert verify(log_backend.url, capsys)[1]["entries"] == 35
    code, report = verify(log_backend.url, capsys, "--expect-head", head)
    assert (code, report["ok"]) == (1, False)
    assert "entry 30 has hash" in report["anchor"]
    assert "rewritten at or before it" in report["anchor"]


def test_a_rewritten_tail_fails_the_anchor(
    log: EscalationLog, log_backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    # Entries 26–30 edited in place, each hash and prev_hash recomputed: same length.
    head = anchored(log, log_backend, capsys)
    kept = list(log.entries())[24]
    forged = extend_chain(kept.seq, kept.hash, items(5, start=25, mark="forged"))
    log_backend.drop_triggers()
    for entry in forged:
        payload = json.dumps(entry.payload, separators=(",", ":"), sort_keys=True)
        log_backend.sql(
            f"UPDATE {log_backend.table} SET payload = '{payload}', hash = '{entry.hash}', "
            f"prev_hash = '{entry.prev_hash}' WHERE seq = {entry.seq}")
    code, report = verify(log_backend.url, capsys)
    assert (code, report["entries"]) == (0, 30)  # the chain alone still verifies
    code, report = verify(log_backend.url, capsys, "--expect-head", head)
    assert (code, report["ok"]) == (1, False)
    assert "entry 30 has hash" in report["anchor"]


def test_a_malformed_head_is_a_usage_error(
    log: EscalationLog, log_backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        verify(log_backend.url, capsys, "--expect-head", "30:nothex")
    assert exited.value.code == 2
    assert "SEQ:HASH" in capsys.readouterr().err


# --- the escalation service publishes its head ------------------------------------------------


def test_the_service_publishes_a_signed_head_a_witness_can_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    key = b"witness-key-" + b"k" * 24
    target = CheckpointFile(tmp_path / "head.json", key)
    with open_log(url) as log:
        log.append_many(items(12))
        engine = EscalationEngine(log, None)
        with caplog.at_level(logging.INFO, logger="vigil.audit"):
            assert verify_chain_metric(engine, target) is True
    record = json.loads(target.path.read_text())
    assert verify_checkpoint(record, key) and not verify_checkpoint(record, b"x" * 36)
    assert not verify_checkpoint({**record, "seq": 11}, key)
    code, report = verify(url, capsys)
    assert code == 0 and report["head"] == {"seq": record["seq"], "hash": record["hash"]}
    assert metrics.AUDIT_HEAD_SEQ._value.get() == 12
    assert f"escalation_log_head seq=12 hash={record['hash']}" in caplog.text
    # What the witness holds is what --expect-head takes.
    held = f"{record['seq']}:{record['hash']}"
    assert verify(url, capsys, "--expect-head", held)[0] == 0


def test_a_checkpoint_file_needs_a_signing_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="audit_checkpoint_key"):
        VigilSettings(audit_checkpoint_file=tmp_path / "head.json")
    with pytest.raises(ValidationError, match="32 characters"):
        VigilSettings(audit_checkpoint_file=tmp_path / "head.json", audit_checkpoint_key="short")
    settings = VigilSettings(audit_checkpoint_file=tmp_path / "head.json",
                             audit_checkpoint_key="k" * 32)
    assert audit_checkpoint(settings) == CheckpointFile(tmp_path / "head.json", b"k" * 32)
