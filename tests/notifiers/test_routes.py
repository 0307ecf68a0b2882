"""Routes as the processes say (issue 13, item 6): a clinician's alarm goes to the Medical
Director of the clinician's trust and never to CQC; a confirmed provider alarm to CQC with
the Chief Executive; non-response to CQC and NHS England; the provider's roles split in the
rules, the recipients directory and the letters; a device Level 1 to the MHRA after sign-off
with the manufacturer named."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from notifiers.adapters.outbox import OutboxNotifier
from notifiers.cases import CaseStatus
from notifiers.delivery import Dispatcher
from notifiers.recipients import RecipientsConfig, load_recipients
from notifiers.rules import RulesError, parse_rules
from notifiers.rules_explain import explain
from tests.support.escalation import (
    NewLog,
    at,
    default_rules,
    engine,
    requested,
    screened_alarm,
    signal,
)

DEVICE = "05012345678900"
SURGEON = "7000201"
REGULATOR_ROLES = {"cqc", "nhs_england", "mhra"}


def directory(folder: Path) -> RecipientsConfig:
    """Each role of trust RXF at its own address; other trusts at one shared box."""
    out = "out"
    return RecipientsConfig(
        channels={out: {"type": "outbox", "directory": str(folder)}},
        provider={"default": [{"channel": out, "address": "other-trusts"}],
                  "by_ods": {"RXF": {
                      "lead_clinician": [{"channel": out, "address": "rxf-lead"}],
                      "medical_director": [{"channel": out, "address": "rxf-md"}],
                      "chief_executive": [{"channel": out, "address": "rxf-ceo"}]}}},
        cqc=[{"channel": out, "address": "cqc"}],
        nhs_england=[{"channel": out, "address": "nhse"}],
        mhra=[{"channel": out, "address": "mhra"}],
        manufacturer={"by_device": {DEVICE: {"name": "Example Orthopaedics Ltd", "targets": [
            {"channel": out, "address": "maker"}]}}},
        operator=[{"channel": out, "address": "ops"}])


def deliver(eng, folder: Path) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Dispatch everything requested; how many notices each address holds."""
    recipients = directory(folder)
    notifiers = {"out": OutboxNotifier("out", folder)}
    asyncio.run(Dispatcher(eng.log, notifiers, recipients).dispatch_pending())
    return {p.name: len(list(p.glob("*.json"))) for p in folder.iterdir() if p.is_dir()}


def test_a_clinician_alarm_goes_to_the_medical_director_of_the_clinician_s_trust(
        new_log: NewLog, tmp_path: Path) -> None:
    eng, clock = engine(new_log(), "2027-01-04 09:00")
    alarm = {"entity_type": "clinician", "entity_id": SURGEON, "provider": "RXF"}
    case_id = screened_alarm(eng, **alarm)
    case = eng.case(case_id)
    assert (case.policy_name, case.stage.name) == ("clinician_alarm", "clinician_notice")
    (notice,) = requested(eng.log, stage="clinician_notice")
    assert (notice["recipient"], notice["ods_codes"]) == ("medical_director", ["RXF"])
    assert "To: Medical Director, RXF (the clinician's trust)" in notice["message"]["text"]
    assert "not to the Care Quality Commission" in notice["message"]["text"]
    assert deliver(eng, tmp_path) == {"ops": 1, "rxf-md": 1}

    eng.act(case_id, "respond", by="Ops A")
    eng.act(case_id, "confirm", by="Audit Lead")
    assert case.status is CaseStatus.AWAITING_SIGNOFF  # a finding about a named clinician
    eng.act(case_id, "signoff", by="Dr Sign")
    (confirmed,) = requested(eng.log, stage="confirmation", purpose="stage")
    assert confirmed["recipient"] == "medical_director"
    assert confirmed["template"] == "clinician_confirmation"
    # No acknowledgement: the Medical Director is reminded with the Chief Executive copied,
    # then the audit team is told. Never CQC or NHS England, at any step.
    eng.tick(clock.set(at("2027-06-01 09:00")))
    reminded = {r["recipient"] for r in requested(eng.log, purpose="reminder-1",
                                                  stage="confirmation")}
    assert reminded == {"medical_director", "chief_executive"}
    assert {r["recipient"] for r in requested(eng.log, purpose="non_response")} == {"operator"}
    assert case.stage_outcomes[-1]["outcome"] == "non_response_notified"
    assert not {r["recipient"] for r in requested(eng.log)} & REGULATOR_ROLES
    assert deliver(eng, tmp_path)["rxf-ceo"] == 1


def test_clinician_alerts_and_positive_outliers_go_to_the_medical_director(
        new_log: NewLog) -> None:
    eng, _ = engine(new_log())
    clinician = {"entity_type": "clinician", "entity_id": SURGEON, "provider": "RXF"}
    alert = eng.receive(signal("alert", **clinician))
    better = eng.receive(signal("alarm", direction="better", **clinician))
    assert eng.case(alert.case_ids[0]).policy_name == "clinician_alert"
    assert eng.case(better.case_ids[0]).policy_name == "clinician_positive_outlier"
    assert {r["recipient"] for r in requested(eng.log)} == {"medical_director"}


def test_a_confirmed_provider_alarm_goes_to_cqc_and_the_chief_executive(
        new_log: NewLog, tmp_path: Path) -> None:
    eng, _ = engine(new_log())
    case_id = screened_alarm(eng)
    preliminary = {r["recipient"] for r in requested(eng.log, stage="preliminary_notice")}
    assert preliminary == {"lead_clinician", "medical_director"}  # no CEO, no CQC yet
    eng.act(case_id, "respond", by="Ops A")
    eng.act(case_id, "confirm", by="Audit Lead")
    assert requested(eng.log, recipient="cqc") == []
    eng.act(case_id, "signoff", by="Dr Sign")
    confirmation = requested(eng.log, stage="confirmation")
    assert [r["recipient"] for r in confirmation] == [
        "lead_clinician", "medical_director", "chief_executive", "cqc"]
    ceo = confirmation[2]["message"]["text"]
    assert "To: Chief Executive, RXF" in ceo and "CONFIRMED" in ceo
    assert deliver(eng, tmp_path) == {"ops": 2, "rxf-lead": 2, "rxf-md": 2, "rxf-ceo": 1,
                                      "cqc": 1}


def test_non_response_goes_to_cqc_and_nhs_england(new_log: NewLog, tmp_path: Path) -> None:
    eng, clock = engine(new_log(), "2027-01-04 09:00")
    case_id = screened_alarm(eng)
    eng.act(case_id, "respond", by="Ops A")
    eng.act(case_id, "confirm", by="Audit Lead")
    eng.act(case_id, "signoff", by="Dr Sign")
    eng.tick(clock.set(at("2027-06-01 09:00")))
    reminder = {r["recipient"] for r in requested(eng.log, purpose="reminder-1",
                                                  stage="confirmation")}
    assert {"cqc", "nhs_england", "chief_executive"} <= reminder
    non_response = requested(eng.log, purpose="non_response")
    assert {r["recipient"] for r in non_response} == {"cqc", "nhs_england"}
    assert all(r["signoff"]["by"] == "Dr Sign" for r in non_response)
    counts = deliver(eng, tmp_path)
    assert counts["nhse"] == 2 and counts["cqc"] == 3  # reminder copy, notice; + confirmation
    assert "commissioner" not in counts


def test_nhs_england_is_a_regulator_no_letter_reaches_without_sign_off() -> None:
    data = default_rules().model_dump(mode="json", by_alias=True)
    stage = data["policies"]["provider_alert"]["stages"][0]
    stage["notify"] = ["lead_clinician", "nhs_england"]
    stage["signoff_required"] = False
    with pytest.raises(RulesError, match="regulator"):
        parse_rules(data)


def test_a_device_level_1_goes_to_the_mhra_after_signoff_naming_the_manufacturer(
        new_log: NewLog, tmp_path: Path) -> None:
    eng, _ = engine(new_log())
    outcome = eng.receive(signal(
        "alarm", entity_type="device", entity_id=DEVICE, provider=None,
        monitor="ptir_outlier", monitor_kind="ptir_outlier",
        details={"providers": ["RXF", "RAJ"], "manufacturer": "Example Orthopaedics Ltd"}))
    case = eng.case(outcome.case_ids[0])
    assert (case.route, case.policy_name) == ("device-level-1", "device_alarm")
    eng.act(case.case_id, "confirm", by="Implant Scrutiny Committee")
    assert requested(eng.log, recipient="mhra") == []
    eng.act(case.case_id, "signoff", by="Committee Chair")
    (report,) = requested(eng.log, recipient="mhra")
    assert "Manufacturer: Example Orthopaedics Ltd" in report["message"]["text"]
    assert report["device_ids"] == [DEVICE] and report["signoff"]["by"] == "Committee Chair"
    users = requested(eng.log, stage="device_users")
    assert [u["recipient"] for u in users] == ["lead_clinician", "medical_director"]
    counts = deliver(eng, tmp_path)
    assert counts["mhra"] == 1 and counts["rxf-lead"] == 1 and counts["other-trusts"] == 2
    # The manufacturer is a role of the directory, found by device; the MHRA takes it up.
    assert [t.address for t in directory(tmp_path).resolve(
        "manufacturer", device_ids=[DEVICE])] == ["maker"]
    assert directory(tmp_path).manufacturer_name(DEVICE) == "Example Orthopaedics Ltd"


def test_the_recipients_directory_validates_provider_roles_and_device_ids(
        tmp_path: Path) -> None:
    path = tmp_path / "recipients.yaml"
    path.write_text(
        "channels: {out: {type: outbox}}\n"
        "provider:\n"
        "  by_ods:\n"
        "    rxf: [{channel: out}]\n"
        "manufacturer:\n"
        "  by_device: {'5012345678901': {name: Acme, targets: [{channel: out}]}}\n")
    with pytest.raises(RulesError) as error:
        load_recipients(path)
    assert error.value.errors == [
        "recipients.yaml: provider.by_ods: Value error, 'rxf' is not an ODS code (3 to 6 "
        "uppercase letters or digits)",
        "recipients.yaml: manufacturer.by_device: Value error, GTIN fails the GS1 check digit"]
    path.write_text(
        "channels: {out: {type: outbox}}\n"
        "provider:\n"
        "  by_ods: {RAJ: {lead_clinician: [{channel: out}], finance_director: [{channel: out}]}}\n")
    with pytest.raises(RulesError) as error:
        load_recipients(path)
    assert any("RAJ" in e and "finance_director" in e and "Extra inputs are not permitted" in e
               for e in error.value.errors)
    path.write_text(
        "channels: {out: {type: outbox}}\n"
        "provider:\n"
        "  by_ods: {RAJ: {medical_director: [{channel: out, address: raj-md}]}}\n"
        "manufacturer: {by_device: {'5012345678900': {name: Acme}}}\n")
    config = load_recipients(path)
    assert [t.address for t in config.resolve("medical_director", ["RAJ01"])] == ["raj-md"]
    assert config.resolve("lead_clinician", ["RAJ"]) == []  # no target: dead-lettered
    assert config.manufacturer_name("05012345678900") == "Acme"  # GTIN-13 held padded


def test_rules_explain_names_each_role() -> None:
    text = explain(default_rules())
    assert ("| 4. confirmation | the lead clinician, the Medical Director, the Chief "
            "Executive, CQC |") in text
    assert "non-response notified to CQC, NHS England" in text
    assert "| clinician-alarm | entity type = clinician and level = alarm" in text
    assert "of the clinician's trust (the signal's provider)" in text
