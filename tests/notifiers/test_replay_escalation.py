"""``vigil replay --escalate``: the bundled sample through escalation, end to end on the CLI.

The sample is replayed once per module into a SQLite log; tampering tests work on copies.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from contextlib import closing, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from notifiers.log.escalation_log import LogEntry, open_log
from notifiers.replay_escalation import escalate_replay, escalate_replay_outputs, last_event_time
from notifiers.rules import default_rules_path
from streams.bundled_samples import sample_paths
from streams.cli.main import main
from streams.contract.signal import read_signal
from tests.support.log_backends import Backend, sqlite_backend

REPO = Path(__file__).resolve().parents[2]
DELIVERY = ("notification_attempt", "notification_sent", "dead_letter", "notification_blocked")


@dataclass
class Replayed:
    out: Path
    url: str
    report: dict
    stdout: str


def replay_escalate(out: Path, *extra: str) -> Replayed:
    """``vigil replay SAMPLE --escalate DEFAULT_RULES --out OUT [extra]``, output captured."""
    events, config = sample_paths()
    with redirect_stdout(io.StringIO()) as captured:
        code = main(["replay", str(events), "--config", str(config), "--out", str(out),
                     "--escalate", str(default_rules_path()), *extra])
    stdout = captured.getvalue()
    assert code == 0, stdout
    url = extra[extra.index("--log") + 1] if "--log" in extra else f"sqlite:///{out}/escalation.db"
    return Replayed(out, url, json.loads(stdout.splitlines()[-1]), stdout)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    return replay_escalate(tmp_path_factory.mktemp("replay") / "out")


def entries(url: str) -> list[LogEntry]:
    with closing(open_log(url, create=False)) as log:
        return list(log.entries())


def verify(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(["audit", "verify", "--log", url])
    return code, json.loads(capsys.readouterr().out.splitlines()[-1])


def test_the_sample_escalates_into_a_verified_log_and_an_outbox(
        replayed: Replayed, capsys: pytest.CaptureFixture[str]) -> None:
    summary = replayed.report["escalation"]
    assert summary["signals"] == replayed.report["signals"] > 0
    assert summary["cases_opened"] > 0 and summary["cases_upgraded"] > 0
    assert summary["notifications_written"] == summary["notifications_requested"] > 0
    assert "escalation:" in replayed.stdout and "awaiting sign-off" in replayed.stdout

    # The real entry point, in its own process.
    verified = subprocess.run(
        [sys.executable, "-m", "streams.cli.main", "audit", "verify", "--log", replayed.url],
        capture_output=True, text=True, cwd=REPO, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout.splitlines()[-1])
    assert {k: report[k] for k in ("ok", "entries")} == {
        "ok": True, "entries": summary["log_entries"]}
    assert report["head"]["seq"] == summary["log_entries"]

    log = entries(replayed.url)
    kinds = {e.kind for e in log}
    assert {"rules_version", "signal_received", "route_decision", "case_opened",
            "notification_requested", "notification_sent"} <= kinds
    assert sum(e.kind == "signal_received" for e in log) == summary["signals"]
    # Simulated time: entries carry event time, from the first signal to the last event.
    assert log[0].at.isoformat() == summary["simulated_from"]
    assert max(e.at for e in log) == last_event_time(sample_paths()[0])

    outbox = replayed.out / "outbox"
    notices = sorted((outbox / "lead_clinician").glob("*.json"))
    assert notices and len(list(outbox.glob("*/*.json"))) == summary["notifications_written"]
    assert json.loads(notices[0].read_text())["recipient"] == "lead_clinician"
    # Nobody signed anything off: nothing for the CQC (or MHRA), not even requested.
    assert not (outbox / "cqc").exists() and not (outbox / "mhra").exists()
    assert not [e for e in log if e.kind == "notification_requested"
                and e.payload["recipient"] in ("cqc", "mhra")]

    code, _ = verify(replayed.url, capsys)
    assert code == 0
    assert main(["case", "list", "--status", "active", "--log", replayed.url]) == 0
    listed = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert listed["cases"] == summary["open_cases"] > 0


def test_a_second_run_into_a_fresh_log_decides_identically(
        replayed: Replayed, log_backend: Backend, tmp_path: Path) -> None:
    again = replay_escalate(tmp_path / "again", "--log", log_backend.url,
                            "--outbox", str(tmp_path / "letters"))
    first, second = entries(replayed.url), entries(again.url)
    assert [e.case_id for e in first if e.kind == "case_opened"] == \
        [e.case_id for e in second if e.kind == "case_opened"]
    # Every decision is the same entry, hash for hash, up to the first delivery (whose
    # details, such as file paths, differ between runs).
    decided = next(i for i, e in enumerate(first) if e.kind in DELIVERY)
    assert [e.hash for e in first[:decided]] == [e.hash for e in second[:decided]]
    assert len(list((tmp_path / "letters").glob("*/*.json"))) == \
        again.report["escalation"]["notifications_written"]


def test_escalating_into_a_log_that_holds_the_run_already_adds_nothing_new(
        replayed: Replayed, tmp_path: Path) -> None:
    copy = tmp_path / "escalation.db"
    shutil.copy(replayed.out / "escalation.db", copy)
    signals = [read_signal(line) for line in (replayed.out / "signals.jsonl").open()]
    with closing(open_log(f"sqlite:///{copy}")) as log:
        done = escalate_replay(signals, default_rules_path(), log, tmp_path / "outbox")
        assert log.verify().ok
    assert done.counts["duplicates"] == len(signals)
    assert done.counts["cases_opened"] == done.counts["notifications_written"] == 0


def test_a_malformed_line_of_signals_jsonl_is_rejected_and_logged(replayed: Replayed,
                                                                  tmp_path: Path) -> None:
    lines = (replayed.out / "signals.jsonl").read_text(encoding="utf-8").splitlines()
    out = tmp_path / "out"
    out.mkdir()
    bad = ['{"signal_id": "broken", "level": "loud"}', "{truncated"]
    (out / "signals.jsonl").write_text("\n".join([lines[0], *bad, *lines[1:]]) + "\n")
    done = escalate_replay_outputs(out, default_rules_path())
    assert done.signals == len(lines) + 2 and done.counts["rejected"] == 2
    rejected = [e.payload for e in entries(f"sqlite:///{out / 'escalation.db'}")
                if e.kind == "signal_rejected"]
    assert [p["signal_id"] for p in rejected] == ["broken", None]
    assert done.counts["cases_opened"] == replayed.report["escalation"]["cases_opened"]


# --- tampering, found by vigil audit verify ----------------------------------------------------


def tampered(replayed: Replayed, tmp_path: Path) -> Backend:
    """A copy of the replay's log whose append-only triggers have been dropped."""
    copy = tmp_path / "escalation.db"
    shutil.copy(replayed.out / "escalation.db", copy)
    backend = sqlite_backend(copy)
    backend.drop_triggers()
    return backend


def seq_of_first(replayed: Replayed, kind: str) -> int:
    return next(e.seq for e in entries(replayed.url) if e.kind == kind)


def test_an_edited_entry_is_named(replayed: Replayed, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    seq = seq_of_first(replayed, "case_opened")
    backend = tampered(replayed, tmp_path)
    backend.sql(f"UPDATE escalation_log SET payload = json_set(payload, '$.level', 'none') "
                f"WHERE seq = {seq}")
    assert entries(backend.url)[seq - 1].payload["level"] == "none"  # the edit took
    code, report = verify(backend.url, capsys)
    assert code == 1
    assert report["first_bad_seq"] == seq and f"entry {seq}" in report["reason"]
    assert "edited" in report["reason"]


def test_a_deleted_entry_is_named(replayed: Replayed, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    seq = seq_of_first(replayed, "notification_requested")
    backend = tampered(replayed, tmp_path)
    backend.sql(f"DELETE FROM escalation_log WHERE seq = {seq}")
    code, report = verify(backend.url, capsys)
    assert code == 1
    assert report["first_bad_seq"] == seq and f"entry {seq} is missing" in report["reason"]


def test_reordered_entries_are_named(replayed: Replayed, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    seq = seq_of_first(replayed, "route_decision")  # swap it with the signal after it
    backend = tampered(replayed, tmp_path)
    for statement in (f"UPDATE escalation_log SET seq = 1000000 WHERE seq = {seq}",
                      f"UPDATE escalation_log SET seq = {seq} WHERE seq = {seq + 1}",
                      f"UPDATE escalation_log SET seq = {seq + 1} WHERE seq = 1000000"):
        backend.sql(statement)
    code, report = verify(backend.url, capsys)
    assert code == 1
    assert report["first_bad_seq"] == seq and f"entry {seq}" in report["reason"]
