"""Screening before letters, and one case per concern (issue 13, item 5): an alarm is
checked by the registry's analysts before any provider letter; re-alarms are absorbed by
the open case, or by a closed one inside the repeat interval; positive outliers are reported
once per reporting period."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

import pytest

from notifiers.case_decisions import CaseActionError
from notifiers.cases import CaseStatus
from notifiers.log.escalation_log import open_log
from notifiers.rules import RulesError, parse_rules
from notifiers.working_days import working_deadline
from tests.notifiers.test_cases import OPS_TOKEN, cli_tokens, run_case_cli
from tests.support.escalation import (
    ANALYST,
    NewLog,
    at,
    default_rules,
    engine,
    requested,
    signal,
)

__all__ = ["cli_tokens"]  # the fixture, shared with test_cases


def test_an_alarm_opens_in_screening_and_only_a_confirmed_case_tells_the_provider(
        new_log: NewLog) -> None:
    eng, _ = engine(new_log())
    case_id = eng.receive(signal("alarm", observed=9, expected=4.2)).case_ids[0]
    case = eng.case(case_id)
    assert (case.policy_name, case.stage.name, case.status) == ("hqip_alarm", "screening",
                                                                CaseStatus.OPEN)
    (notice,) = requested(eng.log)
    assert (notice["recipient"], notice["template"]) == ("operator", "screening")
    text = notice["message"]["text"]
    assert "Funnel position (the chart's counts, reporting period 2026/27): O/E 2.14" in text
    assert "within the 95% limits" in text and "Data checks:" in text
    assert [r for r in requested(eng.log) if r["recipient"] != "operator"] == []
    assert case.deadline.respond_by == "2026-12-15"  # 10 working days for the checks

    eng.act(case_id, "confirm", by=ANALYST, note="data checked with the registry team")
    assert case.stage.name == "preliminary_notice" and case.screened
    assert not case.confirmed  # still preliminary: the provider has not answered yet
    letter, copy = requested(eng.log, template="preliminary_notice")
    assert (letter["recipient"], copy["recipient"]) == ("lead_clinician", "medical_director")
    assert "PRELIMINARY" in letter["message"]["text"]
    (action,) = eng.log.entries(kind="action")
    assert (action.payload["action"], action.payload["stage"], action.payload["by"]) == (
        "confirm", "screening", ANALYST)
    assert eng.log.verify().ok


def test_screening_out_closes_the_case_with_the_reason_and_writes_to_nobody(
        new_log: NewLog) -> None:
    eng, _ = engine(new_log())
    case_id = eng.receive(signal("alarm")).case_ids[0]
    with pytest.raises(CaseActionError, match="reason"):
        eng.act(case_id, "screen_out", by=ANALYST)
    eng.act(case_id, "screen_out", by=ANALYST, note="duplicate submissions from one site")
    case = eng.case(case_id)
    assert (case.status, case.closed_reason) == (CaseStatus.CLOSED, "screened_out")
    (closed,) = eng.log.entries(kind="case_closed")
    assert closed.payload == {"reason": "screened_out", "by": ANALYST,
                              "note": "duplicate submissions from one site"}
    assert [r["recipient"] for r in requested(eng.log)] == ["operator"]  # screening only
    # Screening out belongs to screening alone.
    other = eng.receive(signal("alarm", entity_id="RAJ")).case_ids[0]
    eng.act(other, "confirm", by=ANALYST)
    with pytest.raises(CaseActionError, match="not in a screening stage"):
        eng.act(other, "screen_out", by=ANALYST, note="too late")


def test_the_case_cli_screens_out_with_a_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        cli_tokens: None) -> None:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    with closing(open_log(url)) as log:
        case_id = engine(log)[0].receive(signal("alarm")).case_ids[0]
    monkeypatch.setenv("VIGIL_API_TOKEN", OPS_TOKEN)
    assert run_case_cli(["case", "screen-out", case_id, "--log", url]) == 1
    assert "needs the reason" in capsys.readouterr().err
    assert run_case_cli(["case", "screen-out", case_id, "--note", "late batch double-counted",
                         "--log", url]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["status"] == "closed" and result["logged"] == ["action", "case_closed"]
    with closing(open_log(url)) as log:
        (closed,) = log.entries(kind="case_closed")
        assert closed.payload["by"] == "Ops C" and log.verify().ok


def test_an_open_case_absorbs_re_alarms_of_the_same_concern(new_log: NewLog) -> None:
    eng, clock = engine(new_log())
    first = eng.receive(signal("alarm", n=100))
    clock.advance(days=3)
    again = eng.receive(signal("alarm", n=140))  # the chart reset and alarmed again
    assert first.status == "opened" and again.status == "recorded"
    assert again.case_ids == first.case_ids and len(eng.cases()) == 1
    (recorded,) = eng.log.entries(kind="signal_recorded")
    assert recorded.case_id == first.case_ids[0]
    assert len(requested(eng.log)) == 1  # the one screening notice, no new letter
    # Another registry's chart for the same entity and metric is another concern.
    other = eng.receive(signal("alarm", n=150, registry="njr"))
    assert other.status == "opened" and other.case_ids != first.case_ids
    assert eng.case(other.case_ids[0]).key.registry == "njr"


def test_a_closed_case_reopens_only_after_the_repeat_interval(new_log: NewLog) -> None:
    eng, clock = engine(new_log(), "2027-01-04 09:00")
    case_id = eng.receive(signal("alarm", n=1)).case_ids[0]
    eng.act(case_id, "screen_out", by=ANALYST, note="coding error, corrected at source")
    closed_at = eng.case(case_id).closed_at
    quiet_until = working_deadline(closed_at, 60)
    assert quiet_until == at("2027-03-31 23:00")  # 60 working days, measured from closure

    clock.set(at("2027-02-15 09:00"))
    inside = eng.receive(signal("alarm", n=2))
    assert (inside.status, inside.case_ids) == ("absorbed", (case_id,))
    (absorbed,) = eng.log.entries(kind="signal_absorbed")
    assert absorbed.case_id == case_id
    assert "repeat interval" in absorbed.payload["reason"]
    assert eng.case(case_id).status is CaseStatus.CLOSED and eng.case(case_id).absorbed == 1
    assert len(requested(eng.log)) == 1 and len(eng.cases()) == 1

    clock.set(quiet_until)
    after = eng.receive(signal("alarm", n=3))
    assert after.status == "opened" and after.case_ids != (case_id,)
    assert eng.case(after.case_ids[0]).stage.name == "screening"


def test_the_repeat_interval_is_a_rules_setting_and_an_alarm_breaks_an_alert_s_quiet(
        new_log: NewLog) -> None:
    data = default_rules().model_dump(mode="json", by_alias=True)
    assert data["cases"]["repeat_interval_working_days"] == 60  # the documented default
    data["cases"]["repeat_interval_working_days"] = 0
    eng, _ = engine(new_log(), "2027-01-04 09:00", rules=parse_rules(data))
    case_id = eng.receive(signal("alarm", n=1)).case_ids[0]
    eng.act(case_id, "screen_out", by=ANALYST, note="data error")
    assert eng.receive(signal("alarm", n=2)).status == "opened"  # 0: off

    eng, _ = engine(new_log(), "2027-01-04 09:00")
    alert = eng.receive(signal("alert", n=1)).case_ids[0]
    eng.tick(at("2027-03-01 00:00"))
    assert eng.case(alert).closed_reason == "resolved"
    assert eng.receive(signal("alert", n=2), at=at("2027-03-02 09:00")).status == "absorbed"
    alarm = eng.receive(signal("alarm", n=3), at=at("2027-03-02 09:00"))
    assert alarm.status == "opened"  # a higher level is a new concern at once


def test_positive_outliers_are_reported_once_per_reporting_period(new_log: NewLog) -> None:
    eng, _ = engine(new_log(), "2026-05-01 09:00")
    better = {"direction": "better", "entity_id": "RHM"}
    case_ids: list[str] = []
    # Re-alarms two months apart through 2026/27, each after the last case had resolved
    # (RHM's replay had ten "learning" cases).
    for day in ("2026-05-01", "2026-07-01", "2026-09-01", "2026-11-02", "2027-01-04",
                "2027-03-01"):
        moment = at(f"{day} 09:00")
        month = moment.month
        eng.tick(moment)
        outcome = eng.receive(signal("alarm", n=month, occurred_at=moment.isoformat(),
                                     **better), at=moment)
        case_ids.extend(outcome.case_ids)
    assert len(set(case_ids)) == 1
    assert eng.case(case_ids[0]).status is CaseStatus.CLOSED
    assert len(requested(eng.log, template="positive_outlier", recipient="lead_clinician")) == 1
    assert eng.case(case_ids[0]).reporting_period == "2026/27"
    assert any("once" in e.payload["reason"] for e in eng.log.entries(kind="signal_absorbed"))
    # The next financial year reports afresh.
    moment = at("2027-04-12 09:00")
    eng.tick(moment)
    fresh = eng.receive(signal("alarm", n=13, occurred_at=moment.isoformat(), **better),
                        at=moment)
    assert fresh.status == "opened"
    assert eng.case(fresh.case_ids[0]).reporting_period == "2027/28"
    assert len(requested(eng.log, template="positive_outlier", recipient="lead_clinician")) == 2


def test_a_screening_stage_is_validated() -> None:
    data = default_rules().model_dump(mode="json", by_alias=True)
    stage = data["policies"]["hqip_alarm"]["stages"][0]
    assert stage["screening"] is True
    stage["notify"] = ["operator", "provider"]
    stage["response_action"] = "respond"
    with pytest.raises(RulesError) as error:
        parse_rules(data, "rules.yaml")
    assert error.value.errors == [
        "rules.yaml: policies.hqip_alarm.stages[0].screening: a screening stage expects a "
        "response with response_action confirm",
        "rules.yaml: policies.hqip_alarm.stages[0].screening: a screening stage writes to "
        "the operator only (nobody outside before the data are checked)",
    ]
