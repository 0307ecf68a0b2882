"""Cases and the engine: opening, upgrade, inhibition, deadlines, actions, sign-off, restart."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from notifiers.adapters.channels import build_notifiers
from notifiers.case_decisions import CaseActionError
from notifiers.cases import CaseStatus
from notifiers.cli import case as case_commands
from notifiers.delivery import Dispatcher
from notifiers.engine import EscalationEngine, UnknownCase
from notifiers.log.escalation_log import EscalationLog, open_log
from notifiers.recipients import embedded_recipients
from notifiers.rules import RulesHolder, default_rules_path, parse_rules
from notifiers.working_days import add_working_days
from streams.contract.signal import read_signal
from tests.support.escalation import (
    ANALYST,
    NewLog,
    at,
    default_rules,
    engine,
    kinds,
    record,
    requested,
    screened_alarm,
    signal,
)
from tests.support.log_backends import Backend

DEVICE = "05012345678900"


def only_case(eng: EscalationEngine):  # type: ignore[no-untyped-def]
    (case,) = eng.cases()
    return case


def test_an_alert_opens_a_case_and_tells_the_provider_without_asking_anything(
        new_log: NewLog) -> None:
    eng, _ = engine(new_log())
    outcome = eng.receive(signal("alert"))
    assert outcome.status == "opened"
    case = eng.case(outcome.case_ids[0])
    assert (case.policy_name, case.level, case.status) == ("provider_alert", "alert",
                                                           CaseStatus.MONITORING)
    notice, copy = requested(eng.log)
    assert (notice["recipient"], copy["recipient"]) == ("lead_clinician", "medical_director")
    assert notice["ods_codes"] == copy["ods_codes"] == ["RXF"]
    assert "PRELIMINARY" in notice["message"]["text"]
    assert "No response is needed." in notice["message"]["text"]
    assert "To: Lead clinician, RXF" in notice["message"]["text"]
    logged = kinds(eng.log.entries(case_id=case.case_id))
    assert logged == ["signal_received", "route_decision", "case_opened", "stage_entered",
                      "notification_requested", "notification_requested", "stage_completed",
                      "case_monitoring"]
    route = next(eng.log.entries(kind="route_decision")).payload
    assert route["routes"] == [{"route": "provider-alert", "policy": "provider_alert",
                                "lane": "main"}]
    assert route["rules_version"] == default_rules().version


def test_messages_carry_aggregates_only(new_log: NewLog) -> None:
    eng, _ = engine(new_log())
    eng.receive(signal("alarm", details={"patients": ["p1"], "providers": ["RXF"]}))
    (notice,) = requested(eng.log)
    flat = json.dumps(notice["message"])
    assert "ev-120" not in flat and "ep-120" not in flat and "patients" not in flat
    assert notice["message"]["body"]["signal"]["observed"] == 9
    assert notice["message"]["fhir"]["resourceType"] == "Communication"


def test_duplicate_signal_ids_are_dropped(new_log: NewLog) -> None:
    eng, _ = engine(new_log())
    first = eng.receive(signal("alert"))
    again = eng.receive(signal("alert"))
    assert again.status == "duplicate"
    assert len(requested(eng.log)) == 2  # lead clinician and Medical Director, once
    assert len(eng.case(first.case_ids[0]).signal_ids) == 1
    assert kinds(eng.log.entries(kind="signal_duplicate")) == ["signal_duplicate"]


def test_a_new_signal_on_an_open_case_is_recorded_on_it(new_log: NewLog) -> None:
    eng, _ = engine(new_log())
    eng.receive(signal("alert", n=120))
    outcome = eng.receive(signal("alert", n=150))
    assert outcome.status == "recorded"
    case = only_case(eng)
    assert len(case.signal_ids) == 2 and case.signal["n"] == 150
    assert len(requested(eng.log)) == 2  # nothing sent again


def test_an_alarm_upgrades_the_alert_case_and_later_alerts_are_inhibited(new_log: NewLog) -> None:
    eng, _ = engine(new_log())
    opened = eng.receive(signal("alert", n=120))
    upgraded = eng.receive(signal("alarm", n=160))
    assert upgraded.status == "upgraded" and upgraded.case_ids == opened.case_ids
    case = only_case(eng)
    assert (case.level, case.policy_name, case.stage.name) == ("alarm", "hqip_alarm",
                                                               "screening")
    inhibited = eng.receive(signal("alert", n=170))
    assert inhibited.status == "inhibited"
    (entry,) = eng.log.entries(kind="inhibit")
    assert entry.case_id == case.case_id and entry.payload["signal_id"]
    assert [r["template"] for r in requested(eng.log)] == ["alert_notice"] * 2 + ["screening"]
    # A better-than-expected chart for the same entity is a different case.
    assert eng.receive(signal("alert", direction="better", n=171)).status == "opened"


def test_continue_opens_a_companion_case_alongside(new_log: NewLog) -> None:
    rules = default_rules().model_dump(mode="json", by_alias=True)
    rules["routes"].insert(0, {"name": "operator-copy", "match": {"level": "alarm"},
                               "policy": "operator_only", "continue": True})
    eng, _ = engine(new_log(), rules=parse_rules(rules))
    outcome = eng.receive(signal("alarm"))
    main, companion = (eng.case(c) for c in outcome.case_ids)
    assert main.policy_name == "hqip_alarm" and main.key.lane == "main"
    assert companion.policy_name == "operator_only"
    assert companion.key.lane == "also:operator-copy"
    assert companion.parent_case_id == main.case_id
    assert {r["recipient"] for r in requested(eng.log)} == {"operator"}  # screening first


def test_policy_is_frozen_onto_the_case(new_log: NewLog, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(default_rules_path().read_text())
    eng, _ = engine(new_log(), rules=RulesHolder(path))
    old = eng.receive(signal("alarm", entity_id="RXF")).case_ids[0]
    data = yaml.safe_load(path.read_text())
    data["policies"]["hqip_alarm"]["stages"][1]["respond_within_working_days"] = 40
    path.write_text(yaml.safe_dump(data))
    assert eng.reload_rules() is None
    new = eng.receive(signal("alarm", entity_id="RAJ")).case_ids[0]
    assert eng.case(old).policy.stages[1].respond_within_working_days == 25
    assert eng.case(new).policy.stages[1].respond_within_working_days == 40
    assert eng.case(old).rules_version != eng.case(new).rules_version
    # and the frozen policy survives a restart
    again = EscalationEngine(eng.log, RulesHolder(path))
    assert again.case(old).policy.stages[1].respond_within_working_days == 25


def test_hqip_timeline_reminders_escalation_and_non_response_on_a_manual_clock(
        new_log: NewLog) -> None:
    eng, clock = engine(new_log(), "2026-12-14 10:00")
    case_id = screened_alarm(eng)
    case = eng.case(case_id)
    # 25 working days across Christmas and New Year.
    assert case.deadline.respond_by == "2027-01-21"
    assert eng.tick(at("2027-01-21 23:59")) == []
    fired = eng.tick(clock.set(at("2027-01-22 00:00")))
    assert kinds(fired) == ["deadline_fired", "notification_requested",
                            "notification_requested", "reminder", "deadline_set"]
    reminder = requested(eng.log, purpose="reminder-1")[0]
    assert reminder["recipient"] == "lead_clinician"
    assert "Friday 29 January 2027" in reminder["message"]["subject"]
    # Still nothing: the case escalates to the audit's review without a response.
    fired = eng.tick(clock.set(at("2027-01-30 00:00")))
    assert "stage_completed" in kinds(fired) and case.stage.name == "review"
    assert case.stage_outcomes[1]["outcome"] == "no_response"
    assert requested(eng.log, stage="review")[0]["recipient"] == "operator"

    clock.set(at("2027-02-10 11:00"))
    eng.act(case_id, "confirm", by="Audit Lead", note="the response does not explain it")
    assert case.status is CaseStatus.AWAITING_SIGNOFF and case.confirmed
    eng.act(case_id, "signoff", by="Dr Sign", at=clock.set(at("2027-03-22 10:00")))
    # 10 working days across Easter 2027: due Wednesday 7 April.
    assert case.deadline.respond_by == "2027-04-07"
    assert case.deadline.respond_by == add_working_days(date(2027, 3, 22), 10).isoformat()
    fired = eng.tick(clock.set(at("2027-04-08 09:00")))
    copied = {r["recipient"] for r in requested(eng.log, purpose="reminder-1",
                                                stage="confirmation")}
    assert copied == {"chief_executive", "lead_clinician", "medical_director", "cqc",
                      "nhs_england"}
    assert case.deadline.respond_by == "2027-04-22"
    fired = eng.tick(clock.set(at("2027-04-23 09:00")))
    non_response = requested(eng.log, purpose="non_response")
    assert {r["recipient"] for r in non_response} == {"cqc", "nhs_england"}
    assert "Signed off by: Dr Sign." in non_response[0]["message"]["text"]
    assert case.status is CaseStatus.MONITORING
    assert case.stage_outcomes[-1]["outcome"] == "non_response_notified"


def test_a_coarse_tick_catches_up_on_the_same_timeline(new_log: NewLog) -> None:
    fine, clock = engine(new_log(), "2026-12-14 10:00")
    coarse, _ = engine(new_log(), "2026-12-14 10:00")
    for eng in (fine, coarse):
        eng.receive(signal("alarm"))
    day = at("2026-12-14 10:00")
    while day < at("2027-03-01 00:00"):
        day = clock.advance(hours=12)
        fine.tick(day)
    coarse.tick(at("2027-03-01 00:00"))
    assert [(e.kind, e.payload.get("due_at")) for e in fine.log.entries(kind="deadline_set")] \
        == [(e.kind, e.payload.get("due_at")) for e in coarse.log.entries(kind="deadline_set")]


def test_response_advances_the_stage_and_actions_record_who_and_when(new_log: NewLog) -> None:
    eng, clock = engine(new_log(), "2027-01-04 09:00")
    case_id = screened_alarm(eng)
    clock.set(at("2027-01-12 15:30"))
    eng.act(case_id, "note", by="Ops A", note="called the lead clinician")
    eng.act(case_id, "respond", by="Ops A", details={"kind": "explanation"},
            note="case-mix explanation received")
    case = eng.case(case_id)
    assert case.stage.name == "review" and case.stage_outcomes[1]["outcome"] == "respond"
    actions = list(eng.log.entries(kind="action"))
    assert [(a.payload["action"], a.payload["by"], a.at) for a in actions][1:] == [
        ("note", "Ops A", at("2027-01-12 15:30")), ("respond", "Ops A", at("2027-01-12 15:30"))]
    assert actions[2].payload["details"] == {"kind": "explanation"}
    with pytest.raises(CaseActionError, match="not awaiting sign-off"):
        eng.act(case_id, "signoff", by="Dr Sign")
    with pytest.raises(CaseActionError, match="unknown action"):
        eng.act(case_id, "escalate", by="Ops A")
    with pytest.raises(UnknownCase):
        eng.act("c-nope", "note", by="Ops A")


def test_confirm_is_only_taken_when_a_decision_is_awaited(new_log: NewLog) -> None:
    eng, _ = engine(new_log())
    case_id = screened_alarm(eng)  # now at the preliminary notice: a response is awaited
    with pytest.raises(CaseActionError, match="confirm-or-withdraw"):
        eng.act(case_id, "confirm", by="Audit Lead")
    assert len(list(eng.log.entries(kind="action"))) == 1  # refused actions log nothing


def test_withdraw_closes_the_case_tells_the_provider_and_frees_the_key(new_log: NewLog) -> None:
    eng, _ = engine(new_log())
    case_id = screened_alarm(eng, n=1)
    eng.act(case_id, "withdraw", by="Audit Lead", note="coding error corrected")
    case = eng.case(case_id)
    assert case.status is CaseStatus.CLOSED and case.closed_reason == "withdrawn"
    withdrawn = requested(eng.log, purpose="withdrawn")
    assert {w["recipient"] for w in withdrawn} == {"lead_clinician", "medical_director"}
    assert "coding error corrected" in withdrawn[0]["message"]["text"]
    with pytest.raises(CaseActionError, match="closed"):
        eng.act(case_id, "note", by="Audit Lead")
    assert eng.case(case_id).key not in eng.book.open_by_key
    # A re-alarm inside the repeat interval is kept on the closed case (tests/notifiers/
    # test_screening.py has the interval itself).
    assert eng.receive(signal("alarm", n=2)).status == "absorbed"


def test_nothing_reaches_cqc_before_signoff(new_log: NewLog, tmp_path: Path) -> None:
    eng, _ = engine(new_log())
    log = eng.log
    dispatcher = Dispatcher(log, build_notifiers(embedded_recipients(tmp_path)),
                            embedded_recipients(tmp_path))
    case_id = screened_alarm(eng)
    eng.act(case_id, "respond", by="Ops A")
    eng.act(case_id, "confirm", by="Audit Lead")
    assert eng.case(case_id).status is CaseStatus.AWAITING_SIGNOFF
    assert requested(log, recipient="cqc") == []
    assert requested(log, stage="confirmation") == []  # the whole stage waits
    asyncio.run(dispatcher.dispatch_pending())
    assert not (tmp_path / "cqc").exists()
    with pytest.raises(CaseActionError, match="four-eyes"):  # who confirmed cannot sign off
        eng.act(case_id, "signoff", by="Audit Lead")
    assert requested(log, recipient="cqc") == []

    eng.act(case_id, "signoff", by="Dr Sign")
    (letter,) = requested(log, recipient="cqc")
    assert letter["signoff"]["by"] == "Dr Sign"
    asyncio.run(dispatcher.dispatch_pending())
    (sent,) = (tmp_path / "cqc").glob("*.txt")
    assert "Signed off by: Dr Sign." in sent.read_text()
    assert "CONFIRMED" in sent.read_text()


def test_device_alarm_reports_to_mhra_after_signoff_then_informs_the_users(new_log: NewLog) -> None:
    eng, _ = engine(new_log())
    outcome = eng.receive(signal("alarm", entity_type="device", entity_id=DEVICE,
                                 provider=None, details={"providers": ["RXF", "RAJ"]}))
    case = eng.case(outcome.case_ids[0])
    assert case.policy_name == "device_alarm" and case.stage.name == "scrutiny_review"
    eng.act(case.case_id, "confirm", by="Implant Scrutiny Committee")
    assert case.status is CaseStatus.AWAITING_SIGNOFF
    assert requested(eng.log, recipient="mhra") == []
    eng.act(case.case_id, "signoff", by="Committee Chair")
    (report,) = requested(eng.log, recipient="mhra")
    assert DEVICE in report["message"]["text"]
    users = requested(eng.log, stage="device_users")
    assert [u["recipient"] for u in users] == ["lead_clinician", "medical_director"]
    assert users[0]["ods_codes"] == ["RXF", "RAJ"]
    assert case.status is CaseStatus.MONITORING


def test_open_cases_and_pending_deadlines_survive_a_restart(new_log: NewLog) -> None:
    eng, _ = engine(new_log(), "2026-12-14 10:00")
    log = eng.log
    case_id = screened_alarm(eng)
    eng.receive(signal("alert", entity_id="RAJ"))
    before = {c.case_id: c.to_dict() for c in eng.cases()}

    restarted = EscalationEngine(log, RulesHolder(default_rules_path()))
    assert {c.case_id: c.to_dict() for c in restarted.cases()} == before
    assert restarted.book.seen_signals == eng.book.seen_signals
    assert restarted.receive(signal("alarm")).status == "duplicate"
    # The quiet RAJ alert case resolves first, then the RXF response deadline expires.
    assert restarted.next_timer() == at("2027-01-15 00:00")
    assert kinds(restarted.tick(at("2027-01-21 23:00"))) == ["case_closed"]
    assert restarted.next_timer() == at("2027-01-22 00:00")
    fired = restarted.tick(at("2027-01-22 00:00"))
    assert "reminder" in kinds(fired)
    assert restarted.case(case_id).reminders == 1
    assert kinds(log.entries(kind="rules_version")) == ["rules_version"]  # same rules
    assert log.verify().ok


def test_a_second_writer_is_picked_up(new_log: NewLog) -> None:
    eng, _ = engine(new_log())
    case_id = screened_alarm(eng)
    cli = EscalationEngine(eng.log)  # no rules needed to act
    cli.act(case_id, "respond", by="Ops B")
    assert eng.case(case_id).stage.name == "preliminary_notice"  # not refreshed yet
    eng.tick()
    assert eng.case(case_id).stage.name == "review"
    eng.receive(signal("alert", entity_id="RAJ"))
    assert eng.book.last_seq == max(e.seq for e in eng.log.entries())


def test_quiet_cases_resolve_and_new_signals_hold_them_open(new_log: NewLog) -> None:
    eng, clock = engine(new_log(), "2027-01-04 09:00")
    case_id = eng.receive(signal("alert", n=1)).case_ids[0]
    clock.set(at("2027-01-25 09:00"))
    eng.receive(signal("alert", n=2))
    eng.tick(at("2027-02-02 00:00"))  # 20 working days after the first, not the second
    assert eng.case(case_id).status is CaseStatus.MONITORING
    eng.tick(at("2027-02-23 00:00"))
    assert eng.case(case_id).status is CaseStatus.CLOSED
    assert eng.case(case_id).closed_reason == "resolved"
    assert eng.receive(signal("alert", n=3)).status == "absorbed"  # the repeat interval


def test_bad_signals_are_rejected_as_values_and_logged(new_log: NewLog) -> None:
    eng, _ = engine(new_log())
    bad = record("alert")
    del bad["entity_id"]
    outcome = eng.receive(read_signal(bad))
    assert outcome.status == "rejected" and "entity_id" in (outcome.reason or "")
    assert eng.receive(read_signal(record("loud"))).status == "rejected"
    assert eng.receive(read_signal(b"{not json")).status == "rejected"
    rejected = list(eng.log.entries(kind="signal_rejected"))
    assert kinds(rejected) == ["signal_rejected"] * 3
    assert rejected[1].payload["signal_id"] == record("loud")["signal_id"]
    assert "level" in rejected[1].payload["reason"] and "loud" not in rejected[1].payload["reason"]
    assert not eng.cases()
    assert eng.receive(signal("alert", statistic=float("nan"))).status == "opened"


def run_case_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vigil")
    case_commands.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


OPS_TOKEN, LEAD_TOKEN, SIGNER_TOKEN, AUDITOR_TOKEN = (
    "7d1e9a4c2f6b8e03a5c7d9f1b3e6a820", "c4a8e2f6b0d3971e5a2c8f4b6d0e3a91",
    "e5b9c3a7f1d4082b6e3a9c5f7b1d4e62", "a1f5c9e3b7d2064f8a3e7c1b5d9f2a46")
CLI_TOKENS = (f"{OPS_TOKEN}:operator:Ops C,{LEAD_TOKEN}:operator:Audit Lead,"
              f"{SIGNER_TOKEN}:operator:Dr Sign,{AUDITOR_TOKEN}:auditor:CQC liaison")


@pytest.fixture
def cli_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """The token table the case API uses, so the CLI knows who each token is."""
    monkeypatch.setenv("VIGIL_API_TOKENS", CLI_TOKENS)
    monkeypatch.delenv("VIGIL_API_TOKEN", raising=False)


def test_case_cli_acts_on_the_log(log_backend: Backend, monkeypatch: pytest.MonkeyPatch,
                                  tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  cli_tokens: None) -> None:
    url = log_backend.url
    with closing(open_log(url)) as log:
        eng, _ = engine(log)
        case_id = screened_alarm(eng)
    assert run_case_cli(["case", "list", "--log", url]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["case_ids"] == [case_id]
    monkeypatch.setenv("VIGIL_API_TOKEN", OPS_TOKEN)
    assert run_case_cli(["case", "respond", case_id, "--kind",
                         "data_corrected", "--log", url]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["stage"] == "review" and "action" in result["logged"]
    assert run_case_cli(["case", "signoff", case_id, "--log", url]) == 1
    assert "not awaiting sign-off" in capsys.readouterr().err
    assert run_case_cli(["case", "note", "c-nope", "--log", url]) == 1
    monkeypatch.setenv("VIGIL_ESCALATION_LOG", url)
    assert run_case_cli(["case", "show", case_id]) == 0
    shown = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert shown["actions"][-1]["by"] == "Ops C"
    # No log given and none at the default place: an error, and no empty log is made.
    monkeypatch.delenv("VIGIL_ESCALATION_LOG")
    monkeypatch.chdir(tmp_path)
    assert run_case_cli(["case", "list"]) == 2
    assert not (tmp_path / "vigil-escalation.db").exists()
    capsys.readouterr()
    # A log that cannot be opened is named without its password.
    assert run_case_cli(["case", "list", "--log",
                         "postgresql://vigil:Pw-9f3c@127.0.0.1:9/none"]) == 2
    err = capsys.readouterr().err
    assert "postgresql://vigil:***@127.0.0.1:9/none" in err and "Pw-9f3c" not in err


def test_case_cli_takes_the_principal_from_a_token_and_enforces_four_eyes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        cli_tokens: None) -> None:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    with closing(open_log(url)) as log:
        eng, _ = engine(log)
        case_id = screened_alarm(eng)
    act = ["--log", url]
    # No token: free text --by no longer names who acts.
    assert run_case_cli(["case", "respond", case_id, "--by", "Ops C", *act]) == 2
    assert "VIGIL_API_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("VIGIL_API_TOKEN", "not-a-known-token")
    assert run_case_cli(["case", "respond", case_id, *act]) == 2
    assert "not one of VIGIL_API_TOKENS" in capsys.readouterr().err
    monkeypatch.setenv("VIGIL_API_TOKEN", AUDITOR_TOKEN)
    assert run_case_cli(["case", "respond", case_id, *act]) == 2
    assert "auditor role" in capsys.readouterr().err
    monkeypatch.setenv("VIGIL_API_TOKEN", OPS_TOKEN)
    assert run_case_cli(["case", "respond", case_id, "--by", "Dr Sign", *act]) == 2
    assert "not the token's principal" in capsys.readouterr().err
    assert run_case_cli(["case", "respond", case_id, "--by", "Ops C", *act]) == 0
    token_file = tmp_path / "lead.token"
    token_file.write_text(LEAD_TOKEN + "\n")
    assert run_case_cli(["case", "confirm", case_id, "--token-file", str(token_file),
                         *act]) == 0
    capsys.readouterr()
    # The confirming lead cannot also sign off: refused (exit 1), nothing released.
    assert run_case_cli(["case", "signoff", case_id, "--token-file", str(token_file),
                         *act]) == 1
    assert "four-eyes" in capsys.readouterr().err
    monkeypatch.setenv("VIGIL_API_TOKEN", SIGNER_TOKEN)
    assert run_case_cli(["case", "signoff", case_id, *act]) == 0
    with closing(open_log(url)) as log:
        actions = [(e.payload["action"], e.payload["by"]) for e in log.entries(kind="action")]
    assert actions == [("confirm", ANALYST), ("respond", "Ops C"), ("confirm", "Audit Lead"),
                       ("signoff", "Dr Sign")]


class WritesFirst:
    """A log through which another writer gets in just before this engine's next append."""

    def __init__(self, log: EscalationLog, other: Callable[[], object]) -> None:
        self.log, self.other = log, other

    def append_many(self, items, *, expected_seq=None):  # type: ignore[no-untyped-def]
        other, self.other = self.other, lambda: None
        other()
        return self.log.append_many(items, expected_seq=expected_seq)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.log, name)


def test_two_workers_receiving_one_signal_at_once_open_one_case(new_log: NewLog) -> None:
    log = new_log()
    b, _ = engine(log)
    a, _ = engine(WritesFirst(log, lambda: b.receive(signal("alarm"))))  # type: ignore[arg-type]
    assert a.receive(signal("alarm")).status == "duplicate"  # decided again, on B's case
    assert len(list(log.entries(kind="case_opened"))) == 1
    assert len(requested(log)) == 1
    assert log.verify().ok


def test_a_decision_stands_when_the_other_writer_touched_something_else(
        new_log: NewLog) -> None:
    log = new_log()
    b, _ = engine(log)

    def elsewhere() -> None:
        b.receive(signal("alarm", entity_id="RAJ"))
        log.append("notification_sent", {"key": "k", "channel": "c", "address": "a"},
                   at=at("2026-12-01 09:00"))

    a, _ = engine(WritesFirst(log, elsewhere))  # type: ignore[arg-type]
    rebuilt = 0
    original = a._rebuild

    def counting() -> None:
        nonlocal rebuilt
        rebuilt += 1
        original()

    a._rebuild = counting  # type: ignore[method-assign]
    opened = a.receive(signal("alarm", entity_id="RXF"))
    assert opened.status == "opened" and rebuilt == 0
    assert a.book.last_seq == max(e.seq for e in log.entries())
    fresh = EscalationEngine(log)
    assert {c.case_id: c.to_dict() for c in a.cases()} == \
        {c.case_id: c.to_dict() for c in fresh.cases()}
    assert {c.key.entity_id for c in a.cases()} == {"RXF", "RAJ"}


def test_an_action_raced_by_another_action_is_decided_again(new_log: NewLog) -> None:
    log = new_log()
    a0, _ = engine(log)
    case_id = a0.receive(signal("alarm")).case_ids[0]
    b = EscalationEngine(log)
    racing = WritesFirst(log, lambda: b.act(case_id, "withdraw", by="Ops B"))
    a = EscalationEngine(racing)  # type: ignore[arg-type]
    with pytest.raises(CaseActionError, match="closed"):
        a.act(case_id, "respond", by="Ops A")  # on the state B left: the case is closed
    assert [e.payload["action"] for e in log.entries(kind="action")] == ["withdraw"]


def test_chain_verification_is_published_as_a_metric(tmp_path):
    from notifiers import metrics
    from notifiers.engine import EscalationEngine
    from notifiers.escalation_service import verify_chain_metric
    from notifiers.log.escalation_log import open_log

    engine = EscalationEngine(open_log(f"sqlite:///{tmp_path / 'log.db'}"), None)
    assert verify_chain_metric(engine) is True
    assert metrics.AUDIT_CHAIN_OK._value.get() == 1
